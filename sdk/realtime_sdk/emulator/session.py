"""GA session configuration: defaults, validation and merging, worded like OpenAI's errors.

A ``session.update`` is validated completely before anything is applied: a rejected update
is discarded as a whole (protocol reference §5.7).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

JSON = dict[str, Any]

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
AUDIO_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")
PCM_RATE = 24000
#: Every Realtime session model the official ``openai`` package lists (the ``model`` literal of
#: ``RealtimeSessionCreateRequest`` and ``CallAcceptParams``); a test holds this equal to it.
REALTIME_MODELS = (
    "gpt-realtime",
    "gpt-realtime-1.5",
    "gpt-realtime-2",
    "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini",
    "gpt-realtime-2025-08-28",
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-10-01",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2025-06-03",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17",
    "gpt-realtime-mini",
    "gpt-realtime-mini-2025-10-06",
    "gpt-realtime-mini-2025-12-15",
    "gpt-audio-1.5",
    "gpt-audio-mini",
    "gpt-audio-mini-2025-10-06",
    "gpt-audio-mini-2025-12-15",
)
#: Every input transcription model the package lists (``AudioTranscription.model``).
TRANSCRIPTION_MODELS = (
    "whisper-1",
    "gpt-transcribe",
    "gpt-live-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe",
    "gpt-4o-transcribe-diarize",
    "gpt-realtime-whisper",
)
#: On no shutdown list (``gpt-realtime`` shuts down on 2027-01-20, ``whisper-1`` on 2027-02-26).
DEFAULT_MODEL = "gpt-realtime-2.1"
DEFAULT_TRANSCRIPTION_MODEL = "gpt-realtime-whisper"
REASONING_EFFORTS = ("minimal", "low", "medium", "high", "xhigh")
DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant running inside the realtime-machines local emulator. "
    "Your answers are deterministic."
)
CLIENT_EVENT_TYPES = (
    "session.update",
    "session.close",
    "input_audio_buffer.append",
    "session.input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "response.create",
    "response.cancel",
)


#: How deeply a client's JSON may nest (an event, a request body, a session): deeper is refused
#: as invalid JSON instead of exhausting the interpreter's recursion limit (about 1,000 levels).
MAX_JSON_DEPTH = 128


def parse_json(text: str | bytes) -> object:
    """``json.loads`` for client input: any failure, depth included, is a ``ValueError``."""
    try:
        value: object = json.loads(text)
        too_deep = not _within_depth(value, MAX_JSON_DEPTH)
    except RecursionError:
        too_deep = True
    if too_deep:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _within_depth(value: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[object] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


class ProtocolError(Exception):
    """An ``error`` event's body: ``{type, code, message, param}``."""

    def __init__(
        self,
        code: str | None,
        message: str,
        param: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.type = type_

    def body(self, event_id: str | None = None) -> JSON:
        return {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "event_id": event_id,
        }


def _tname(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _quoted(values: Iterable[str]) -> str:
    items = [f"'{v}'" for v in values]
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def invalid_value(value: object, allowed: Iterable[str], param: str) -> ProtocolError:
    return ProtocolError(
        "invalid_value",
        f"Invalid value: '{value}'. Supported values are: {_quoted(allowed)}.",
        param,
    )


def missing(param: str) -> ProtocolError:
    return ProtocolError(
        "missing_required_parameter", f"Missing required parameter: '{param}'.", param
    )


def expect_type(value: object, kind: type | tuple[type, ...], name: str, param: str) -> None:
    ok = isinstance(value, kind) and not (
        isinstance(value, bool) and kind in (int, float, (int, float))
    )
    if not ok:
        raise ProtocolError(
            "invalid_type",
            f"Invalid type for '{param}': expected {name}, but got {_tname(value)} instead.",
            param,
        )


def expect_object(value: object, param: str) -> JSON:
    expect_type(value, dict, "an object", param)
    assert isinstance(value, dict)
    return value


def check_keys(obj: Mapping[str, Any], allowed: Iterable[str], param: str) -> None:
    allowed_set = set(allowed)
    for key in obj:
        if key not in allowed_set:
            raise ProtocolError(
                "unknown_parameter", f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}"
            )


def check_number(
    value: object,
    param: str,
    *,
    integer: bool,
    minimum: float | None = None,
    maximum: float | None = None,
) -> None:
    if integer:
        expect_type(value, int, "an integer", param)
    else:
        expect_type(value, (int, float), "a decimal", param)
    assert isinstance(value, (int, float))
    kind = "integer" if integer else "decimal"
    if minimum is not None and value < minimum:
        shown = int(minimum) if integer else minimum
        raise ProtocolError(
            f"{kind}_below_min_value",
            f"Invalid '{param}': {kind} below minimum value. "
            f"Expected a value >= {shown}, but got {value} instead.",
            param,
        )
    if maximum is not None and value > maximum:
        shown = int(maximum) if integer else maximum
        raise ProtocolError(
            f"{kind}_above_max_value",
            f"Invalid '{param}': {kind} above maximum value. "
            f"Expected a value <= {shown}, but got {value} instead.",
            param,
        )


def validate_model(value: object, param: str = "model") -> str:
    """A Realtime session model: one of :data:`REALTIME_MODELS`, or OpenAI's ``invalid_model``.

    Every route that names a model (client secrets, calls, the WebSocket's ``?model=``,
    ``session.update``) refuses an unknown one through this function.
    """
    expect_type(value, str, "a string", param)
    assert isinstance(value, str)
    if value not in REALTIME_MODELS:
        raise ProtocolError(
            "invalid_model", f'Model "{value}" is not supported in realtime mode.', param
        )
    return value


def validate_reasoning(value: object, param: str) -> JSON | None:
    """``reasoning``: ``null`` or ``{effort?: minimal|low|medium|high|xhigh}``."""
    if value is None:
        return None
    reasoning = expect_object(value, param)
    check_keys(reasoning, ("effort",), param)
    effort = reasoning.get("effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise invalid_value(effort, REASONING_EFFORTS, f"{param}.effort")
    return dict(reasoning)


def default_turn_detection() -> JSON:
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }


def default_session(
    *, session_id: str, model: str, expires_at: int, kind: str = "realtime"
) -> JSON:
    """The effective configuration a new session starts with (as in the recordings)."""
    audio_input: JSON = {
        "format": {"type": "audio/pcm", "rate": PCM_RATE},
        "transcription": None,
        "noise_reduction": None,
        "turn_detection": default_turn_detection(),
    }
    if kind == "transcription":
        return {
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": session_id,
            "expires_at": expires_at,
            "audio": {"input": audio_input},
            "include": None,
        }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": expires_at,
        "audio": {
            "input": audio_input,
            "output": {
                "format": {"type": "audio/pcm", "rate": PCM_RATE},
                "voice": "alloy",
                "speed": 1.0,
            },
        },
        "include": None,
    }


# --- validators for pieces shared by session.update and response.create -----------------------


def validate_format(value: object, param: str) -> JSON:
    fmt = expect_object(value, param)
    check_keys(fmt, ("type", "rate"), param)
    if "type" not in fmt:
        raise missing(f"{param}.type")
    if fmt["type"] not in AUDIO_FORMATS:
        raise invalid_value(fmt["type"], AUDIO_FORMATS, f"{param}.type")
    if fmt["type"] == "audio/pcm":
        rate = fmt.get("rate", PCM_RATE)
        check_number(rate, f"{param}.rate", integer=True, minimum=PCM_RATE, maximum=PCM_RATE)
        return {"type": "audio/pcm", "rate": PCM_RATE}
    if "rate" in fmt:
        raise ProtocolError(
            "unknown_parameter", f"Unknown parameter: '{param}.rate'.", f"{param}.rate"
        )
    return {"type": fmt["type"]}


def validate_voice(value: object, param: str) -> object:
    if isinstance(value, dict):
        check_keys(value, ("id",), param)
        if not isinstance(value.get("id"), str):
            raise missing(f"{param}.id")
        return dict(value)
    expect_type(value, str, "a string", param)
    if value not in VOICES:
        raise invalid_value(value, VOICES, param)
    return value


def validate_output_modalities(value: object, param: str) -> list[str]:
    expect_type(value, list, "an array", param)
    assert isinstance(value, list)
    for i, mod in enumerate(value):
        if mod not in ("text", "audio"):
            raise invalid_value(mod, ("text", "audio"), f"{param}[{i}]")
    if len(value) != 1:
        raise ProtocolError(
            "invalid_value",
            f"Invalid modalities: {value!r}. Supported combinations are: ['text'] and ['audio'].",
            param,
        )
    return list(value)


def validate_tools(value: object, param: str) -> list[JSON]:
    expect_type(value, list, "an array", param)
    assert isinstance(value, list)
    tools: list[JSON] = []
    for i, raw in enumerate(value):
        p = f"{param}[{i}]"
        tool = expect_object(raw, p)
        if tool.get("type", "function") != "function":
            raise invalid_value(tool.get("type"), ("function",), f"{p}.type")
        check_keys(tool, ("type", "name", "description", "parameters"), p)
        if "name" not in tool:
            raise missing(f"{p}.name")
        expect_type(tool["name"], str, "a string", f"{p}.name")
        if "description" in tool:
            expect_type(tool["description"], str, "a string", f"{p}.description")
        if "parameters" in tool:
            expect_object(tool["parameters"], f"{p}.parameters")
        out: JSON = {"type": "function", "name": tool["name"]}
        out["description"] = tool.get("description", "")
        out["parameters"] = tool.get("parameters", {"type": "object", "properties": {}})
        tools.append(out)
    return tools


def validate_tool_choice(value: object, param: str) -> object:
    if isinstance(value, str):
        if value not in ("none", "auto", "required"):
            raise invalid_value(value, ("none", "auto", "required"), param)
        return value
    choice = expect_object(value, param)
    if choice.get("type") != "function":
        raise invalid_value(choice.get("type"), ("function",), f"{param}.type")
    check_keys(choice, ("type", "name"), param)
    if not isinstance(choice.get("name"), str):
        raise missing(f"{param}.name")
    return dict(choice)


def validate_max_output_tokens(value: object, param: str) -> object:
    if value == "inf":
        return value
    if isinstance(value, str):
        raise invalid_value(value, ("inf",), param)
    check_number(value, param, integer=True, minimum=1, maximum=4096)
    return value


def _validate_turn_detection(value: object, current: object, param: str) -> JSON | None:
    if value is None:
        return None
    td = expect_object(value, param)
    kind = td.get("type")
    if kind is None:
        raise missing(f"{param}.type")
    if kind == "server_vad":
        check_keys(
            td,
            (
                "type",
                "threshold",
                "prefix_padding_ms",
                "silence_duration_ms",
                "idle_timeout_ms",
                "create_response",
                "interrupt_response",
            ),
            param,
        )
        base = (
            dict(current)
            if isinstance(current, dict) and current.get("type") == "server_vad"
            else default_turn_detection()
        )
        if "threshold" in td:
            check_number(
                td["threshold"], f"{param}.threshold", integer=False, minimum=0.0, maximum=1.0
            )
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            if key in td:
                check_number(td[key], f"{param}.{key}", integer=True, minimum=0)
        if td.get("idle_timeout_ms") is not None:
            check_number(
                td["idle_timeout_ms"],
                f"{param}.idle_timeout_ms",
                integer=True,
                minimum=5000,
                maximum=30000,
            )
    elif kind == "semantic_vad":
        check_keys(td, ("type", "eagerness", "create_response", "interrupt_response"), param)
        base = (
            dict(current)
            if isinstance(current, dict) and current.get("type") == "semantic_vad"
            else {
                "type": "semantic_vad",
                "eagerness": "auto",
                "create_response": True,
                "interrupt_response": True,
            }
        )
        if "eagerness" in td and td["eagerness"] not in ("low", "medium", "high", "auto"):
            raise invalid_value(
                td["eagerness"], ("low", "medium", "high", "auto"), f"{param}.eagerness"
            )
    else:
        raise invalid_value(kind, ("server_vad", "semantic_vad"), f"{param}.type")
    for key in ("create_response", "interrupt_response"):
        if key in td:
            expect_type(td[key], bool, "a boolean", f"{param}.{key}")
    base.update(td)
    return base


def _validate_transcription(value: object, param: str) -> JSON | None:
    if value is None:
        return None
    tr = expect_object(value, param)
    check_keys(tr, ("model", "language", "prompt"), param)
    out: JSON = {"model": DEFAULT_TRANSCRIPTION_MODEL, "language": None, "prompt": None}
    for key in ("model", "language", "prompt"):
        if key in tr:
            if tr[key] is not None:
                expect_type(tr[key], str, "a string", f"{param}.{key}")
            out[key] = tr[key]
    if out["model"] is not None and out["model"] not in TRANSCRIPTION_MODELS:
        raise invalid_value(out["model"], TRANSCRIPTION_MODELS, f"{param}.model")
    return out


def _validate_noise_reduction(value: object, param: str) -> JSON | None:
    if value is None:
        return None
    nr = expect_object(value, param)
    check_keys(nr, ("type",), param)
    if nr.get("type") not in ("near_field", "far_field"):
        raise invalid_value(nr.get("type"), ("near_field", "far_field"), f"{param}.type")
    return dict(nr)


def _merge_audio_input(current: JSON, patch: object, param: str) -> JSON:
    inp = expect_object(patch, param)
    check_keys(inp, ("format", "transcription", "noise_reduction", "turn_detection"), param)
    out = copy.deepcopy(current)
    if "format" in inp:
        out["format"] = validate_format(inp["format"], f"{param}.format")
    if "transcription" in inp:
        out["transcription"] = _validate_transcription(
            inp["transcription"], f"{param}.transcription"
        )
    if "noise_reduction" in inp:
        out["noise_reduction"] = _validate_noise_reduction(
            inp["noise_reduction"], f"{param}.noise_reduction"
        )
    if "turn_detection" in inp:
        out["turn_detection"] = _validate_turn_detection(
            inp["turn_detection"], current.get("turn_detection"), f"{param}.turn_detection"
        )
    return out


def _merge_audio_output(current: JSON, patch: object, param: str, *, voice_locked: bool) -> JSON:
    outp = expect_object(patch, param)
    check_keys(outp, ("format", "voice", "speed"), param)
    out = copy.deepcopy(current)
    if "format" in outp:
        out["format"] = validate_format(outp["format"], f"{param}.format")
    if "voice" in outp:
        voice = validate_voice(outp["voice"], f"{param}.voice")
        if voice_locked and voice != current.get("voice"):
            raise ProtocolError(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                f"{param}.voice",
            )
        out["voice"] = voice
    if "speed" in outp:
        check_number(outp["speed"], f"{param}.speed", integer=False, minimum=0.25, maximum=1.5)
        out["speed"] = outp["speed"]
    return out


REALTIME_KEYS = (
    "type",
    "model",
    "instructions",
    "output_modalities",
    "audio",
    "tools",
    "tool_choice",
    "max_output_tokens",
    "truncation",
    "tracing",
    "prompt",
    "include",
    "reasoning",
    "parallel_tool_calls",
)
TRANSCRIPTION_KEYS = ("type", "audio", "include")


def apply_session_update(
    current: JSON, patch: object, *, param: str = "session", voice_locked: bool = False
) -> JSON:
    """Return the new effective session, or raise :class:`ProtocolError` (nothing applied)."""
    sess = expect_object(patch, param)
    if "type" not in sess:
        raise missing(f"{param}.type")
    kind = sess["type"]
    if kind not in ("realtime", "transcription"):
        raise invalid_value(kind, ("realtime", "transcription"), f"{param}.type")
    if kind != current.get("type"):
        if kind == "transcription":
            message = (
                "Passing a transcription session update event to a realtime session is not allowed."
            )
        else:
            message = (
                "Passing a realtime session update event to a transcription session is not allowed."
            )
        raise ProtocolError("invalid_value", message, f"{param}.type")
    check_keys(sess, REALTIME_KEYS if kind == "realtime" else TRANSCRIPTION_KEYS, param)
    out = copy.deepcopy(current)
    if "model" in sess:
        out["model"] = validate_model(sess["model"], f"{param}.model")
    if "reasoning" in sess:
        out["reasoning"] = validate_reasoning(sess["reasoning"], f"{param}.reasoning")
    if "parallel_tool_calls" in sess:
        # Accepted and checked, not echoed: the session object OpenAI returns
        # (``RealtimeSessionCreateResponse``) has ``reasoning`` but no ``parallel_tool_calls``.
        expect_type(sess["parallel_tool_calls"], bool, "a boolean", f"{param}.parallel_tool_calls")
    if "instructions" in sess:
        value = sess["instructions"]
        if value is not None:
            expect_type(value, str, "a string", f"{param}.instructions")
        out["instructions"] = value or ""
    if "output_modalities" in sess:
        out["output_modalities"] = validate_output_modalities(
            sess["output_modalities"], f"{param}.output_modalities"
        )
    if "tools" in sess:
        out["tools"] = (
            [] if sess["tools"] is None else validate_tools(sess["tools"], f"{param}.tools")
        )
    if "tool_choice" in sess:
        out["tool_choice"] = validate_tool_choice(sess["tool_choice"], f"{param}.tool_choice")
    if "max_output_tokens" in sess:
        out["max_output_tokens"] = validate_max_output_tokens(
            sess["max_output_tokens"], f"{param}.max_output_tokens"
        )
    if "truncation" in sess:
        trunc = sess["truncation"]
        if isinstance(trunc, str) and trunc not in ("auto", "disabled"):
            raise invalid_value(trunc, ("auto", "disabled"), f"{param}.truncation")
        if not isinstance(trunc, str):
            expect_object(trunc, f"{param}.truncation")
        out["truncation"] = trunc
    for key in ("tracing", "prompt", "include"):
        if key in sess:
            out[key] = copy.deepcopy(sess[key])
    if "audio" in sess:
        audio = expect_object(sess["audio"], f"{param}.audio")
        check_keys(
            audio, ("input", "output") if kind == "realtime" else ("input",), f"{param}.audio"
        )
        if "input" in audio:
            out["audio"]["input"] = _merge_audio_input(
                out["audio"]["input"], audio["input"], f"{param}.audio.input"
            )
        if "output" in audio:
            out["audio"]["output"] = _merge_audio_output(
                out["audio"]["output"],
                audio["output"],
                f"{param}.audio.output",
                voice_locked=voice_locked,
            )
    return out
