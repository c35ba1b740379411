"""Take docs/inspector.png: the inspector's page during ``realtime demo``.

    PYTHONPATH=machines:sdk .venv/bin/python scripts/inspector_screenshot.py [OUT.png]

Runs the demo session on the in-memory transport with its deltas paced, serves its inspector,
opens it in Debian's headless Chromium (through playwright, no browser download) and takes the
screenshot while the demo's last answer is streaming, just before it is cancelled.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from realtime_sdk.cli.demo import run_demo
from realtime_sdk.client import RealtimeClient

CHROMIUM = "/usr/lib/chromium/chromium"
OUT = Path(__file__).resolve().parents[1] / "docs" / "inspector.png"


async def main(out: Path) -> int:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 1050})
        shot: list[asyncio.Task[Any]] = []

        async def watch(client: RealtimeClient) -> None:
            inspector = await client.inspect(title="realtime demo")
            await page.goto(inspector.url)
            await page.wait_for_selector("body[data-live='1']", timeout=10_000)

            async def take() -> None:
                # The story is streaming: the response chart is generating its last answer.
                await page.wait_for_function(
                    "document.querySelector('#chat').innerText.includes('Once upon') && "
                    "document.querySelector('#chart-response').dataset.state === 'generating'",
                    timeout=30_000,
                )
                await page.screenshot(path=str(out), full_page=True)
                await inspector.close()

            shot.append(asyncio.ensure_future(take()))

        result = await run_demo(transport="memory", delta_delay_s=0.4, on_client=watch)
        await asyncio.wait_for(shot[0], 30)
        await browser.close()
    print(f"{out} ({'demo passed' if result.ok else 'demo FAILED'})")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)))
