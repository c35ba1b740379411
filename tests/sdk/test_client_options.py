"""RealtimeClient options: docs/configuration.md and the constructor agree, the documented
chat and data-channel options work, one ``base_url`` is enough, and bad values fail at
construction with a sentence naming the option."""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from realtime_machines import AssistantCompleted, ChatItem
from realtime_sdk import RealtimeClient, api_key_token_provider
from realtime_sdk.config import DEFAULTS
from realtime_sdk.emulator import Emulator, Say, ScriptedBrain
from realtime_sdk.transports import MemoryTransport
from tests.sdk.test_client import make_client, wait_for

Runner = Callable[..., Any]

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
NAME = re.compile(r"`([a-z_]+)`")


def documented_options() -> set[str]:
    """The backquoted names in the first column of the option / parameter tables."""
    names: set[str] = set()
    in_table = False
    for line in CONFIGURATION.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            in_table = False
        elif cells[0] in ("option", "parameter"):
            in_table = True
        elif in_table and not set(cells[0]) <= {"-", ":"}:
            names.update(NAME.findall(cells[0]))
    return names


def constructor_parameters() -> set[str]:
    return set(inspect.signature(RealtimeClient).parameters)


def test_the_tables_are_found() -> None:
    assert {"base_url", "chat_enabled", "token_provider", "on_error"} <= documented_options()


def test_every_documented_option_is_a_constructor_parameter() -> None:
    missing = sorted(documented_options() - constructor_parameters())
    assert not missing, f"documented but RealtimeClient(...) rejects them: {missing}"


def test_every_constructor_parameter_is_documented() -> None:
    undocumented = sorted(constructor_parameters() - documented_options())
    assert not undocumented, f"add to docs/configuration.md: {undocumented}"


def test_every_default_is_a_constructor_parameter() -> None:
    assert set(DEFAULTS) <= constructor_parameters()


# -- the documented options work --------------------------------------------------------------


def test_the_flat_chat_options_reach_the_chat() -> None:
    def long(text: str) -> bool:
        return len(text) > 3

    def policy(text: str) -> bool:
        return True

    client = RealtimeClient(
        chat_is_meaningful_text=long,
        policy_is_meaningful_text=policy,
        chat_user_add_on_delta=False,
        chat_assistant_add_on_delta=False,
        chat_user_placeholder_on_start=True,
        chat_assistant_placeholder_on_start=True,
        chat_inverted=True,
    )
    options = client.model.chat_options
    assert options.is_meaningful_text is long
    assert options.policy_is_meaningful_text is policy
    assert options.meaningful is long
    assert not options.user_add_on_delta
    assert not options.assistant_add_on_delta
    assert options.user_placeholder_on_start
    assert options.assistant_placeholder_on_start
    assert options.inverted


def test_flat_chat_options_override_chat_options_fields() -> None:
    from realtime_machines import ChatOptions

    given = ChatOptions(user_add_on_delta=False, inverted=True)
    client = RealtimeClient(chat_options=given, chat_inverted=False)
    assert client.model.chat_options == ChatOptions(user_add_on_delta=False, inverted=False)
    assert RealtimeClient(chat_options=given).model.chat_options == given


def test_chat_enabled_false_keeps_no_chat(run: Runner) -> None:
    async def scenario() -> None:
        updates: list[list[ChatItem]] = []
        async with Emulator() as emu:
            client = make_client(emu, chat_enabled=False, on_chat_update=updates.append)
            async with client:
                await client.send_text_message("hello")
                done = await wait_for(client, AssistantCompleted)
                assert done.status == "done"
                assert client.chat == []
            assert updates == []

    run(scenario())


def test_data_channel_label_names_the_channel(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(emu, data_channel_label="custom")
            async with client:  # the emulator serves events on "oai-events" only
                assert client.data_channel.label == "custom"

    run(scenario())


# -- one base_url -----------------------------------------------------------------------------


def test_api_key_and_one_base_url_connect(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            client = RealtimeClient(
                api_key=emu.api_key,
                base_url=emu.base_url,
                ice_servers=[],
                greet_enabled=False,
                session={"type": "realtime", "output_modalities": ["text"]},
            )
            async with client:
                assert client.status == "connected"

    run(scenario())


def test_a_token_provider_without_base_url_uses_the_clients(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            provider = api_key_token_provider(emu.api_key)  # no base_url
            client = RealtimeClient(
                token_provider=provider,
                base_url=emu.base_url,
                ice_servers=[],
                greet_enabled=False,
                timeouts={"token": 5},
            )
            assert client._token_provider.base_url == emu.base_url  # type: ignore[union-attr]
            async with client:
                assert client.status == "connected"
            assert provider.base_url == "https://api.openai.com"  # the user's object is untouched

    run(scenario())


def test_a_token_provider_with_its_own_base_url_keeps_it() -> None:
    provider = api_key_token_provider("sk-test", base_url="http://127.0.0.1:9/tokens")
    client = RealtimeClient(token_provider=provider, base_url="http://127.0.0.1:8")
    assert client._token_provider is provider


def test_api_key_and_token_provider_are_exclusive() -> None:
    with pytest.raises(TypeError, match="pass api_key or token_provider, not both"):
        RealtimeClient(api_key="sk-test", token_provider=lambda: "ek_x")


# -- bad values fail at construction ----------------------------------------------------------


def noop() -> None:
    """Does nothing."""


BAD: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"ice_servers": None}, TypeError, "ice_servers must be a list"),
    ({"ice_servers": "stun:stun.l.google.com"}, TypeError, "ice_servers must be a list"),
    ({"ice_servers": [{"url": "stun:x"}]}, ValueError, "ice_servers[0] needs 'urls'"),
    ({"ice_servers": [{"urls": "http://x"}]}, ValueError, "must start with stun:"),
    ({"ice_servers": ["stun:x"]}, TypeError, "ice_servers[0] must be a mapping"),
    ({"ice_servers": [{"urls": "turn:x", "credential": 5}]}, TypeError, "'credential'"),
    ({"base_url": "api.openai.com"}, ValueError, "base_url must be an http:// or https://"),
    ({"base_url": "ftp://host"}, ValueError, "base_url must be an http:// or https://"),
    ({"base_url": None}, TypeError, "base_url must be a string"),
    ({"model": ""}, ValueError, "model must be a model name"),
    ({"model": 4}, TypeError, "model must be a model name"),
    ({"session": "gpt-realtime"}, TypeError, "session must be a mapping"),
    ({"data_channel_label": ""}, ValueError, "data_channel_label must be a non-empty"),
    ({"greet_enabled": "yes"}, TypeError, "greet_enabled must be True or False"),
    ({"chat_enabled": 1}, TypeError, "chat_enabled must be True or False"),
    ({"greet_modalities": ["video"]}, ValueError, "greet_modalities must be"),
    ({"greet_instructions": 3}, TypeError, "greet_instructions must be a string"),
    ({"chat_is_meaningful_text": "yes"}, TypeError, "chat_is_meaningful_text must be a function"),
    ({"timeouts": {"sdp": 0}}, ValueError, "timeouts['sdp'] must be greater than 0"),
    ({"timeouts": {"tool": 0}}, ValueError, "(timeouts['tool']) must be greater than 0"),
    ({"timeouts": {"sdp": -1}}, ValueError, "timeouts['sdp'] must be greater than 0"),
    ({"timeouts": {"sdp": math.nan}}, ValueError, "timeouts['sdp'] must be a finite number"),
    ({"timeouts": {"sdp": "10"}}, TypeError, "timeouts['sdp'] must be a number"),
    ({"timeouts": {"spd": 10}}, ValueError, "timeouts has an unknown step 'spd'"),
    ({"timeouts": [10]}, TypeError, "timeouts must be a mapping"),
    ({"tool_timeout": 0}, ValueError, "tool_timeout (timeouts['tool']) must be greater than 0"),
    (
        {"liveness_timeout": math.inf},
        ValueError,
        "liveness_timeout (timeouts['liveness']) must be a finite",
    ),
    ({"reconnect": {"attempts": -1}}, ValueError, "reconnect['attempts'] must be a whole"),
    ({"reconnect": {"attempts": True}}, ValueError, "reconnect['attempts'] must be a whole"),
    ({"reconnect": {"tries": 3}}, ValueError, "reconnect has an unknown key 'tries'"),
    ({"reconnect": {"backoff_factor": 0.5}}, ValueError, "reconnect['backoff_factor'] must be"),
    ({"reconnect": {"backoff_initial": -1}}, ValueError, "reconnect['backoff_initial'] must be"),
    ({"reconnect": {"rollover_before_cap": math.nan}}, ValueError, "rollover_before_cap"),
    ({"reconnect": 3}, TypeError, "reconnect must be a mapping"),
    ({"token_provider": "ek_123"}, TypeError, "token_provider must be a function"),
    ({"api_key": ""}, TypeError, "api_key must be a non-empty string"),
    ({"on_error": print, "on_event": 1}, TypeError, "on_event must be a function"),
    ({"incoming_middleware": print}, TypeError, "incoming_middleware must be a list"),
    ({"outgoing_middleware": [1]}, TypeError, "outgoing_middleware[0] must be a function"),
    ({"tool_timeouts": {"slow": 0}}, ValueError, "tool_timeouts['slow'] must be seconds > 0"),
    ({"chat_options": {"inverted": True}}, TypeError, "chat_options must be a ChatOptions"),
    ({"record_limit": -1}, ValueError, "record_limit must be a whole number"),
    ({"record_limit": 2.5}, ValueError, "record_limit must be a whole number"),
    ({"tools": noop}, TypeError, "tools must be a list of functions"),
    ({"tools": [noop, 3]}, TypeError, "tools[1] must be a function"),
    ({"tools": [noop, noop]}, ValueError, "a tool named 'noop' is already registered"),
]


@pytest.mark.parametrize(
    ("options", "error", "sentence"),
    BAD,
    ids=[next(iter(o)) + f"-{i}" for i, (o, _, _) in enumerate(BAD)],
)
def test_bad_values_fail_at_construction(
    options: dict[str, Any], error: type[Exception], sentence: str
) -> None:
    with pytest.raises(error) as raised:
        RealtimeClient(**options)
    assert sentence in str(raised.value)


def test_good_values_pass() -> None:
    client = RealtimeClient(
        base_url="http://127.0.0.1:1234/",
        ice_servers=[{"urls": ["stun:a:1", "turn:b:2"], "username": "u", "credential": "c"}],
        timeouts={"sdp": 0.5},
        reconnect={"attempts": 2, "rollover_before_cap": 0},
        greet_modalities=["audio", "text"],
        tool_timeouts={"slow": 2},
    )
    assert client.options["timeouts"]["sdp"] == 0.5


def test_transport_options_build_the_named_transport(run: Runner) -> None:
    async def scenario() -> None:
        brain = ScriptedBrain([[Say("Hi from the brain.")]])
        client = RealtimeClient(
            token_provider=lambda: "ek_test",
            transport="memory",
            transport_options={"brain": brain},
            greet_enabled=False,
            session={"type": "realtime", "output_modalities": ["text"]},
        )
        async with client:
            answer = await client.ask("Hello!", timeout=10)
        assert answer.text == "Hi from the brain."

    run(scenario())


def test_transport_options_are_checked_with_a_sentence() -> None:
    with pytest.raises(TypeError, match=r"no option pingg.*ping_interval"):
        RealtimeClient(transport="websocket", transport_options={"pingg": 1})
    with pytest.raises(TypeError, match="already has its options"):
        RealtimeClient(transport=MemoryTransport(), transport_options={"brain": None})
    with pytest.raises(TypeError, match="mapping"):
        RealtimeClient(transport="websocket", transport_options=[("ping_interval", 1)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ping_interval"):
        RealtimeClient(transport="websocket", transport_options={"ping_interval": -1})
