"""One webhook receiver process for tests/sdk/test_webhooks_redis.py.

``python tests/sdk/webhook_peer.py REDIS_URL`` serves a :class:`WebhookReceiver` (secret from
``$OPENAI_WEBHOOK_SECRET``) on a free 127.0.0.1 port, replay ids in Redis. It prints
``READY <port>`` once it listens, ``EVENT <id>`` for each event handed to the app, and
``STOPPED`` after SIGTERM has drained it.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from realtime_sdk.webhooks import RedisReplayStore, WebhookEvent, WebhookReceiver


def say(line: str) -> None:
    print(line, flush=True)


async def serve(redis_url: str) -> None:
    def on_event(event: WebhookEvent) -> None:
        say(f"EVENT {event.id}")

    receiver = WebhookReceiver(on_event=on_event, replay=RedisReplayStore(redis_url, timeout=1.0))
    runner = web.AppRunner(receiver.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    say(f"READY {runner.addresses[0][1]}")
    await stop.wait()
    await runner.cleanup()
    say("STOPPED")


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
