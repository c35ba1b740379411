"""Current models: the defaults name no model with an announced shutdown, a client naming one
gets exactly one ``DeprecationWarning`` (not one per reconnect or ``session.update``), and
``session.reasoning`` passes through the client's configuration to the wire."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from realtime_machines import AssistantCompleted
from realtime_sdk import RealtimeClient, api_key_token_provider
from realtime_sdk.cli.chat_repl import TEXT_SESSION, VOICE_CHAT_SESSION
from realtime_sdk.config import (
    DEFAULTS,
    MODEL_SHUTDOWNS,
    normalize_session,
    shutdown_models,
    warn_model_shutdowns,
)
from realtime_sdk.emulator import Emulator
from tests.sdk.test_client import make_client, wait_for

Runner = Callable[..., Any]

#: The issue's list: model → (shutdown date, replacement).
OLD_SESSION_MODELS = {
    "gpt-realtime": ("2027-01-20", "gpt-realtime-2.1"),
    "gpt-realtime-2025-08-28": ("2027-01-20", "gpt-realtime-2.1"),
    "gpt-realtime-mini": ("2027-01-20", "gpt-realtime-2.1-mini"),
    "gpt-realtime-mini-2025-12-15": ("2027-01-20", "gpt-realtime-2.1-mini"),
    "gpt-audio-mini": ("2027-01-20", "gpt-realtime-2.1-mini"),
    "gpt-audio-mini-2025-12-15": ("2027-01-20", "gpt-realtime-2.1-mini"),
}
OLD_TRANSCRIPTION_MODELS = dict.fromkeys(
    (
        "whisper-1",
        "gpt-4o-mini-transcribe",
        "gpt-4o-mini-transcribe-2025-12-15",
        "gpt-4o-transcribe",
        "gpt-4o-transcribe-diarize",
    ),
    ("2027-02-26", "gpt-realtime-whisper"),
)


def transcription(model: str) -> dict[str, Any]:
    return {"type": "realtime", "audio": {"input": {"transcription": {"model": model}}}}


@contextmanager
def shutdown_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """The model-shutdown warnings raised inside the block (others are left to the harness)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours: list[warnings.WarningMessage] = []
        yield ours
    for warning in caught:
        if "announced shutdown" in str(warning.message):
            ours.append(warning)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def test_the_defaults_name_current_models() -> None:
    session = DEFAULTS["session"]
    assert DEFAULTS["model"] == session["model"] == "gpt-realtime-2.1"
    transcription = session["audio"]["input"]["transcription"]
    assert dict(transcription) == {"model": "gpt-realtime-whisper"}  # no prompt: unsupported
    for old in (*OLD_SESSION_MODELS, *OLD_TRANSCRIPTION_MODELS):
        assert old not in (session["model"], transcription["model"])
    voice_model = VOICE_CHAT_SESSION["audio"]["input"]["transcription"]["model"]
    assert voice_model == "gpt-realtime-whisper"
    assert "model" not in TEXT_SESSION  # the default applies


def test_the_table_is_the_announced_list() -> None:
    table = {name: (s.shutdown, s.replacement, s.field) for name, s in MODEL_SHUTDOWNS.items()}
    assert table == {
        **{name: (*when, "model") for name, when in OLD_SESSION_MODELS.items()},
        **{name: (*when, "transcription") for name, when in OLD_TRANSCRIPTION_MODELS.items()},
    }
    assert shutdown_models(DEFAULTS["session"]) == []
    # A name counts only where it names that kind of model.
    assert shutdown_models({"model": "whisper-1"}) == []
    assert shutdown_models(transcription("gpt-realtime")) == []


def test_warn_model_shutdowns_skips_what_was_warned() -> None:
    warned: set[str] = set()
    session = {**transcription("whisper-1"), "model": "gpt-realtime"}
    with shutdown_warnings() as caught:
        first = warn_model_shutdowns(session, warned=warned)
        again = warn_model_shutdowns(session, warned=warned)
    assert [s.model for s in first] == ["gpt-realtime", "whisper-1"]
    assert again == []
    assert warned == {"gpt-realtime", "whisper-1"}
    [warning] = caught
    assert str(warning.message).startswith(
        "model 'gpt-realtime' has an announced shutdown on 2027-01-20; use 'gpt-realtime-2.1'; "
        "transcription model 'whisper-1' has an announced shutdown on 2027-02-26; "
        "use 'gpt-realtime-whisper' (OpenAI's deprecations: https://"
    )


@pytest.mark.parametrize(("model", "expected"), sorted(OLD_SESSION_MODELS.items()))
def test_a_client_on_an_old_session_model_gets_one_warning(
    model: str, expected: tuple[str, str]
) -> None:
    date, replacement = expected
    with shutdown_warnings() as caught:
        RealtimeClient(model=model, ice_servers=[])
    [warning] = caught
    assert warning.category is DeprecationWarning
    message = str(warning.message)
    assert f"model {model!r} has an announced shutdown on {date}" in message
    assert f"use {replacement!r}" in message
    assert warning.filename == __file__  # it points at the line that built the client


@pytest.mark.parametrize(("model", "expected"), sorted(OLD_TRANSCRIPTION_MODELS.items()))
def test_a_client_on_an_old_transcription_model_gets_one_warning(
    model: str, expected: tuple[str, str]
) -> None:
    date, replacement = expected
    with shutdown_warnings() as caught:
        RealtimeClient(session=transcription(model), ice_servers=[])
    [warning] = caught
    message = str(warning.message)
    assert f"transcription model {model!r} has an announced shutdown on {date}" in message
    assert f"use {replacement!r}" in message


def test_a_beta_shaped_session_is_checked_after_translation() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        RealtimeClient(
            session={
                "model": "gpt-realtime-mini",
                "input_audio_transcription": {"model": "whisper-1"},
            },
            ice_servers=[],
        )
    shutdown = [w for w in caught if "announced shutdown" in str(w.message)]
    [warning] = shutdown  # one warning names both models
    message = str(warning.message)
    assert "model 'gpt-realtime-mini' has an announced shutdown on 2027-01-20" in message
    assert "use 'gpt-realtime-2.1-mini'" in message
    assert "model 'whisper-1' has an announced shutdown on 2027-02-26" in message
    assert any("beta-shaped" in str(w.message) for w in caught)  # the translation's own


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"model": "gpt-realtime-2.1-mini"},
        {"model": "gpt-realtime-2"},
        {"session": transcription("gpt-live-transcribe")},
        {"session": {"type": "realtime", "model": "gpt-realtime-1.5"}},
    ],
)
def test_a_client_on_current_models_gets_no_warning(options: dict[str, Any]) -> None:
    with shutdown_warnings() as caught:
        RealtimeClient(ice_servers=[], **options)
    assert caught == []


def test_a_token_provider_on_an_old_model_warns_once_when_made() -> None:
    with shutdown_warnings() as caught:
        provider = api_key_token_provider("sk-test", session={"model": "gpt-realtime"})
    [warning] = caught
    assert "'gpt-realtime'" in str(warning.message)
    assert repr(provider).startswith("ApiKeyTokenProvider(")


def test_one_warning_per_client_not_per_reconnect_or_session_update(run: Runner) -> None:
    async def scenario() -> None:
        async with Emulator() as emu:
            with shutdown_warnings() as caught:
                client = make_client(emu, model="gpt-realtime")
            assert len(caught) == 1
            with shutdown_warnings() as later:
                await client.connect()
                await client.update_session({"instructions": "Be brief."})
                await client.update_session({"model": "gpt-realtime"})  # named already
                await client.send_text_message("hello")
                await wait_for(client, AssistantCompleted)
                await client.disconnect()
                await client.connect()  # a new call: the same session again
                await client.disconnect()
            assert later == []
            with shutdown_warnings() as other:
                await client.connect()
                patch = transcription("whisper-1")
                await client.update_session(patch)  # another old model: one warning
                await client.update_session(patch)
                await client.disconnect()
            [warning] = other
            assert "'whisper-1'" in str(warning.message)
            assert "'gpt-realtime'" not in str(warning.message)

    run(scenario())


def test_session_reasoning_passes_through_to_the_session_update(run: Runner) -> None:
    reasoning = {"effort": "low"}
    sent: list[dict[str, Any]] = []

    def capture(event: dict[str, Any]) -> None:
        sent.append(event)

    async def scenario() -> None:
        async with Emulator() as emu:
            client = make_client(
                emu,
                session={"type": "realtime", "output_modalities": ["text"], "reasoning": reasoning},
                outgoing_middleware=[capture],
            )
            assert client.options["session"]["reasoning"] == reasoning
            async with client:
                pass
        [update] = [e for e in sent if e["type"] == "session.update"]
        assert update["session"]["reasoning"] == reasoning
        assert update["session"]["model"] == "gpt-realtime-2.1"

    run(scenario())
    assert normalize_session({"reasoning": reasoning})["reasoning"] == reasoning
