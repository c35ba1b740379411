"""GPT-Live session configuration: strict validation, defaults, the session resource, updates.

One object configures a Live session (``session.start`` on a WebSocket, the ``session`` of
``POST /v1/live/sessions`` for WebRTC). Unknown fields are refused with ``unknown_parameter``
naming the full path (``session.audio.speed``); after the start only the delegation settings
and the triggers can change (``session.update``), everything else is refused with
``immutable_field_update`` — the delegation *type* included (reference ``gpt-live.md`` §3).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal

from ..session import (
    JSON,
    ProtocolError,
    check_keys,
    check_number,
    expect_object,
    expect_type,
    invalid_value,
    missing,
)

__all__ = [
    "BUILT_IN_VOICES",
    "LIVE_MODELS",
    "ConfigKind",
    "apply_update",
    "audio_format",
    "delegation_type",
    "error_body",
    "immutable",
    "session_resource",
    "validate_config",
]

#: The Live models the official package names (``SessionConfig.model``).
LIVE_MODELS = ("gpt-live-1", "gpt-live-1.1")
#: ``openai/types/live/built_in_voice.py``.
BUILT_IN_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "beacon",
    "bossa",
    "cedar",
    "cinder",
    "coral",
    "delta",
    "echo",
    "gleam",
    "marin",
    "meridian",
    "quartz",
    "ripple",
    "sage",
    "shida",
    "shimmer",
    "stone",
    "tempo",
    "verse",
    "vesper",
    "willow",
)
DEFAULT_VOICE = "marin"
DEFAULT_INSTRUCTIONS = (
    "You are a helpful voice assistant running inside the realtime-machines local emulator."
)
PCM_RATES = (16000, 24000)
MAX_INPUT_ITEMS = 128
ACK_DELAY_DEFAULT = {"client": 0, "responses": 0, "decisions": 400}
TRIGGER_EVENTS = ("session.input_transcript.delta", "session.output_transcript.delta")

#: ``websocket``: ``session.start`` (``SessionConfig``); ``webrtc``: the create request
#: (``MediaSessionConfigParam``: no ``audio.format``, plus ``idle_timeout_s``/``wake_policy``).
ConfigKind = Literal["websocket", "webrtc"]

_COMMON_KEYS = (
    "model",
    "audio",
    "client",
    "delegation",
    "input",
    "instructions",
    "safety_identifier",
    "store",
    "triggers",
)
_WEBRTC_ONLY = ("idle_timeout_s", "wake_policy")
_MUTABLE = ("delegation", "triggers")


def error_body(exc: ProtocolError, client_event_id: str | None = None) -> JSON:
    """A Live ``error`` object: ``{type, code, message, param, client_event_id}``."""
    return {
        "type": exc.type,
        "code": exc.code or "invalid_request_error",
        "message": exc.message,
        "param": exc.param,
        "client_event_id": client_event_id,
    }


def immutable(param: str) -> ProtocolError:
    return ProtocolError(
        "immutable_field_update",
        f"Cannot update '{param}': it is fixed when the session starts. "
        "Only 'session.delegation' settings and 'session.triggers' can change.",
        param,
    )


def _string(value: object, param: str, *, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    expect_type(value, str, "a string", param)
    assert isinstance(value, str)
    return value


def _model(value: object, param: str) -> str:
    model = _string(value, param)
    assert model is not None
    if model not in LIVE_MODELS:
        raise ProtocolError(
            "model_not_found",
            f"The model '{model}' does not exist or is not a Live model. "
            f"Supported values are: {', '.join(LIVE_MODELS)}.",
            param,
        )
    return model


def audio_format(value: object, param: str) -> JSON:
    """``{type: audio/pcm, rate: 16000|24000}`` or G.711 (``audio/pcmu``/``audio/pcma``, 8 kHz)."""
    fmt = expect_object(value, param)
    kind = fmt.get("type")
    if kind not in ("audio/pcm", "audio/pcmu", "audio/pcma"):
        raise invalid_value(kind, ("audio/pcm", "audio/pcmu", "audio/pcma"), f"{param}.type")
    check_keys(fmt, ("type", "rate"), param)
    if kind == "audio/pcm":
        rate = fmt.get("rate", 24000)
        if rate not in PCM_RATES:
            raise invalid_value(rate, [str(r) for r in PCM_RATES], f"{param}.rate")
    else:
        rate = fmt.get("rate", 8000)
        if rate != 8000:
            raise invalid_value(rate, ["8000"], f"{param}.rate")
    return {"type": kind, "rate": rate}


def _voice(value: object, param: str) -> object:
    if isinstance(value, dict):
        check_keys(value, ("id",), param)
        if not isinstance(value.get("id"), str) or not value["id"]:
            raise missing(f"{param}.id")
        return {"id": value["id"]}
    voice = _string(value, param)
    if voice not in BUILT_IN_VOICES:
        raise invalid_value(voice, BUILT_IN_VOICES, param)
    return voice


def _audio(value: object, param: str, kind: ConfigKind) -> JSON:
    audio = expect_object(value, param)
    check_keys(audio, ("output",) if kind == "webrtc" else ("format", "output"), param)
    out: JSON = {}
    if "format" in audio:
        out["format"] = audio_format(audio["format"], f"{param}.format")
    if "output" in audio:
        output = expect_object(audio["output"], f"{param}.output")
        check_keys(output, ("voice",), f"{param}.output")
        if "voice" in output:
            out["output"] = {"voice": _voice(output["voice"], f"{param}.output.voice")}
    return out


def _input(value: object, param: str) -> list[JSON]:
    expect_type(value, list, "an array", param)
    assert isinstance(value, list)
    if len(value) > MAX_INPUT_ITEMS:
        raise ProtocolError(
            "array_above_max_length",
            f"Invalid '{param}': at most {MAX_INPUT_ITEMS} messages, got {len(value)}.",
            param,
        )
    items: list[JSON] = []
    for i, raw in enumerate(value):
        p = f"{param}[{i}]"
        item = expect_object(raw, p)
        check_keys(item, ("role", "content", "id", "status", "type"), p)
        role = item.get("role")
        if role not in ("developer", "user", "assistant"):
            raise invalid_value(role, ("developer", "user", "assistant"), f"{p}.role")
        if item.get("type", "message") != "message":
            raise invalid_value(item.get("type"), ("message",), f"{p}.type")
        content = item.get("content")
        expect_type(content, list, "an array", f"{p}.content")
        assert isinstance(content, list)
        if len(content) != 1:
            raise ProtocolError(
                "invalid_value",
                f"Invalid '{p}.content': a startup message has exactly one text part.",
                f"{p}.content",
            )
        part = expect_object(content[0], f"{p}.content[0]")
        check_keys(part, ("type", "text"), f"{p}.content[0]")
        kinds = ("text", "output_text") if role == "assistant" else ("input_text",)
        if "type" in part and part["type"] not in kinds:
            raise invalid_value(part["type"], kinds, f"{p}.content[0].type")
        text = _string(part.get("text"), f"{p}.content[0].text")
        out: JSON = {"role": role, "content": [{"type": part.get("type", kinds[0]), "text": text}]}
        for key in ("id", "status"):
            if key in item:
                out[key] = item[key]
        out["type"] = "message"
        items.append(out)
    return items


def _ack_delay(delegation: JSON, param: str) -> None:
    if "acknowledgement_delay_ms" in delegation:
        check_number(
            delegation["acknowledgement_delay_ms"],
            f"{param}.acknowledgement_delay_ms",
            integer=True,
            minimum=0,
        )


def _tools(value: object, param: str) -> list[JSON]:
    expect_type(value, list, "an array", param)
    assert isinstance(value, list)
    tools: list[JSON] = []
    for i, raw in enumerate(value):
        p = f"{param}[{i}]"
        tool = expect_object(raw, p)
        kind = tool.get("type")
        if not isinstance(kind, str):
            raise missing(f"{p}.type")
        if kind == "function":
            check_keys(tool, ("type", "name", "description", "parameters", "strict"), p)
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                raise missing(f"{p}.name")
            if "parameters" in tool and tool["parameters"] is not None:
                expect_object(tool["parameters"], f"{p}.parameters")
        tools.append(copy.deepcopy(tool))
    return tools


_RESPONSES_KEYS = (
    "model",
    "instructions",
    "max_output_tokens",
    "parallel_tool_calls",
    "reasoning",
    "service_tier",
    "text",
    "tool_choice",
    "tools",
)


def _responses(value: object, param: str, *, update: bool) -> JSON:
    cfg = expect_object(value, param)
    check_keys(cfg, _RESPONSES_KEYS, param)
    if not update and "model" not in cfg:
        raise missing(f"{param}.model")
    out = copy.deepcopy(cfg)
    if "model" in cfg:
        _string(cfg["model"], f"{param}.model")
    if cfg.get("instructions") is not None:
        _string(cfg["instructions"], f"{param}.instructions")
    if cfg.get("max_output_tokens") is not None:
        check_number(
            cfg["max_output_tokens"], f"{param}.max_output_tokens", integer=True, minimum=16
        )
    if "tools" in cfg:
        out["tools"] = _tools(cfg["tools"], f"{param}.tools")
    return out


def _questions(value: object, param: str) -> list[JSON]:
    expect_type(value, list, "an array", param)
    assert isinstance(value, list)
    for i, raw in enumerate(value):
        p = f"{param}[{i}]"
        question = expect_object(raw, p)
        kind = question.get("type")
        allowed = {
            "predicate": ("type", "instructions", "name"),
            "choice": ("type", "instructions", "name", "choices"),
            "score": ("type", "instructions", "name", "levels"),
        }
        if kind not in allowed:
            raise invalid_value(kind, tuple(allowed), f"{p}.type")
        check_keys(question, allowed[kind], p)
        if "instructions" not in question:
            raise missing(f"{p}.instructions")
        if kind in ("choice", "score"):
            key = "choices" if kind == "choice" else "levels"
            entries = question.get(key)
            expect_type(entries, list, "an array", f"{p}.{key}")
            assert isinstance(entries, list)
            if not entries:
                raise missing(f"{p}.{key}[0]")
    return copy.deepcopy(value)


def _decisions(value: object, param: str, *, update: bool) -> JSON:
    cfg = expect_object(value, param)
    check_keys(cfg, ("model", "questions"), param)
    out: JSON = {}
    if "model" in cfg:
        out["model"] = _string(cfg["model"], f"{param}.model")
    elif not update:
        raise missing(f"{param}.model")
    if "questions" in cfg:
        out["questions"] = _questions(cfg["questions"], f"{param}.questions")
    elif not update:
        raise missing(f"{param}.questions")
    return out


def _delegation(value: object, param: str, *, update: bool) -> JSON | None:
    """A delegation (``null`` = client mode); for an update, the settings to merge."""
    if value is None:
        return None
    delegation = expect_object(value, param)
    kind = delegation.get("type")
    if kind not in ("client", "responses", "decisions"):
        raise invalid_value(kind, ("client", "responses", "decisions"), f"{param}.type")
    extra = {"client": (), "responses": ("responses",), "decisions": ("decisions",)}[kind]
    check_keys(delegation, ("type", "acknowledgement_delay_ms", *extra), param)
    _ack_delay(delegation, param)
    out: JSON = {"type": kind}
    if "acknowledgement_delay_ms" in delegation:
        out["acknowledgement_delay_ms"] = delegation["acknowledgement_delay_ms"]
    nested = {"responses": _responses, "decisions": _decisions}.get(str(kind))
    if nested is not None:
        if kind in delegation:
            out[kind] = nested(delegation[kind], f"{param}.{kind}", update=update)
        elif not update:
            raise missing(f"{param}.{kind}")
    return out


def _triggers(value: object, param: str) -> list[JSON]:
    expect_type(value, list, "an array", param)
    assert isinstance(value, list)
    seen: set[str] = set()
    for i, raw in enumerate(value):
        p = f"{param}[{i}]"
        trigger = expect_object(raw, p)
        check_keys(trigger, ("type", "event_type", "decisions"), p)
        if trigger.get("type") != "decisions":
            raise invalid_value(trigger.get("type"), ("decisions",), f"{p}.type")
        event_type = trigger.get("event_type")
        if event_type not in TRIGGER_EVENTS:
            raise invalid_value(event_type, TRIGGER_EVENTS, f"{p}.event_type")
        if event_type in seen:
            raise ProtocolError(
                "invalid_value",
                f"Invalid '{p}.event_type': at most one trigger per transcript event type.",
                f"{p}.event_type",
            )
        seen.add(str(event_type))
        decisions = expect_object(trigger.get("decisions"), f"{p}.decisions")
        check_keys(decisions, ("questions",), f"{p}.decisions")
        _questions(decisions.get("questions"), f"{p}.decisions.questions")
    return copy.deepcopy(value)


def _data_channel(value: object, param: str) -> JSON:
    client = expect_object(value, param)
    check_keys(client, ("data_channel",), param)
    channel = expect_object(client.get("data_channel"), f"{param}.data_channel")
    p = f"{param}.data_channel"
    check_keys(channel, ("allowed_client_events", "allowed_server_events"), p)
    out: JSON = {}
    for key in ("allowed_client_events", "allowed_server_events"):
        allowed = channel.get(key)
        if allowed is None:
            continue
        if allowed != "all":
            expect_type(allowed, list, "'all' or an array", f"{p}.{key}")
        out[key] = copy.deepcopy(allowed)
    if isinstance(out.get("allowed_client_events"), list):
        for i, name in enumerate(out["allowed_client_events"]):
            expect_type(name, str, "a string", f"{p}.allowed_client_events[{i}]")
    if isinstance(out.get("allowed_server_events"), list):
        for i, raw in enumerate(out["allowed_server_events"]):
            q = f"{p}.allowed_server_events[{i}]"
            selector = expect_object(raw, q)
            check_keys(selector, ("type", "response_event"), q)
            _string(selector.get("type"), f"{q}.type")
            nested = selector.get("response_event")
            if selector["type"] == "response.event" and not isinstance(nested, str):
                raise missing(f"{q}.response_event")
            if selector["type"] != "response.event" and nested is not None:
                raise ProtocolError(
                    "invalid_value",
                    f"Invalid '{q}.response_event': only for type 'response.event'.",
                    f"{q}.response_event",
                )
    return {"data_channel": out}


def _store(value: object, param: str) -> bool:
    expect_type(value, bool, "a boolean", param)
    return bool(value)


def _idle_timeout(value: object, param: str) -> object:
    check_number(value, param, integer=True, minimum=1)
    return value


def _wake_policy(value: object, param: str) -> JSON:
    policy = expect_object(value, param)
    check_keys(policy, ("type", "vad_threshold"), param)
    if policy.get("type") != "speech":
        raise invalid_value(policy.get("type"), ("speech",), f"{param}.type")
    threshold = policy.get("vad_threshold", 0.5)
    check_number(threshold, f"{param}.vad_threshold", integer=False, minimum=0, maximum=1)
    return {"type": "speech", "vad_threshold": threshold}


def validate_config(raw: object, kind: ConfigKind, param: str = "session") -> JSON:
    """A validated (not yet resolved) startup configuration; else :class:`ProtocolError`."""
    config = expect_object(raw, param)
    check_keys(config, _COMMON_KEYS + (_WEBRTC_ONLY if kind == "webrtc" else ()), param)
    if "model" not in config:
        raise missing(f"{param}.model")
    fields: dict[str, Callable[[object, str], object]] = {
        "model": _model,
        "instructions": lambda v, p: _string(v, p, nullable=True),
        "input": _input,
        "audio": lambda v, p: _audio(v, p, kind),
        "delegation": lambda v, p: _delegation(v, p, update=False),
        "triggers": _triggers,
        "store": _store,
        "safety_identifier": lambda v, p: _string(v, p, nullable=True),
        "client": _data_channel,
        "idle_timeout_s": _idle_timeout,
        "wake_policy": _wake_policy,
    }
    return {
        key: check(config[key], f"{param}.{key}") for key, check in fields.items() if key in config
    }


def _resolved_delegation(delegation: JSON | None) -> JSON | None:
    if delegation is None:
        return None
    out = copy.deepcopy(delegation)
    out.setdefault("acknowledgement_delay_ms", ACK_DELAY_DEFAULT[delegation["type"]])
    return out


def session_resource(config: JSON, *, session_id: str, expires_at: int, kind: ConfigKind) -> JSON:
    """The ``SessionResource`` a validated config resolves to (defaults filled in).

    ``idle_timeout_s`` and ``wake_policy`` are not echoed (the resource does not type them);
    a WebRTC session reports no ``audio.format`` (the media negotiation decides it).
    """
    audio: JSON = {"output": {"voice": DEFAULT_VOICE}}
    given = config.get("audio") or {}
    if "output" in given:
        audio["output"] = copy.deepcopy(given["output"])
    if kind == "websocket":
        audio["format"] = copy.deepcopy(given.get("format", {"type": "audio/pcm", "rate": 24000}))
    instructions = config.get("instructions")
    resource: JSON = {
        "id": session_id,
        "expires_at": expires_at,
        "model": config["model"],
        "status": "active",
        "audio": audio,
        "delegation": _resolved_delegation(config.get("delegation")),
        "input": copy.deepcopy(config.get("input", [])),
        "instructions": instructions
        if instructions and instructions.strip()
        else DEFAULT_INSTRUCTIONS,
        "safety_identifier": config.get("safety_identifier"),
        "store": config.get("store", False),
        "triggers": copy.deepcopy(config.get("triggers", [])),
    }
    if "client" in config:
        resource["client"] = copy.deepcopy(config["client"])
    return resource


def delegation_type(resource: JSON) -> str:
    """``client`` (also for ``delegation: null``), ``responses`` or ``decisions``."""
    delegation = resource.get("delegation")
    return str(delegation["type"]) if isinstance(delegation, dict) else "client"


def apply_update(resource: JSON, raw: object) -> JSON:
    """The resource after a ``session.update`` (validated whole before anything applies)."""
    update = expect_object(raw, "session")
    for key in update:
        if key in _MUTABLE:
            continue
        if key in _COMMON_KEYS or key in _WEBRTC_ONLY:
            raise immutable(f"session.{key}")
        check_keys({key: None}, _MUTABLE, "session")
    out = copy.deepcopy(resource)
    if "delegation" in update:
        current = delegation_type(resource)
        patch = _delegation(update["delegation"], "session.delegation", update=True)
        wanted = patch["type"] if patch is not None else "client"
        if wanted != current or (patch is None and resource.get("delegation") is not None):
            raise immutable("session.delegation.type")
        if patch is not None:
            merged: dict[str, Any] = copy.deepcopy(resource.get("delegation") or {})
            merged["type"] = wanted
            for key, value in patch.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            out["delegation"] = _resolved_delegation(merged)
    if "triggers" in update:
        out["triggers"] = _triggers(update["triggers"], "session.triggers")
    return out
