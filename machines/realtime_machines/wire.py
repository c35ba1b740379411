"""Typed server events: the normalisation of raw wire dicts into frozen dataclasses.

Every message the Realtime server sends is one JSON object with a string ``type``. The shell
parses the JSON once and hands the resulting dict to :func:`normalize`, which returns exactly
one of three things and never raises, whatever it is given:

* a :class:`ServerEvent` subclass, one per GA server event type (46 of them, see
  :data:`EVENT_CLASSES`). Its fields are the event's own top-level fields with plain Python
  types (``str``, ``int``, ``float``, ``str | None`` ...). Nested objects (``item``,
  ``response``, ``session``, ``part``, ``error`` ...) stay ``Mapping[str, Any]`` and lists stay
  ``Sequence[Any]``; they are passed through, not copied and not validated. Optional fields
  default to ``None``. A few read-only properties pull out what the model needs from nested
  objects (``ResponseDone.status``, ``ConversationItemAdded.role``, ``ErrorEvent.code`` ...).
* :class:`UnknownEvent` for a well-formed object whose ``type`` is not known. This is never an
  error: the API grows additively and the model only counts and logs these.
* :class:`MalformedEvent` for anything that cannot be typed: not a JSON object, no string
  ``type``, a required field missing, or a field of the wrong type (``bool`` is not accepted
  where an integer is expected). ``problems`` names every offending field.

Rules shared by all events:

* Unknown extra fields are ignored (live deltas carry an undocumented ``obfuscation`` string).
* ``event_id`` may be missing (it is then ``None``): the SIP-only DTMF event has none, and test
  scripts often feed bare events. When present it must be a string.
* GA names are primary. Legacy beta names (and a few names used only by older client
  libraries) are mapped onto the GA classes by :data:`BETA_ALIASES`; ``wire_type`` keeps the
  ``type`` string exactly as it arrived while ``type`` is always the GA name. The pseudo-events
  ``response.canceled`` and ``response.completed`` carry only a top-level ``response_id``; they
  become a :class:`ResponseDone` whose ``response`` is synthesised as
  ``{"id": <response_id>, "status": "cancelled" | "completed"}``.
* ``raw`` is the object as received (never copied). It takes no part in ``repr`` or ``==``.
  Events built directly in code get an empty ``raw`` and, unless given, ``wire_type == type``.

:func:`normalize` runs for every streamed delta, so it is table-driven: one dict lookup on the
type, then a loop over a field specification compiled when this module is imported. Building
the event skips the dataclass ``__init__`` and fills the slots directly.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import (
    Any,
    ClassVar,
    TypeAlias,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

__all__ = [
    "BETA_ALIASES",
    "EVENT_CLASSES",
    "GA_SERVER_EVENT_TYPES",
    "ConversationCreated",
    "ConversationItemAdded",
    "ConversationItemCreated",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemInputAudioTranscriptionCompleted",
    "ConversationItemInputAudioTranscriptionDelta",
    "ConversationItemInputAudioTranscriptionFailed",
    "ConversationItemInputAudioTranscriptionSegment",
    "ConversationItemRetrieved",
    "ConversationItemTruncated",
    "ErrorEvent",
    "InputAudioBufferCleared",
    "InputAudioBufferCommitted",
    "InputAudioBufferDtmfEventReceived",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "MalformedEvent",
    "McpListToolsCompleted",
    "McpListToolsFailed",
    "McpListToolsInProgress",
    "NormalizedEvent",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "RateLimitsUpdated",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseMcpCallArgumentsDelta",
    "ResponseMcpCallArgumentsDone",
    "ResponseMcpCallCompleted",
    "ResponseMcpCallFailed",
    "ResponseMcpCallInProgress",
    "ResponseOutputAudioDelta",
    "ResponseOutputAudioDone",
    "ResponseOutputAudioTranscriptDelta",
    "ResponseOutputAudioTranscriptDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseOutputTextDelta",
    "ResponseOutputTextDone",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdated",
    "UnknownEvent",
    "normalize",
]


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerEvent:
    """Base of the 46 typed GA server events.

    ``TYPE`` (and the ``type`` property) is the GA type string; ``wire_type`` is the ``type``
    as it arrived, which differs for legacy aliases (``response.text.delta`` ...).
    """

    TYPE: ClassVar[str] = ""

    event_id: str | None = None
    wire_type: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Only runs for events built in code; normalize() fills the slots directly.
        if not self.wire_type:
            object.__setattr__(self, "wire_type", self.TYPE)

    @property
    def type(self) -> str:
        """The GA type string of this event."""
        return self.TYPE


@dataclass(frozen=True, slots=True, kw_only=True)
class _ItemEvent(ServerEvent):
    """An event carrying one conversation ``item`` object."""

    item: Mapping[str, Any]

    @property
    def item_id(self) -> str | None:
        """``item.id``."""
        return _str_or_none(self.item.get("id"))

    @property
    def item_type(self) -> str | None:
        """``item.type`` (``message``, ``function_call``, ``function_call_output``, ``mcp_*``)."""
        return _str_or_none(self.item.get("type"))

    @property
    def role(self) -> str | None:
        """``item.role`` for message items (``user``, ``assistant``, ``system``), else ``None``."""
        return _str_or_none(self.item.get("role"))

    @property
    def phase(self) -> str | None:
        """``item.phase`` of an assistant message (``commentary``: a preamble; ``final_answer``:
        the answer), else ``None``. Reasoning models (``gpt-realtime-2*``) may send several
        messages per response, each with its phase; it is not in openai's typed models."""
        return _str_or_none(self.item.get("phase"))


@dataclass(frozen=True, slots=True, kw_only=True)
class _ResponseEvent(ServerEvent):
    """An event carrying one ``response`` resource."""

    response: Mapping[str, Any]

    @property
    def response_id(self) -> str | None:
        """``response.id`` (``resp_…``)."""
        return _str_or_none(self.response.get("id"))

    @property
    def status(self) -> str | None:
        """``response.status``: in_progress, completed, cancelled, failed or incomplete."""
        return _str_or_none(self.response.get("status"))

    @property
    def status_details(self) -> Mapping[str, Any] | None:
        """``response.status_details`` (``{type, reason?, error?}``) or ``None``."""
        details = self.response.get("status_details")
        return details if isinstance(details, Mapping) else None


# --------------------------------------------------------------------------------------------
# Session and conversation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionCreated(ServerEvent):
    """``session.created``: first event of a session, with the default configuration."""

    TYPE: ClassVar[str] = "session.created"
    session: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUpdated(ServerEvent):
    """``session.updated``: the full effective configuration after a ``session.update``."""

    TYPE: ClassVar[str] = "session.updated"
    session: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationCreated(ServerEvent):
    """``conversation.created``: in the schema, not seen in recorded GA traffic."""

    TYPE: ClassVar[str] = "conversation.created"
    conversation: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemCreated(_ItemEvent):
    """``conversation.item.created``: kept in the GA union; GA servers send added/done."""

    TYPE: ClassVar[str] = "conversation.item.created"
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemAdded(_ItemEvent):
    """``conversation.item.added``: an item entered the conversation (may still be empty)."""

    TYPE: ClassVar[str] = "conversation.item.added"
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemDone(_ItemEvent):
    """``conversation.item.done``: an item is final (full content except audio bytes)."""

    TYPE: ClassVar[str] = "conversation.item.done"
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemRetrieved(_ItemEvent):
    """``conversation.item.retrieved``: reply to ``conversation.item.retrieve`` (with audio).

    The schema has no ``previous_item_id`` here; the field exists for symmetry with the other
    item events and is ``None`` unless a server sends it.
    """

    TYPE: ClassVar[str] = "conversation.item.retrieved"
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemTruncated(ServerEvent):
    """``conversation.item.truncated``: an assistant audio item was cut at ``audio_end_ms``."""

    TYPE: ClassVar[str] = "conversation.item.truncated"
    item_id: str
    content_index: int
    audio_end_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemDeleted(ServerEvent):
    """``conversation.item.deleted``: reply to ``conversation.item.delete``."""

    TYPE: ClassVar[str] = "conversation.item.deleted"
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemInputAudioTranscriptionDelta(ServerEvent):
    """``conversation.item.input_audio_transcription.delta``: user transcript increment."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.delta"
    item_id: str
    content_index: int | None = None
    delta: str | None = None
    logprobs: Sequence[Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemInputAudioTranscriptionCompleted(ServerEvent):
    """``conversation.item.input_audio_transcription.completed``: final user transcript."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.completed"
    item_id: str
    content_index: int
    transcript: str
    # Required by the schema, but optional here: a server that omits it must not cost the
    # user their transcript.
    usage: Mapping[str, Any] | None = None
    logprobs: Sequence[Any] | None = None
    languages: Sequence[Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemInputAudioTranscriptionFailed(ServerEvent):
    """``conversation.item.input_audio_transcription.failed``: transcribing a user item failed."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.failed"
    item_id: str
    content_index: int
    error: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemInputAudioTranscriptionSegment(ServerEvent):
    """``conversation.item.input_audio_transcription.segment``: a diarized segment."""

    TYPE: ClassVar[str] = "conversation.item.input_audio_transcription.segment"
    id: str
    item_id: str
    content_index: int
    text: str
    speaker: str
    start: float
    end: float


# --------------------------------------------------------------------------------------------
# Input audio buffer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferSpeechStarted(ServerEvent):
    """``input_audio_buffer.speech_started``: VAD detected speech (``item_id`` = future item)."""

    TYPE: ClassVar[str] = "input_audio_buffer.speech_started"
    audio_start_ms: int
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferSpeechStopped(ServerEvent):
    """``input_audio_buffer.speech_stopped``: VAD detected the end of speech."""

    TYPE: ClassVar[str] = "input_audio_buffer.speech_stopped"
    audio_end_ms: int
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferCommitted(ServerEvent):
    """``input_audio_buffer.committed``: the buffer became user item ``item_id``."""

    TYPE: ClassVar[str] = "input_audio_buffer.committed"
    item_id: str
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferCleared(ServerEvent):
    """``input_audio_buffer.cleared``: reply to ``input_audio_buffer.clear``."""

    TYPE: ClassVar[str] = "input_audio_buffer.cleared"


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferTimeoutTriggered(ServerEvent):
    """``input_audio_buffer.timeout_triggered``: the server VAD idle timeout fired."""

    TYPE: ClassVar[str] = "input_audio_buffer.timeout_triggered"
    audio_start_ms: int
    audio_end_ms: int
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferDtmfEventReceived(ServerEvent):
    """``input_audio_buffer.dtmf_event_received`` (SIP only): a keypad press; no ``event_id``."""

    TYPE: ClassVar[str] = "input_audio_buffer.dtmf_event_received"
    event: str
    received_at: int


# --------------------------------------------------------------------------------------------
# Errors and rate limits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent(ServerEvent):
    """``error``: usually recoverable; ``client_event_id`` names the client event at fault."""

    TYPE: ClassVar[str] = "error"
    error: Mapping[str, Any]

    @property
    def code(self) -> str | None:
        """``error.code`` (``invalid_value``, ``conversation_already_has_active_response`` ...)."""
        return _str_or_none(self.error.get("code"))

    @property
    def message(self) -> str | None:
        """``error.message``."""
        return _str_or_none(self.error.get("message"))

    @property
    def error_type(self) -> str | None:
        """``error.type`` (``invalid_request_error``, ``server_error`` ...)."""
        return _str_or_none(self.error.get("type"))

    @property
    def param(self) -> str | None:
        """``error.param``."""
        return _str_or_none(self.error.get("param"))

    @property
    def client_event_id(self) -> str | None:
        """``error.event_id``: the ``event_id`` of the client event that caused the error."""
        return _str_or_none(self.error.get("event_id"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitsUpdated(ServerEvent):
    """``rate_limits.updated``: ``[{name, limit, remaining, reset_seconds}]``."""

    TYPE: ClassVar[str] = "rate_limits.updated"
    rate_limits: Sequence[Any]


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCreated(_ResponseEvent):
    """``response.created``: a response started (``status`` is ``in_progress``)."""

    TYPE: ClassVar[str] = "response.created"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseDone(_ResponseEvent):
    """``response.done``: a response ended (completed, cancelled, failed or incomplete)."""

    TYPE: ClassVar[str] = "response.done"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputItemAdded(_ItemEvent):
    """``response.output_item.added``: a new output item of a response."""

    TYPE: ClassVar[str] = "response.output_item.added"
    response_id: str
    output_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputItemDone(_ItemEvent):
    """``response.output_item.done``: an output item is finished."""

    TYPE: ClassVar[str] = "response.output_item.done"
    response_id: str
    output_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseContentPartAdded(ServerEvent):
    """``response.content_part.added``: ``part.type`` is ``text`` or ``audio``."""

    TYPE: ClassVar[str] = "response.content_part.added"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseContentPartDone(ServerEvent):
    """``response.content_part.done``: a content part is finished."""

    TYPE: ClassVar[str] = "response.content_part.done"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputTextDelta(ServerEvent):
    """``response.output_text.delta`` (beta: ``response.text.delta``)."""

    TYPE: ClassVar[str] = "response.output_text.delta"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputTextDone(ServerEvent):
    """``response.output_text.done`` (beta: ``response.text.done``): the full text."""

    TYPE: ClassVar[str] = "response.output_text.done"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputAudioDelta(ServerEvent):
    """``response.output_audio.delta`` (beta: ``response.audio.delta``): base64 audio.

    WebSocket only in practice; over WebRTC the audio travels as RTP.
    """

    TYPE: ClassVar[str] = "response.output_audio.delta"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputAudioDone(ServerEvent):
    """``response.output_audio.done`` (beta: ``response.audio.done``)."""

    TYPE: ClassVar[str] = "response.output_audio.done"
    response_id: str
    item_id: str
    output_index: int
    content_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputAudioTranscriptDelta(ServerEvent):
    """``response.output_audio_transcript.delta`` (beta: ``response.audio_transcript.delta``)."""

    TYPE: ClassVar[str] = "response.output_audio_transcript.delta"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseOutputAudioTranscriptDone(ServerEvent):
    """``response.output_audio_transcript.done`` (beta: ``response.audio_transcript.done``)."""

    TYPE: ClassVar[str] = "response.output_audio_transcript.done"
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    transcript: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseFunctionCallArgumentsDelta(ServerEvent):
    """``response.function_call_arguments.delta``: a piece of the JSON arguments string."""

    TYPE: ClassVar[str] = "response.function_call_arguments.delta"
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseFunctionCallArgumentsDone(ServerEvent):
    """``response.function_call_arguments.done``: the complete JSON arguments string.

    ``name`` is optional here although current GA servers always send it: the beta event and
    openai-python up to 1.109 do not have it, and a tool call must not be lost over that.
    """

    TYPE: ClassVar[str] = "response.function_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    arguments: str
    name: str | None = None


# --------------------------------------------------------------------------------------------
# MCP
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class McpListToolsInProgress(ServerEvent):
    """``mcp_list_tools.in_progress``."""

    TYPE: ClassVar[str] = "mcp_list_tools.in_progress"
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class McpListToolsCompleted(ServerEvent):
    """``mcp_list_tools.completed``."""

    TYPE: ClassVar[str] = "mcp_list_tools.completed"
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class McpListToolsFailed(ServerEvent):
    """``mcp_list_tools.failed``."""

    TYPE: ClassVar[str] = "mcp_list_tools.failed"
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseMcpCallArgumentsDelta(ServerEvent):
    """``response.mcp_call_arguments.delta``: a piece of an MCP call's JSON arguments."""

    TYPE: ClassVar[str] = "response.mcp_call_arguments.delta"
    response_id: str
    item_id: str
    output_index: int
    delta: str
    obfuscation: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseMcpCallArgumentsDone(ServerEvent):
    """``response.mcp_call_arguments.done``: an MCP call's complete JSON arguments."""

    TYPE: ClassVar[str] = "response.mcp_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int
    arguments: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseMcpCallInProgress(ServerEvent):
    """``response.mcp_call.in_progress``."""

    TYPE: ClassVar[str] = "response.mcp_call.in_progress"
    item_id: str
    output_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseMcpCallCompleted(ServerEvent):
    """``response.mcp_call.completed``."""

    TYPE: ClassVar[str] = "response.mcp_call.completed"
    item_id: str
    output_index: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseMcpCallFailed(ServerEvent):
    """``response.mcp_call.failed``."""

    TYPE: ClassVar[str] = "response.mcp_call.failed"
    item_id: str
    output_index: int


# --------------------------------------------------------------------------------------------
# Output audio buffer (WebRTC / SIP only)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioBufferStarted(ServerEvent):
    """``output_audio_buffer.started``: the server began playing audio of ``response_id``."""

    TYPE: ClassVar[str] = "output_audio_buffer.started"
    response_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioBufferStopped(ServerEvent):
    """``output_audio_buffer.stopped``: playback drained; comes after ``response.done``."""

    TYPE: ClassVar[str] = "output_audio_buffer.stopped"
    response_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioBufferCleared(ServerEvent):
    """``output_audio_buffer.cleared``: playback cut (VAD barge-in or client clear)."""

    TYPE: ClassVar[str] = "output_audio_buffer.cleared"
    response_id: str


# --------------------------------------------------------------------------------------------
# Events that could not be typed
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A well-formed event object whose ``type`` this module does not know."""

    type: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def event_id(self) -> str | None:
        """The ``event_id`` of the raw object when it is a string, else ``None``."""
        return _str_or_none(self.raw.get("event_id"))


@dataclass(frozen=True, slots=True)
class MalformedEvent:
    """Something that arrived as an event but cannot be typed; ``problems`` says why."""

    type: str | None
    problems: tuple[str, ...]
    raw: object = field(repr=False, compare=False)


NormalizedEvent: TypeAlias = ServerEvent | UnknownEvent | MalformedEvent
"""What :func:`normalize` returns."""


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

_CLASSES: tuple[type[ServerEvent], ...] = (
    SessionCreated,
    SessionUpdated,
    ConversationCreated,
    ConversationItemCreated,
    ConversationItemAdded,
    ConversationItemDone,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemInputAudioTranscriptionSegment,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferCommitted,
    InputAudioBufferCleared,
    InputAudioBufferTimeoutTriggered,
    InputAudioBufferDtmfEventReceived,
    ErrorEvent,
    RateLimitsUpdated,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    McpListToolsInProgress,
    McpListToolsCompleted,
    McpListToolsFailed,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseMcpCallInProgress,
    ResponseMcpCallCompleted,
    ResponseMcpCallFailed,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputAudioBufferCleared,
)

EVENT_CLASSES: Mapping[str, type[ServerEvent]] = types.MappingProxyType(
    {cls.TYPE: cls for cls in _CLASSES}
)
"""GA server event type → its class (all 46)."""

GA_SERVER_EVENT_TYPES: frozenset[str] = frozenset(EVENT_CLASSES)
"""The 46 GA server event type strings."""

# Seed-only pseudo-events that carry just a top-level ``response_id``: wire type → status.
_SYNTHETIC_DONE_STATUS: Mapping[str, str] = types.MappingProxyType(
    {"response.canceled": "cancelled", "response.completed": "completed"}
)

BETA_ALIASES: Mapping[str, str] = types.MappingProxyType(
    {
        # beta names (openai.types.beta.realtime)
        "response.text.delta": "response.output_text.delta",
        "response.text.done": "response.output_text.done",
        "response.audio.delta": "response.output_audio.delta",
        "response.audio.done": "response.output_audio.done",
        "response.audio_transcript.delta": "response.output_audio_transcript.delta",
        "response.audio_transcript.done": "response.output_audio_transcript.done",
        "transcription_session.created": "session.created",
        "transcription_session.updated": "session.updated",
        # names handled by react-native-openai-realtime, never sent by OpenAI servers
        "response.output_item.text.delta": "response.output_text.delta",
        "response.output_item.text.done": "response.output_text.done",
        "response.canceled": "response.done",
        "response.completed": "response.done",
    }
)
"""Legacy (beta or client-library) type → GA type. ``wire_type`` keeps the legacy name."""


# --------------------------------------------------------------------------------------------
# Field specifications, compiled once at import
# --------------------------------------------------------------------------------------------

_Accepts: TypeAlias = Callable[[object], bool]
_Setter: TypeAlias = Callable[[object, object], None]
# (key, exact type for the fast check, full acceptance check, required, slot setter)
_FastField: TypeAlias = tuple[str, type, _Accepts, bool, _Setter]
# (key, "a string" / "an integer" ..., full acceptance check, required)
_CheckField: TypeAlias = tuple[str, str, _Accepts, bool]
_Entry: TypeAlias = tuple[type[ServerEvent], tuple[_FastField, ...], tuple[_CheckField, ...]]
_E = TypeVar("_E")


def _accepts_str(value: object) -> bool:
    return isinstance(value, str)


def _accepts_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _accepts_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _accepts_object(value: object) -> bool:
    return isinstance(value, Mapping)


def _accepts_array(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


# base type in the annotation → (exact type for the fast path, acceptance check, description)
_KINDS: dict[object, tuple[type, _Accepts, str]] = {
    str: (str, _accepts_str, "a string"),
    int: (int, _accepts_int, "an integer"),
    float: (float, _accepts_number, "a number"),
    Mapping: (dict, _accepts_object, "an object"),
    Sequence: (list, _accepts_array, "an array"),
}

_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(ServerEvent))


def _slot_setter(cls: type, name: str) -> _Setter:
    descriptor = getattr(cls, name)
    setter: _Setter = descriptor.__set__
    return setter


def _compile(cls: type[_E]) -> tuple[type[_E], tuple[_FastField, ...], tuple[_CheckField, ...]]:
    """Build the field specification of one event class from its annotations (any frozen,
    slotted dataclass whose base fields are ``event_id``, ``wire_type`` and ``raw``: the
    Realtime events here, the GPT-Live events in :mod:`realtime_machines.live.wire`)."""
    hints = get_type_hints(cls)
    fast: list[_FastField] = []
    check: list[_CheckField] = []
    for f in dataclasses.fields(cast(Any, cls)):
        if f.name in _BASE_FIELDS:
            continue
        hint = hints[f.name]
        nullable = False
        if get_origin(hint) in (Union, types.UnionType):
            members = [arg for arg in get_args(hint) if arg is not type(None)]
            nullable = len(members) < len(get_args(hint))
            if len(members) != 1:
                raise TypeError(f"{cls.__name__}.{f.name}: unsupported annotation {hint!r}")
            hint = members[0]
        base = get_origin(hint) or hint
        if base not in _KINDS:
            raise TypeError(f"{cls.__name__}.{f.name}: unsupported annotation {hint!r}")
        required = f.default is dataclasses.MISSING
        if required == nullable or (not required and f.default is not None):
            raise TypeError(f"{cls.__name__}.{f.name}: optional iff nullable, default None")
        exact, accepts, description = _KINDS[base]
        fast.append((f.name, exact, accepts, required, _slot_setter(cls, f.name)))
        check.append((f.name, description, accepts, required))
    return cls, tuple(fast), tuple(check)


_ENTRIES: dict[str, _Entry] = {cls.TYPE: _compile(cls) for cls in _CLASSES}
# One lookup for GA names and legacy names alike; the synthetic pseudo-events are handled apart.
_DISPATCH: dict[str, _Entry] = {
    **_ENTRIES,
    **{
        legacy: _ENTRIES[ga]
        for legacy, ga in BETA_ALIASES.items()
        if legacy not in _SYNTHETIC_DONE_STATUS
    },
}

_new = object.__new__
_set_event_id = _slot_setter(ServerEvent, "event_id")
_set_wire_type = _slot_setter(ServerEvent, "wire_type")
_set_raw = _slot_setter(ServerEvent, "raw")


# --------------------------------------------------------------------------------------------
# normalize
# --------------------------------------------------------------------------------------------


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _problems(raw: Mapping[str, Any], checks: tuple[_CheckField, ...]) -> tuple[str, ...]:
    """Every reason why ``raw`` does not match ``checks`` (the slow, descriptive path)."""
    problems: list[str] = []
    event_id = raw.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        problems.append(f"field 'event_id' must be a string, got {_kind(event_id)}")
    for key, description, accepts, required in checks:
        if key not in raw:
            if required:
                problems.append(f"missing required field {key!r}")
            continue
        value = raw[key]
        if value is None and not required:
            continue
        if not accepts(value):
            null = "" if required else " or null"
            problems.append(f"field {key!r} must be {description}{null}, got {_kind(value)}")
    return tuple(problems) or ("event does not match its schema",)


def _normalize_other(raw: Mapping[str, Any], wire_type: str) -> NormalizedEvent:
    """Types without a dispatch entry: the synthetic ``response.done`` aliases, or unknown."""
    status = _SYNTHETIC_DONE_STATUS.get(wire_type)
    if status is None:
        return UnknownEvent(type=wire_type, raw=raw)
    checks: tuple[_CheckField, ...] = (("response_id", "a string", _accepts_str, True),)
    response_id = raw.get("response_id")
    event_id = raw.get("event_id")
    if not isinstance(response_id, str) or not (event_id is None or isinstance(event_id, str)):
        return MalformedEvent(type=wire_type, problems=_problems(raw, checks), raw=raw)
    return ResponseDone(
        event_id=event_id,
        wire_type=wire_type,
        raw=raw,
        response={"id": response_id, "status": status},
    )


def normalize(raw: object) -> NormalizedEvent:
    """Type one server event (a parsed JSON object). Never raises.

    Returns a :class:`ServerEvent` subclass for a known GA or legacy type whose fields check
    out, an :class:`UnknownEvent` for a well-formed object of an unknown type, and a
    :class:`MalformedEvent` (with the reasons) for anything else.
    """
    try:
        if type(raw) is not dict and not isinstance(raw, Mapping):
            return MalformedEvent(
                type=None, problems=(f"event must be a JSON object, got {_kind(raw)}",), raw=raw
            )
        get = raw.get
        wire_type = get("type")
        if type(wire_type) is not str and not isinstance(wire_type, str):
            problem = (
                "missing required field 'type'"
                if wire_type is None and "type" not in raw
                else f"field 'type' must be a string, got {_kind(wire_type)}"
            )
            return MalformedEvent(type=None, problems=(problem,), raw=raw)
        entry = _DISPATCH.get(wire_type)
        if entry is None:
            return _normalize_other(raw, wire_type)
        cls, fast, checks = entry
        event_id = get("event_id")
        if event_id is not None and type(event_id) is not str and not isinstance(event_id, str):
            return MalformedEvent(type=wire_type, problems=_problems(raw, checks), raw=raw)
        event = _new(cls)
        for key, exact, accepts, required, setter in fast:
            value = get(key)
            if type(value) is not exact and (required or value is not None) and not accepts(value):
                return MalformedEvent(type=wire_type, problems=_problems(raw, checks), raw=raw)
            setter(event, value)
        _set_event_id(event, event_id)
        _set_wire_type(event, wire_type)
        _set_raw(event, raw)
        return event
    except Exception as exc:  # a hostile Mapping or str subclass; normalize must not raise
        return MalformedEvent(
            type=None,
            problems=(f"event could not be read: {type(exc).__name__}",),
            raw=raw,
        )
