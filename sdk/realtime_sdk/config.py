"""Client configuration: ``DEFAULTS``, ``deep_merge``, ``prune``, ``apply_defaults`` and the
beta → GA session translation.

The rules are the seed library's (react-native-openai-realtime ``applyDefaults``), in Python:

* :func:`deep_merge` merges mappings recursively; lists and tuples are **replaced**, never
  merged; the result is made of new ``dict`` / ``list`` objects and the inputs are never
  mutated.
* :func:`prune` drops every value that was *not given* (the :data:`NOT_GIVEN` sentinel — the
  counterpart of JavaScript's ``undefined``) and **keeps** ``None``, which is JSON ``null``:
  ``turn_detection=None`` is sent and turns server VAD off.
* :func:`apply_defaults` is ``prune(deep_merge(DEFAULTS, options))`` plus the seed's greet rule.
* :func:`normalize_session` / :func:`beta_response_params` accept the legacy beta shapes and
  translate them to GA (``reference/protocol.md`` §2.5) with one ``DeprecationWarning``.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = [
    "DEFAULTS",
    "DEFAULT_GREET_INSTRUCTIONS",
    "DEFAULT_GREET_MODALITIES",
    "DEFAULT_ICE_SERVERS",
    "DEFAULT_SESSION",
    "DEFAULT_TIMEOUTS",
    "NOT_GIVEN",
    "NotGiven",
    "apply_defaults",
    "beta_response_params",
    "deep_merge",
    "freeze",
    "normalize_session",
    "prune",
    "thaw",
]


class NotGiven(enum.Enum):
    """The type of :data:`NOT_GIVEN`; usable in annotations (``int | NotGiven``)."""

    NOT_GIVEN = "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven.NOT_GIVEN
"""A value that was not given (JavaScript's ``undefined``). :func:`prune` drops it,
:func:`deep_merge` keeps the base value under it. ``None`` is different: it is JSON ``null``."""


def freeze(value: Any) -> Any:
    """A deep read-only copy: mappings become ``MappingProxyType``, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A deep mutable copy: mappings become ``dict``, lists and tuples become ``list``."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------------
# Defaults
# ---------------------------------------------------------------------------------------------

#: The seed's public STUN servers (Google's), as one RTCIceServer with both URLs. OpenAI's
#: Realtime endpoint is ICE-lite and reachable on its host candidates, so STUN is not needed
#: to reach it; the default only helps behind unusual NATs and it does reveal your reflexive
#: address to Google. Pass ``ice_servers=[]`` for none (the tests and the emulator do: aiortc
#: must stay on 127.0.0.1 there).
DEFAULT_ICE_SERVERS: Final[tuple[Mapping[str, Any], ...]] = freeze(
    [{"urls": ["stun:stun.l.google.com:19302", "stun:stun1.l.google.com:19302"]}]
)

#: The initial ``session.update`` in GA shape. Why these values:
#:
#: * ``output_modalities ["audio"]``: a voice SDK; GA audio always carries its transcript, and
#:   GA refuses ``["audio", "text"]`` (the seed's beta default).
#: * ``audio/pcm`` at 24 kHz: the only PCM rate GA accepts (over WebRTC the wire is Opus anyway).
#: * ``server_vad`` with the seed's tuning (threshold 0.5, 300 ms prefix, **700 ms** silence):
#:   the server's own default silence of 200 ms cuts people off mid-sentence.
#: * ``gpt-4o-mini-transcribe``: GA's cheap, fast transcription model (the seed's
#:   ``whisper-1`` still works: pass it); without transcription the chat has no user text.
#: * voice ``alloy``: the seed's default, available on every realtime model.
DEFAULT_SESSION: Final[Mapping[str, Any]] = freeze(
    {
        "type": "realtime",
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": (
            "You are a helpful, friendly voice assistant. Keep your answers short and "
            "conversational, and ask when something is unclear."
        ),
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 700,
                    "create_response": True,
                    "interrupt_response": True,
                },
                "transcription": {"model": "gpt-4o-mini-transcribe"},
            },
            "output": {"voice": "alloy"},
        },
    }
)

#: Seconds each step may take. Connect steps (Connection chart states): ``token``,
#: ``microphone``, ``peer``, ``offer``, ``sdp`` (the ``POST /v1/realtime/calls``), ``answer``,
#: ``channel``; then ``hangup``, ``tool`` (per tool call), ``response_create`` (a queued
#: ``response.create`` waiting for ``response.created``), ``mode_switch`` (waiting for
#: ``session.updated``) and ``liveness`` (a connected peer that went silent).
DEFAULT_TIMEOUTS: Final[Mapping[str, float]] = freeze(
    {
        "token": 10.0,
        "microphone": 10.0,
        "peer": 5.0,
        "offer": 10.0,
        "sdp": 15.0,
        "answer": 5.0,
        "channel": 15.0,
        "hangup": 5.0,
        "tool": 30.0,
        "response_create": 15.0,
        "mode_switch": 5.0,
        "liveness": 10.0,
    }
)

#: The greeting's ``response.create`` instructions (the seed: "Привет! Я на связи и готов
#: помочь."). In GA these are instructions to the model, so they say what to do.
DEFAULT_GREET_INSTRUCTIONS: Final = "Greet the user in one short sentence and offer your help."

#: The greeting's output modalities. The seed's ``['audio', 'text']`` is the beta shape; in GA
#: audio includes its transcript and ``["audio", "text"]`` is refused.
DEFAULT_GREET_MODALITIES: Final[tuple[str, ...]] = ("audio",)

DEFAULTS: Final[Mapping[str, Any]] = freeze(
    {
        "base_url": "https://api.openai.com",
        "model": "gpt-realtime",
        "session": DEFAULT_SESSION,
        "ice_servers": DEFAULT_ICE_SERVERS,
        "data_channel_label": "oai-events",
        "auto_session_update": True,
        "greet_enabled": True,
        "greet_instructions": DEFAULT_GREET_INSTRUCTIONS,
        "greet_modalities": DEFAULT_GREET_MODALITIES,
        "allow_connect_without_mic": True,
        # Not in the seed's DEFAULTS, but its component and class both default to true.
        "delete_chat_history_on_disconnect": True,
        "chat_enabled": True,
        "chat_inverted": False,
        # None = the default policy: a text is meaningful when it is not blank.
        "chat_is_meaningful_text": None,
        "policy_is_meaningful_text": None,
        "chat_user_add_on_delta": True,
        "chat_user_placeholder_on_start": False,
        "chat_assistant_add_on_delta": True,
        "chat_assistant_placeholder_on_start": False,
        # Reconnect is opt-in: attempts=0 never reconnects. Delay n (1-based) is
        # min(backoff_max, backoff_initial * backoff_factor ** (n - 1)) seconds.
        # rollover_before_cap: seconds before the server's session cap (60 min) to move to a
        # fresh call on purpose; None = never.
        "reconnect": {
            "attempts": 0,
            "backoff_initial": 1.0,
            "backoff_max": 15.0,
            "backoff_factor": 2.0,
            "rollover_before_cap": None,
        },
        "timeouts": DEFAULT_TIMEOUTS,
        # Aliases of timeouts["tool"] and timeouts["liveness"]; apply_defaults keeps them equal.
        "tool_timeout": DEFAULT_TIMEOUTS["tool"],
        "liveness_timeout": DEFAULT_TIMEOUTS["liveness"],
    }
)
"""The client's defaults: a deep read-only mapping (``MappingProxyType`` and tuples all the way
down). :func:`apply_defaults` returns a plain, mutable deep copy merged with your options."""

#: Top-level options that are aliases of an entry of ``timeouts``.
#: The local emulator's and the token server's defaults, kept here so that the ``realtime``
#: command can show them without importing the servers (and aiohttp, aiortc with them).
EMULATOR_PORT: Final = 8765
EMULATOR_API_KEY: Final = "sk-emulator"
TOKEN_SERVER_PORT: Final = 8787

_TIMEOUT_ALIASES: Final = (("tool_timeout", "tool"), ("liveness_timeout", "liveness"))


# ---------------------------------------------------------------------------------------------
# deep_merge / prune / apply_defaults
# ---------------------------------------------------------------------------------------------


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, recursively for mappings.

    Lists and tuples are replaced whole (``{"a": [1, 2]}`` + ``{"a": [3]}`` → ``{"a": [3]}``);
    scalars and ``None`` overwrite; a :data:`NOT_GIVEN` in ``override`` keeps the base value.
    The result is built of new ``dict`` / ``list`` objects (read-only inputs such as
    :data:`DEFAULTS` come out mutable); neither input is mutated.
    """
    merged: dict[str, Any] = {key: thaw(value) for key, value in base.items()}
    for key, value in override.items():
        if value is NOT_GIVEN:
            continue
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = thaw(value)
    return merged


def prune(value: Any) -> Any:
    """A copy of ``value`` without the entries that are :data:`NOT_GIVEN`, recursively.

    ``None`` is kept: it is JSON ``null`` and means something (``turn_detection=None`` turns
    server VAD off, ``transcription=None`` turns transcription off). Mappings come back as
    ``dict``; lists and tuples keep their type, with ``NOT_GIVEN`` items removed and their
    items pruned (so ``NOT_GIVEN`` never reaches the wire). The input is not mutated.
    """
    if isinstance(value, Mapping):
        return {key: prune(item) for key, item in value.items() if item is not NOT_GIVEN}
    if isinstance(value, list):
        return [prune(item) for item in value if item is not NOT_GIVEN]
    if isinstance(value, tuple):
        return tuple(prune(item) for item in value if item is not NOT_GIVEN)
    return value


def _is_given(options: Mapping[str, Any], *path: str) -> bool:
    current: Any = options
    for key in path:
        if not isinstance(current, Mapping) or current.get(key, NOT_GIVEN) is NOT_GIVEN:
            return False
        current = current[key]
    return True


def _ga_modalities(modalities: Any) -> Any:
    """Beta-style modalities to GA ``output_modalities`` (audio includes its transcript)."""
    if isinstance(modalities, list | tuple):
        if "audio" in modalities:
            return ["audio"]
        if "text" in modalities:
            return ["text"]
        return list(modalities)
    return modalities


def apply_defaults(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``prune(deep_merge(DEFAULTS, options))`` plus the seed's rules.

    * **Greet rule** (the seed's ``applyDefaults``): when ``greet_enabled`` is true and
      ``greet_instructions`` is empty after the merge (given as ``None`` or ``""``), both
      ``greet_instructions`` **and** ``greet_modalities`` are reset to the defaults, even if
      ``greet_modalities`` was given. ``greet_modalities`` then comes out in GA form
      (``["audio", "text"]`` → ``["audio"]``).
    * A beta-shaped ``session`` is translated to GA *before* the merge (with a
      ``DeprecationWarning``), so that e.g. a beta ``voice`` wins over the default GA voice.
    * ``model`` given and ``session.model`` not given: the session uses that model.
    * ``tool_timeout`` / ``liveness_timeout`` and ``timeouts["tool"]`` / ``["liveness"]`` are
      aliases: whichever you give sets both (the top-level name wins if you give both).

    Unknown options pass through unchanged. The result is a new, mutable ``dict``.
    """
    given: Mapping[str, Any] = options or {}
    if isinstance(given.get("session"), Mapping):
        given = {**given, "session": _normalize(given["session"], kind="session", stacklevel=3)}
    merged: dict[str, Any] = prune(deep_merge(DEFAULTS, given))

    session = merged.get("session")
    model_given = _is_given(given, "model") and not _is_given(given, "session", "model")
    if model_given and isinstance(session, dict):
        session["model"] = merged["model"]

    timeouts = merged.get("timeouts")
    if isinstance(timeouts, dict):
        for alias, name in _TIMEOUT_ALIASES:
            if _is_given(given, alias):
                timeouts[name] = merged[alias]
            else:
                merged[alias] = timeouts.get(name, DEFAULT_TIMEOUTS[name])

    if merged.get("greet_enabled") and not merged.get("greet_instructions"):
        merged["greet_instructions"] = DEFAULT_GREET_INSTRUCTIONS
        merged["greet_modalities"] = list(DEFAULT_GREET_MODALITIES)
    if "greet_modalities" in merged:
        merged["greet_modalities"] = _ga_modalities(merged["greet_modalities"])
    return merged


# ---------------------------------------------------------------------------------------------
# Beta → GA
# ---------------------------------------------------------------------------------------------

#: Beta audio format names → GA format objects.
BETA_AUDIO_FORMATS: Final[Mapping[str, Mapping[str, Any]]] = freeze(
    {
        "pcm16": {"type": "audio/pcm", "rate": 24000},
        "g711_ulaw": {"type": "audio/pcmu"},
        "g711_alaw": {"type": "audio/pcma"},
    }
)

#: Flat beta session field → its GA path (``None``: dropped, GA has no such field).
_SESSION_FIELDS: Final[Mapping[str, tuple[str, ...] | None]] = {
    "modalities": ("output_modalities",),
    "voice": ("audio", "output", "voice"),
    "speed": ("audio", "output", "speed"),
    "input_audio_format": ("audio", "input", "format"),
    "output_audio_format": ("audio", "output", "format"),
    "input_audio_transcription": ("audio", "input", "transcription"),
    "turn_detection": ("audio", "input", "turn_detection"),
    "input_audio_noise_reduction": ("audio", "input", "noise_reduction"),
    "max_response_output_tokens": ("max_output_tokens",),
    "temperature": None,
}

#: ``response.create`` params: beta name → GA path.
_RESPONSE_FIELDS: Final[Mapping[str, tuple[str, ...] | None]] = {
    "modalities": ("output_modalities",),
    "voice": ("audio", "output", "voice"),
    "output_audio_format": ("audio", "output", "format"),
    "max_response_output_tokens": ("max_output_tokens",),
    "temperature": None,
}


def _translate_value(field: str, value: Any) -> Any:
    if field == "modalities":
        return _ga_modalities(value)
    if field in ("input_audio_format", "output_audio_format") and isinstance(value, str):
        known = BETA_AUDIO_FORMATS.get(value)
        return thaw(known) if known is not None else {"type": value}
    return thaw(value)


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    nested: dict[str, Any] = {path[-1]: value}
    for key in reversed(path[:-1]):
        nested = {key: nested}
    return nested


def _normalize(
    params: Mapping[str, Any], *, kind: Literal["session", "response"], stacklevel: int
) -> dict[str, Any]:
    fields = _SESSION_FIELDS if kind == "session" else _RESPONSE_FIELDS
    given: dict[str, Any] = prune(params)
    beta = [name for name in given if name in fields]
    ga = {key: value for key, value in given.items() if key not in fields}
    if not beta:
        result = ga
    else:
        translated: dict[str, Any] = {}
        for name in beta:
            path = fields[name]
            if path is not None:
                translated = deep_merge(
                    translated, _nest(path, _translate_value(name, given[name]))
                )
        result = deep_merge(translated, ga)  # GA fields win on conflict
        mapped = ", ".join(
            f"{name} → {'.'.join(path)}" for name in beta if (path := fields[name]) is not None
        )
        dropped = [name for name in beta if fields[name] is None]
        note = f"translated to GA ({mapped})" if mapped else "translated to GA"
        if dropped:
            note += f"; dropped {', '.join(dropped)} (GA has no such field)"
        what = "session" if kind == "session" else "response.create"
        warnings.warn(
            f"beta-shaped {what} fields {', '.join(beta)}: {note}. Use the GA shape.",
            DeprecationWarning,
            stacklevel=stacklevel,
        )
    if kind == "session":
        result.setdefault("type", "realtime")
    return result


def normalize_session(session: Mapping[str, Any]) -> dict[str, Any]:
    """A session (or ``session.update`` patch) in GA shape.

    A GA-shaped session comes back as a copy, with ``"type": "realtime"`` added if missing.
    Beta fields (``modalities``, ``voice``, ``speed``, ``input_audio_format``,
    ``output_audio_format``, ``input_audio_transcription``, a flat ``turn_detection``,
    ``input_audio_noise_reduction``, ``max_response_output_tokens``, ``temperature``) are
    translated per ``reference/protocol.md`` §2.5 — ``temperature`` is dropped — and one
    ``DeprecationWarning`` names them. In mixed input the GA fields win on conflict; unknown
    fields pass through; ``NOT_GIVEN`` values are dropped, ``None`` is kept.
    """
    return _normalize(session, kind="session", stacklevel=3)


def beta_response_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``response.create`` params in GA shape: ``modalities`` → ``output_modalities``,
    ``voice`` → ``audio.output.voice``, ``output_audio_format`` → ``audio.output.format``,
    ``max_response_output_tokens`` → ``max_output_tokens`` (``temperature`` dropped), with one
    ``DeprecationWarning`` when any was present. GA params come back as an unchanged copy."""
    return _normalize(params, kind="response", stacklevel=3)
