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
* :data:`MODEL_SHUTDOWNS` lists the models with an announced shutdown date;
  :func:`warn_model_shutdowns` gives one ``DeprecationWarning`` naming those a session uses.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal
from urllib.parse import urlsplit

__all__ = [
    "DEFAULTS",
    "DEFAULT_GREET_INSTRUCTIONS",
    "DEFAULT_GREET_MODALITIES",
    "DEFAULT_ICE_SERVERS",
    "DEFAULT_SESSION",
    "DEFAULT_TIMEOUTS",
    "MODEL_SHUTDOWNS",
    "NOT_GIVEN",
    "ModelShutdown",
    "NotGiven",
    "apply_defaults",
    "beta_response_params",
    "check_callable",
    "deep_merge",
    "freeze",
    "normalize_session",
    "prune",
    "shutdown_models",
    "thaw",
    "validate_options",
    "warn_model_shutdowns",
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
#: * model ``gpt-realtime-2.1``: on no shutdown list (``gpt-realtime`` shuts down on
#:   2027-01-20, see :data:`MODEL_SHUTDOWNS`); OpenAI's own SIP and translation guides use it.
#: * transcription ``gpt-realtime-whisper``: on no shutdown list (``whisper-1`` and the
#:   ``gpt-4o(-mini)-transcribe`` models shut down on 2027-02-26), OpenAI's natively streaming,
#:   lowest-latency transcription for realtime sessions. It takes ``delay`` but not ``prompt``,
#:   so no ``prompt`` is sent. Without transcription the chat has no user text.
#: * voice ``alloy``: the seed's default, available on every realtime model.
DEFAULT_SESSION: Final[Mapping[str, Any]] = freeze(
    {
        "type": "realtime",
        "model": "gpt-realtime-2.1",
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
                "transcription": {"model": "gpt-realtime-whisper"},
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
        "model": "gpt-realtime-2.1",
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
# Models with an announced shutdown
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelShutdown:
    """A model with an announced shutdown date and the current model to use instead.

    ``field`` is where a session names it: ``"model"`` (the session model) or
    ``"transcription"`` (``audio.input.transcription.model``).
    """

    model: str
    field: Literal["model", "transcription"]
    shutdown: str
    replacement: str

    def sentence(self) -> str:
        what = "model" if self.field == "model" else "transcription model"
        return (
            f"{what} {self.model!r} has an announced shutdown on {self.shutdown}; "
            f"use {self.replacement!r}"
        )


def _shutdowns(
    field: Literal["model", "transcription"], shutdown: str, replacements: Mapping[str, str]
) -> dict[str, ModelShutdown]:
    return {
        model: ModelShutdown(model, field, shutdown, replacement)
        for model, replacement in replacements.items()
    }


#: Models with an announced shutdown, by name. The dates are the "Announced shutdown date" of
#: the ``model`` docstrings in the ``openai`` package (``types/realtime/
#: realtime_session_create_request.py`` for session models, ``types/realtime/
#: audio_transcription.py`` for transcription models); the replacements are the current models
#: OpenAI's own guides use (``gpt-realtime-2.1`` in the SIP and translation guides, its cheaper
#: tier ``gpt-realtime-2.1-mini``, and ``gpt-realtime-whisper`` for streaming transcription).
#: OpenAI's deprecations page (and ``GET /v1/models``' ``shutdown_date``) is the authority.
MODEL_SHUTDOWNS: Final[Mapping[str, ModelShutdown]] = MappingProxyType(
    {
        **_shutdowns(
            "model",
            "2027-01-20",
            {
                "gpt-realtime": "gpt-realtime-2.1",
                "gpt-realtime-2025-08-28": "gpt-realtime-2.1",
                "gpt-realtime-mini": "gpt-realtime-2.1-mini",
                "gpt-realtime-mini-2025-12-15": "gpt-realtime-2.1-mini",
                "gpt-audio-mini": "gpt-realtime-2.1-mini",
                "gpt-audio-mini-2025-12-15": "gpt-realtime-2.1-mini",
            },
        ),
        **_shutdowns(
            "transcription",
            "2027-02-26",
            dict.fromkeys(
                (
                    "whisper-1",
                    "gpt-4o-mini-transcribe",
                    "gpt-4o-mini-transcribe-2025-12-15",
                    "gpt-4o-transcribe",
                    "gpt-4o-transcribe-diarize",
                ),
                "gpt-realtime-whisper",
            ),
        ),
    }
)


_TRANSCRIPTION_MODEL: Final = ("audio", "input", "transcription", "model")
_DEPRECATIONS_URL: Final = "https://developers.openai.com/api/docs/deprecations"


def _path(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def shutdown_models(session: Mapping[str, Any]) -> list[ModelShutdown]:
    """The models a (GA-shaped) session names that have an announced shutdown: the session
    model first, then the input transcription model."""
    found: list[ModelShutdown] = []
    for field, path in (("model", ("model",)), ("transcription", _TRANSCRIPTION_MODEL)):
        shutdown = MODEL_SHUTDOWNS.get(str(_path(session, *path)))
        if shutdown is not None and shutdown.field == field:
            found.append(shutdown)
    return found


def warn_model_shutdowns(
    session: Mapping[str, Any], *, warned: set[str] | None = None, stacklevel: int = 2
) -> list[ModelShutdown]:
    """One ``DeprecationWarning`` naming every model of ``session`` with an announced shutdown,
    its date and its replacement; return them.

    ``warned`` holds the model names already warned about (one client's): they are skipped and
    the new ones are added, so a client warns once per model, not once per reconnect or
    ``session.update``. ``stacklevel`` is :func:`warnings.warn`'s, counted from the caller.
    """
    found = [s for s in shutdown_models(session) if warned is None or s.model not in warned]
    if found:
        warnings.warn(
            "; ".join(s.sentence() for s in found)
            + f" (OpenAI's deprecations: {_DEPRECATIONS_URL}).",
            DeprecationWarning,
            stacklevel=stacklevel + 1,
        )
        if warned is not None:
            warned.update(s.model for s in found)
    return found


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


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

#: Options that must be ``True`` or ``False``.
_BOOL_OPTIONS: Final = (
    "auto_session_update",
    "greet_enabled",
    "allow_connect_without_mic",
    "delete_chat_history_on_disconnect",
    "chat_enabled",
    "chat_inverted",
    "chat_user_add_on_delta",
    "chat_user_placeholder_on_start",
    "chat_assistant_add_on_delta",
    "chat_assistant_placeholder_on_start",
)
_ICE_SCHEMES: Final = ("stun:", "stuns:", "turn:", "turns:")


def _number(name: str, value: Any, *, minimum: float = 0.0, inclusive: bool = False) -> float:
    """``value`` as a finite number above ``minimum`` (or at it, when ``inclusive``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (value == minimum and not inclusive):
        bound = f"at least {minimum:g}" if inclusive else f"greater than {minimum:g}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def check_callable(name: str, value: Any) -> None:
    """``value`` is ``None`` or callable; else a ``TypeError`` naming ``name``."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a function (or None), got {value!r}")


def _check_ice_servers(value: Any) -> None:
    shape = "a list of {'urls': 'stun:host:port'} mappings ([] for none)"
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
        raise TypeError(f"ice_servers must be {shape}, got {value!r}")
    for index, server in enumerate(value):
        if not isinstance(server, Mapping):
            raise TypeError(f"ice_servers[{index}] must be a mapping with 'urls', got {server!r}")
        urls = server.get("urls")
        listed = [urls] if isinstance(urls, str) else urls
        if not isinstance(listed, list | tuple) or not listed:
            raise ValueError(
                f"ice_servers[{index}] needs 'urls': a URL or a non-empty list of URLs, "
                f"got {urls!r}"
            )
        for url in listed:
            if not isinstance(url, str) or not url.startswith(_ICE_SCHEMES):
                raise ValueError(
                    f"ice_servers[{index}] URL {url!r} must start with stun:, stuns:, turn: "
                    "or turns:"
                )
        for key in ("username", "credential"):
            if server.get(key) is not None and not isinstance(server[key], str):
                raise TypeError(f"ice_servers[{index}]['{key}'] must be a string")


def _check_base_url(value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(
            f"base_url must be a string such as 'https://api.openai.com', got {value!r}"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"base_url must be an http:// or https:// URL such as 'https://api.openai.com', "
            f"got {value!r}"
        )


def _check_timeouts(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"timeouts must be a mapping of step name to seconds, got {value!r}")
    for name, seconds in value.items():
        if name not in DEFAULT_TIMEOUTS:
            known = ", ".join(DEFAULT_TIMEOUTS)
            raise ValueError(f"timeouts has an unknown step {name!r}; the steps are: {known}")
        _number(f"timeouts[{name!r}]", seconds)


def _check_reconnect(value: Any) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"reconnect must be a mapping such as {{'attempts': 3}}, got {value!r}")
    known = DEFAULTS["reconnect"]
    for key in value:
        if key not in known:
            raise ValueError(
                f"reconnect has an unknown key {key!r}; the keys are: {', '.join(known)}"
            )
    attempts = value.get("attempts", 0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise ValueError(f"reconnect['attempts'] must be a whole number ≥ 0, got {attempts!r}")
    _number("reconnect['backoff_initial']", value.get("backoff_initial", 1.0), inclusive=True)
    _number("reconnect['backoff_max']", value.get("backoff_max", 15.0), inclusive=True)
    _number(
        "reconnect['backoff_factor']", value.get("backoff_factor", 2.0), minimum=1.0, inclusive=True
    )
    if value.get("rollover_before_cap") is not None:
        _number("reconnect['rollover_before_cap']", value["rollover_before_cap"], inclusive=True)


def validate_options(options: Mapping[str, Any]) -> None:
    """Check the client options (after :func:`apply_defaults`); raise ``TypeError`` (wrong
    type) or ``ValueError`` (wrong value) with a sentence naming the option and the problem.
    Unknown options are not checked."""
    if "base_url" in options:
        _check_base_url(options["base_url"])
    model = options.get("model", DEFAULTS["model"])
    if not isinstance(model, str) or not model.strip():
        kind = TypeError if not isinstance(model, str) else ValueError
        raise kind(f"model must be a model name such as {DEFAULTS['model']!r}, got {model!r}")
    if "session" in options and not isinstance(options["session"], Mapping):
        raise TypeError(
            f"session must be a mapping (GA session fields), got {options['session']!r}"
        )
    if "ice_servers" in options:
        _check_ice_servers(options["ice_servers"])
    label = options.get("data_channel_label", "oai-events")
    if not isinstance(label, str) or not label:
        kind = TypeError if not isinstance(label, str) else ValueError
        raise kind(f"data_channel_label must be a non-empty string, got {label!r}")
    for name in _BOOL_OPTIONS:
        if name in options and not isinstance(options[name], bool):
            raise TypeError(f"{name} must be True or False, got {options[name]!r}")
    instructions = options.get("greet_instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise TypeError(f"greet_instructions must be a string, got {instructions!r}")
    modalities = options.get("greet_modalities", ["audio"])
    if (
        isinstance(modalities, str)
        or not isinstance(modalities, list | tuple)
        or not set(modalities) <= {"audio", "text"}
    ):
        raise ValueError(f"greet_modalities must be ['audio'] or ['text'], got {modalities!r}")
    for name in ("chat_is_meaningful_text", "policy_is_meaningful_text"):
        check_callable(name, options.get(name))
    for alias, step in _TIMEOUT_ALIASES:  # either name may have been given
        if alias in options:
            _number(f"{alias} (timeouts[{step!r}])", options[alias])
    if "timeouts" in options:
        _check_timeouts(options["timeouts"])
    if "reconnect" in options:
        _check_reconnect(options["reconnect"])
