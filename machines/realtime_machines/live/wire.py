"""Typed GPT-Live events: server and client events normalised into frozen dataclasses.

GPT-Live (``/v1/live/sessions``) is a second protocol beside Realtime, with its own event
names. The catalogue is the official ``openai`` package's ``types/live``: every member of its
server unions (``ServerEvent``, ``ForkServerEvent``, ``ConnectServerEvent``: 30 types) and of
its client unions (``ClientEvent``, ``ForkClientEvent``, ``ConnectClientEvent``: 16 types) has
one class here, with the package's field names.

The rules are Realtime's (:mod:`realtime_machines.wire`), and so is the machinery (the field
specifications are compiled from the annotations by the same code):

* :func:`normalize_server` / :func:`normalize_client` never raise. They return a typed event,
  :class:`~realtime_machines.wire.UnknownEvent` for a well-formed object of an unknown type
  (Live grows additively: "unknown events and fields are preserved"), or
  :class:`~realtime_machines.wire.MalformedEvent` naming every offending field.
* The direction matters: ``session.input_audio.append`` is a client command and also the
  sideband's reflected input; ``transport.dtmf.send`` is the sideband's command and also a
  legacy server notification. Each direction has its own table.
* Unknown extra fields are ignored; ``event_id`` may be missing (audio events have none);
  nested objects (``session``, ``usage``, ``delegation``, ``event``, ``item``, ``error``) stay
  ``Mapping[str, Any]``, passed through and not validated.
* ``raw`` is the object as received; :meth:`LiveEvent.to_wire` gives the event back as a wire
  object (the known fields only, ``None`` left out).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias, cast

from ..wire import MalformedEvent, UnknownEvent, _compile, _kind, _problems, _str_or_none

__all__ = [
    "CLIENT_EVENT_CLASSES",
    "LIVE_ONLY_EVENT_TYPES",
    "SERVER_EVENT_CLASSES",
    "CommentaryAppend",
    "CommentaryAppended",
    "DecisionCreate",
    "DecisionEvent",
    "DecisionItemCreate",
    "DecisionItemCreated",
    "DecisionItemDelete",
    "DecisionItemDeleted",
    "DelegationCreated",
    "ErrorEvent",
    "InfoEvent",
    "InputAudioAppend",
    "InputAudioMute",
    "InputAudioMuted",
    "InputAudioReflected",
    "InputAudioUnmute",
    "InputAudioUnmuted",
    "InputTranscriptDelta",
    "InstructionsAppend",
    "InstructionsAppended",
    "LiveClientEvent",
    "LiveEvent",
    "LiveServerEvent",
    "NormalizedClientEvent",
    "NormalizedServerEvent",
    "OutputAudioDelta",
    "OutputAudioFixturePlay",
    "OutputAudioFixturePlayed",
    "OutputAudioFixturePlaying",
    "OutputTranscriptDelta",
    "ResponseCreate",
    "ResponseEvent",
    "ResponseItemCreate",
    "SessionClose",
    "SessionClosed",
    "SessionPaused",
    "SessionResumed",
    "SessionStart",
    "SessionStarted",
    "SessionUpdate",
    "SessionUpdated",
    "SessionUsageUpdated",
    "ThinkingAppend",
    "ThinkingAppended",
    "TransportAnswered",
    "TransportDtmfReceived",
    "TransportDtmfSend",
    "TransportDtmfSendNotice",
    "TransportDtmfSent",
    "TransportFailed",
    "TransportRinging",
    "normalize_client",
    "normalize_server",
]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveEvent:
    """Base of every typed Live event; ``TYPE`` is its type string."""

    TYPE: ClassVar[str] = ""
    DIRECTION: ClassVar[Literal["server", "client"]] = "server"

    event_id: str | None = None
    wire_type: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.wire_type:
            object.__setattr__(self, "wire_type", self.TYPE)

    @property
    def type(self) -> str:
        """The event's type string."""
        return self.TYPE

    def to_wire(self) -> dict[str, Any]:
        """The event as a wire object: ``type``, ``event_id`` when set, the fields not ``None``."""
        out: dict[str, Any] = {"type": self.TYPE}
        for f in dataclasses.fields(self):
            if f.name in ("wire_type", "raw"):
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveServerEvent(LiveEvent):
    """Base of the server events."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveClientEvent(LiveEvent):
    """Base of the client events (commands)."""

    DIRECTION: ClassVar[Literal["server", "client"]] = "client"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Acked(LiveServerEvent):
    """A server event that may name the client command it answers."""

    client_event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Timed(_Acked):
    """An event on the session timeline: ``[start_ms, end_ms)`` from the session's start."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class _Transcript(_Timed):
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Session(_Acked):
    """An event carrying the session resource (``id``, ``expires_at``, ``model`` ...)."""

    session: Mapping[str, Any]

    @property
    def session_id(self) -> str | None:
        """``session.id`` (``live_…``, opaque)."""
        return _str_or_none(self.session.get("id"))

    @property
    def expires_at(self) -> int | None:
        """``session.expires_at`` (unix seconds)."""
        return _int(self.session.get("expires_at"))

    @property
    def delegation_type(self) -> str | None:
        """``session.delegation.type`` (``client``, ``responses``, ``decisions``), ``None`` for
        the default (client) delegation."""
        delegation = self.session.get("delegation")
        return _str_or_none(delegation.get("type")) if isinstance(delegation, Mapping) else None


# --------------------------------------------------------------------------------------------
# Server events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(_Session):
    """``session.started``: the session runs, with its resolved configuration."""

    TYPE: ClassVar[str] = "session.started"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUpdated(_Session):
    """``session.updated``: the full resolved configuration after a ``session.update``."""

    TYPE: ClassVar[str] = "session.updated"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPaused(_Acked):
    """``session.paused``: the idle timeout paused inference (WebRTC standby)."""

    TYPE: ClassVar[str] = "session.paused"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResumed(_Acked):
    """``session.resumed``: speech resumed paused inference."""

    TYPE: ClassVar[str] = "session.resumed"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioMuted(_Acked):
    """``session.input_audio.muted``: the model now hears silence."""

    TYPE: ClassVar[str] = "session.input_audio.muted"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioUnmuted(_Acked):
    """``session.input_audio.unmuted``."""

    TYPE: ClassVar[str] = "session.input_audio.unmuted"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioFixturePlaying(_Acked):
    """``session.output_audio.fixture.playing``: a fixture was accepted."""

    TYPE: ClassVar[str] = "session.output_audio.fixture.playing"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioFixturePlayed(_Acked):
    """``session.output_audio.fixture.played``: drained from the mixer; inference resumed."""

    TYPE: ClassVar[str] = "session.output_audio.fixture.played"


@dataclass(frozen=True, slots=True, kw_only=True)
class InstructionsAppended(_Timed):
    """``session.instructions.appended``: accepted into the timeline (not proof of speech)."""

    TYPE: ClassVar[str] = "session.instructions.appended"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThinkingAppended(_Timed):
    """``session.thinking.appended``."""

    TYPE: ClassVar[str] = "session.thinking.appended"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentaryAppended(_Timed):
    """``session.commentary.appended``."""

    TYPE: ClassVar[str] = "session.commentary.appended"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioReflected(LiveServerEvent):
    """``session.input_audio.append`` as a *server* event: the sideband's reflected input
    (PCM16LE 24 kHz mono, no ``event_id``); not an acknowledgement."""

    TYPE: ClassVar[str] = "session.input_audio.append"
    audio: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioDelta(LiveServerEvent):
    """``session.output_audio.delta``: no ``event_id``; timing only when reflected to a
    sideband."""

    TYPE: ClassVar[str] = "session.output_audio.delta"
    delta: str
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTranscriptDelta(_Transcript):
    """``session.input_transcript.delta``: a fragment of the user's speech; no turn, no done."""

    TYPE: ClassVar[str] = "session.input_transcript.delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputTranscriptDelta(_Transcript):
    """``session.output_transcript.delta``: a fragment of the assistant's speech."""

    TYPE: ClassVar[str] = "session.output_transcript.delta"


@dataclass(frozen=True, slots=True, kw_only=True)
class DelegationCreated(_Acked):
    """``session.delegation.created``: metadata only (no task text)."""

    TYPE: ClassVar[str] = "session.delegation.created"
    delegation: Mapping[str, Any]
    offset_ms: int

    @property
    def delegation_id(self) -> str | None:
        """``delegation.id`` (``item_…``, opaque; not a response or call id)."""
        return _str_or_none(self.delegation.get("id"))

    @property
    def target(self) -> str | None:
        """``delegation.target``: ``client``, ``responses`` or ``decisions``."""
        return _str_or_none(self.delegation.get("target"))

    @property
    def response_id(self) -> str | None:
        """``delegation.response_id`` (Responses delegation)."""
        return _str_or_none(self.delegation.get("response_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseEvent(_Acked):
    """``response.event``: one nested Responses streaming event of a delegation."""

    TYPE: ClassVar[str] = "response.event"
    event: Mapping[str, Any]
    delegation_id: str | None = None

    @property
    def nested_type(self) -> str | None:
        """``event.type`` (``response.created``, ``response.output_item.done`` ...)."""
        return _str_or_none(self.event.get("type"))


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionEvent(LiveServerEvent):
    """``decision.event``: a decisions delegation's result, or a trigger firing."""

    TYPE: ClassVar[str] = "decision.event"
    event: Mapping[str, Any]
    delegation_id: str | None = None
    trigger_id: str | None = None
    source_event_id: str | None = None
    source_event_type: str | None = None

    @property
    def nested_type(self) -> str | None:
        """``event.type`` (``decision.completed``)."""
        return _str_or_none(self.event.get("type"))


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionItemCreated(_Acked):
    """``decision.item.created``: a shared Decision item, with its server ``id``."""

    TYPE: ClassVar[str] = "decision.item.created"
    item: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionItemDeleted(_Acked):
    """``decision.item.deleted``."""

    TYPE: ClassVar[str] = "decision.item.deleted"
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUsageUpdated(_Acked):
    """``session.usage.updated``: a snapshot (never sum them)."""

    TYPE: ClassVar[str] = "session.usage.updated"
    usage: Mapping[str, Any]
    context_window: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClosed(_Session):
    """``session.closed``: the only proof of finalization, with the reason and final usage."""

    TYPE: ClassVar[str] = "session.closed"
    reason: str
    usage: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent(_Acked):
    """``error``: ``error.client_event_id`` names the failed command when known."""

    TYPE: ClassVar[str] = "error"
    error: Mapping[str, Any]

    @property
    def code(self) -> str | None:
        """``error.code`` (may be null on the wire)."""
        return _str_or_none(self.error.get("code"))

    @property
    def message(self) -> str | None:
        """``error.message``."""
        return _str_or_none(self.error.get("message"))

    @property
    def failed_event_id(self) -> str | None:
        """The command at fault: ``error.client_event_id``, else the outer one."""
        return _str_or_none(self.error.get("client_event_id")) or self.client_event_id


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoEvent(_Acked):
    """``info``: a notice (e.g. ``data_channel_permissions``)."""

    TYPE: ClassVar[str] = "info"
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportDtmfReceived(LiveServerEvent):
    """``transport.dtmf.received``: a caller's key press (sideband, SIP)."""

    TYPE: ClassVar[str] = "transport.dtmf.received"
    event: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportDtmfSendNotice(_Acked):
    """``transport.dtmf.send`` as a *server* event: the legacy delivery notification."""

    TYPE: ClassVar[str] = "transport.dtmf.send"
    event: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportDtmfSent(_Acked):
    """``transport.dtmf.sent``: a ``transport.dtmf.send`` went out."""

    TYPE: ClassVar[str] = "transport.dtmf.sent"
    event: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportRinging(LiveServerEvent):
    """``transport.ringing``: the outbound SIP leg rings."""

    TYPE: ClassVar[str] = "transport.ringing"
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportAnswered(LiveServerEvent):
    """``transport.answered``: the outbound SIP leg answered."""

    TYPE: ClassVar[str] = "transport.answered"
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFailed(LiveServerEvent):
    """``transport.failed``: the outbound SIP setup failed."""

    TYPE: ClassVar[str] = "transport.failed"
    session_id: str
    error: Mapping[str, Any]


# --------------------------------------------------------------------------------------------
# Client events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStart(LiveClientEvent):
    """``session.start``: the first message of a primary or fork WebSocket."""

    TYPE: ClassVar[str] = "session.start"
    session: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUpdate(LiveClientEvent):
    """``session.update``: delegation settings and triggers only."""

    TYPE: ClassVar[str] = "session.update"
    session: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioAppend(LiveClientEvent):
    """``session.input_audio.append``: input audio on a WebSocket (never acknowledged)."""

    TYPE: ClassVar[str] = "session.input_audio.append"
    audio: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioMute(LiveClientEvent):
    """``session.input_audio.mute``."""

    TYPE: ClassVar[str] = "session.input_audio.mute"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioUnmute(LiveClientEvent):
    """``session.input_audio.unmute``."""

    TYPE: ClassVar[str] = "session.input_audio.unmute"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioFixturePlay(LiveClientEvent):
    """``session.output_audio.fixture.play``: raw PCM16 24 kHz, at most 30 s."""

    TYPE: ClassVar[str] = "session.output_audio.fixture.play"
    audio: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Append(LiveClientEvent):
    content: str
    delegation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InstructionsAppend(_Append):
    """``session.instructions.append``: trusted instructions; may interrupt speech."""

    TYPE: ClassVar[str] = "session.instructions.append"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThinkingAppend(_Append):
    """``session.thinking.append``: silent context (progress, facts)."""

    TYPE: ClassVar[str] = "session.thinking.append"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentaryAppend(_Append):
    """``session.commentary.append``: content for the model to say (paraphrased)."""

    TYPE: ClassVar[str] = "session.commentary.append"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionCreate(LiveClientEvent):
    """``decision.create``: its ``event_id`` is required by the server (checked there)."""

    TYPE: ClassVar[str] = "decision.create"


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionItemCreate(LiveClientEvent):
    """``decision.item.create``."""

    TYPE: ClassVar[str] = "decision.item.create"
    item: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionItemDelete(LiveClientEvent):
    """``decision.item.delete``."""

    TYPE: ClassVar[str] = "decision.item.delete"
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseItemCreate(LiveClientEvent):
    """``response.item.create``: a Responses input item (e.g. a ``function_call_output``)."""

    TYPE: ClassVar[str] = "response.item.create"
    item: Mapping[str, Any]

    @property
    def call_id(self) -> str | None:
        """``item.call_id`` of a function call output."""
        return _str_or_none(self.item.get("call_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCreate(LiveClientEvent):
    """``response.create``: start or continue backend work (does not make the voice speak)."""

    TYPE: ClassVar[str] = "response.create"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClose(LiveClientEvent):
    """``session.close``: answered by ``session.closed``."""

    TYPE: ClassVar[str] = "session.close"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportDtmfSend(LiveClientEvent):
    """``transport.dtmf.send``: one key to a SIP call (sideband only)."""

    TYPE: ClassVar[str] = "transport.dtmf.send"
    event: str


# --------------------------------------------------------------------------------------------
# Tables and normalisation
# --------------------------------------------------------------------------------------------

_SERVER: tuple[type[LiveServerEvent], ...] = (
    SessionStarted,
    SessionUpdated,
    SessionPaused,
    SessionResumed,
    InputAudioMuted,
    InputAudioUnmuted,
    OutputAudioFixturePlaying,
    OutputAudioFixturePlayed,
    InstructionsAppended,
    ThinkingAppended,
    CommentaryAppended,
    InputAudioReflected,
    OutputAudioDelta,
    InputTranscriptDelta,
    OutputTranscriptDelta,
    DelegationCreated,
    ResponseEvent,
    DecisionEvent,
    DecisionItemCreated,
    DecisionItemDeleted,
    SessionUsageUpdated,
    SessionClosed,
    ErrorEvent,
    InfoEvent,
    TransportDtmfReceived,
    TransportDtmfSendNotice,
    TransportDtmfSent,
    TransportRinging,
    TransportAnswered,
    TransportFailed,
)
_CLIENT: tuple[type[LiveClientEvent], ...] = (
    SessionStart,
    SessionUpdate,
    InputAudioAppend,
    InputAudioMute,
    InputAudioUnmute,
    OutputAudioFixturePlay,
    InstructionsAppend,
    ThinkingAppend,
    CommentaryAppend,
    DecisionCreate,
    DecisionItemCreate,
    DecisionItemDelete,
    ResponseItemCreate,
    ResponseCreate,
    SessionClose,
    TransportDtmfSend,
)

SERVER_EVENT_CLASSES: Mapping[str, type[LiveServerEvent]] = types.MappingProxyType(
    {cls.TYPE: cls for cls in _SERVER}
)
"""Live server event type → its class (all 30)."""

CLIENT_EVENT_CLASSES: Mapping[str, type[LiveClientEvent]] = types.MappingProxyType(
    {cls.TYPE: cls for cls in _CLIENT}
)
"""Live client event type → its class (all 16)."""

#: The Live event types a Realtime event has too (a Realtime trace may start with them).
SHARED_EVENT_TYPES: frozenset[str] = frozenset(
    {"error", "response.create", "session.update", "session.updated"}
)
#: Types that only Live uses (no Realtime event has these names): a trace holding one is a
#: Live trace. The :data:`SHARED_EVENT_TYPES` are not in it.
LIVE_ONLY_EVENT_TYPES: frozenset[str] = frozenset(
    name
    for name in (*SERVER_EVENT_CLASSES, *CLIENT_EVENT_CLASSES)
    if name not in SHARED_EVENT_TYPES
)

NormalizedServerEvent: TypeAlias = LiveServerEvent | UnknownEvent | MalformedEvent
NormalizedClientEvent: TypeAlias = LiveClientEvent | UnknownEvent | MalformedEvent

_Spec: TypeAlias = tuple[type[LiveEvent], tuple[Any, ...], tuple[Any, ...]]
_SERVER_SPECS: dict[str, _Spec] = {cls.TYPE: _compile(cls) for cls in _SERVER}
_CLIENT_SPECS: dict[str, _Spec] = {cls.TYPE: _compile(cls) for cls in _CLIENT}


def _normalize(
    raw: object, specs: Mapping[str, _Spec]
) -> LiveEvent | UnknownEvent | MalformedEvent:
    try:
        if not isinstance(raw, Mapping):
            return MalformedEvent(
                type=None, problems=(f"event must be a JSON object, got {_kind(raw)}",), raw=raw
            )
        wire_type = raw.get("type")
        if not isinstance(wire_type, str):
            problem = (
                "missing required field 'type'"
                if "type" not in raw
                else f"field 'type' must be a string, got {_kind(wire_type)}"
            )
            return MalformedEvent(type=None, problems=(problem,), raw=raw)
        spec = specs.get(wire_type)
        if spec is None:
            return UnknownEvent(type=wire_type, raw=raw)
        cls, fast, checks = spec
        event_id = raw.get("event_id")
        values: dict[str, Any] = {}
        ok = event_id is None or isinstance(event_id, str)
        for key, _exact, accepts, required, _setter in fast:
            value = raw.get(key)
            if (required or value is not None) and not accepts(value):
                ok = False
                break
            values[key] = value
        if not ok:
            return MalformedEvent(type=wire_type, problems=_problems(raw, checks), raw=raw)
        return cls(event_id=event_id, wire_type=wire_type, raw=raw, **values)
    except Exception as exc:  # a hostile Mapping or str subclass: never raise
        return MalformedEvent(
            type=None, problems=(f"event could not be read: {type(exc).__name__}",), raw=raw
        )


def normalize_server(raw: object) -> NormalizedServerEvent:
    """Type one Live server event (a parsed JSON object). Never raises."""
    return cast(NormalizedServerEvent, _normalize(raw, _SERVER_SPECS))


def normalize_client(raw: object) -> NormalizedClientEvent:
    """Type one Live client event (a command the client sends). Never raises."""
    return cast(NormalizedClientEvent, _normalize(raw, _CLIENT_SPECS))
