"""GPT-Live wire events: the catalogue is openai's ``types/live``, every type normalises, the
typed event round-trips the package's own validation, bad input is reported, nothing raises."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.live import (
    client_event,
    connect_client_event,
    connect_server_event,
    fork_client_event,
    fork_server_event,
    server_event,
)
from pydantic import BaseModel

from realtime_machines.live import wire
from realtime_machines.wire import MalformedEvent, UnknownEvent
from tests.machines.live_samples import CLIENT, SERVER, client, server

SERVER_UNIONS = (
    server_event.ServerEvent,
    fork_server_event.ForkServerEvent,
    connect_server_event.ConnectServerEvent,
)
CLIENT_UNIONS = (
    client_event.ClientEvent,
    fork_client_event.ForkClientEvent,
    connect_client_event.ConnectClientEvent,
)
_BASE = {"wire_type", "raw"}


def _members(union: Any) -> list[type[BaseModel]]:
    """The models of one of openai's ``Annotated[Union[...], PropertyInfo]`` unions."""
    (inner, *_) = typing.get_args(union)
    return list(typing.get_args(inner))


def _type_of(model: type[BaseModel]) -> str:
    (literal,) = typing.get_args(model.model_fields["type"].annotation)
    return str(literal)


def _catalogue(unions: tuple[Any, ...]) -> dict[str, list[type[BaseModel]]]:
    found: dict[str, list[type[BaseModel]]] = {}
    for union in unions:
        for model in _members(union):
            found.setdefault(_type_of(model), []).append(model)
    return found


SERVER_MODELS = _catalogue(SERVER_UNIONS)
CLIENT_MODELS = _catalogue(CLIENT_UNIONS)


def test_the_catalogue_is_every_event_type_of_the_package() -> None:
    assert set(wire.SERVER_EVENT_CLASSES) == set(SERVER_MODELS)
    assert set(wire.CLIENT_EVENT_CLASSES) == set(CLIENT_MODELS)
    assert len(SERVER_MODELS) == 30
    assert len(CLIENT_MODELS) == 16
    # One sample per type, so every type is exercised below.
    assert set(SERVER) == set(SERVER_MODELS)
    assert set(CLIENT) == set(CLIENT_MODELS)


@pytest.mark.parametrize(
    ("classes", "models"),
    [(wire.SERVER_EVENT_CLASSES, SERVER_MODELS), (wire.CLIENT_EVENT_CLASSES, CLIENT_MODELS)],
    ids=["server", "client"],
)
def test_each_class_has_the_package_fields_with_their_requiredness(
    classes: Any, models: dict[str, list[type[BaseModel]]]
) -> None:
    for kind, cls in classes.items():
        ours = {f.name: f for f in dataclasses.fields(cls) if f.name not in _BASE}
        for model in models[kind]:
            theirs = {name: info for name, info in model.model_fields.items() if name != "type"}
            assert set(theirs) - set(ours) == set(), (kind, model)
            # event_id is optional everywhere here (audio events have none; tests feed bare ones)
            assert set(ours) - set(theirs) <= {"event_id"}, (kind, model)
            for name, info in theirs.items():
                if name == "event_id":
                    continue
                required = ours[name].default is dataclasses.MISSING
                assert required == info.is_required(), (kind, name)


@pytest.mark.parametrize("kind", sorted(SERVER))
def test_a_server_event_round_trips_the_package_validation(kind: str) -> None:
    raw = server(kind)
    event = wire.normalize_server(raw)
    assert isinstance(event, wire.SERVER_EVENT_CLASSES[kind])
    assert event.type == kind
    assert event.raw is raw
    wire_form = event.to_wire()
    assert wire_form == {k: v for k, v in raw.items() if v is not None}
    for cls in SERVER_MODELS[kind]:  # the package's own model(s) of this type, validating
        model = cls.model_validate(wire_form)
        assert wire.normalize_server(model.model_dump(exclude_none=True)) == event


@pytest.mark.parametrize("kind", sorted(CLIENT))
def test_a_client_event_round_trips_the_package_validation(kind: str) -> None:
    raw = client(kind)
    event = wire.normalize_client(raw)
    assert isinstance(event, wire.CLIENT_EVENT_CLASSES[kind])
    wire_form = event.to_wire()
    for cls in CLIENT_MODELS[kind]:
        model = cls.model_validate(wire_form)
        assert wire.normalize_client(model.model_dump(exclude_none=True)) == event


def test_the_direction_decides_two_shared_type_names() -> None:
    reflected = wire.normalize_server({"type": "session.input_audio.append", "audio": "AA"})
    command = wire.normalize_client({"type": "session.input_audio.append", "audio": "AA"})
    assert isinstance(reflected, wire.InputAudioReflected)
    assert isinstance(command, wire.InputAudioAppend)
    notice = wire.normalize_server(server("transport.dtmf.send"))
    send = wire.normalize_client(client("transport.dtmf.send"))
    assert isinstance(notice, wire.TransportDtmfSendNotice)
    assert isinstance(send, wire.TransportDtmfSend)


def _required(cls: type[Any]) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in _BASE and f.default is dataclasses.MISSING
    ]


@pytest.mark.parametrize("kind", sorted(SERVER))
def test_a_missing_or_mistyped_required_field_is_named(kind: str) -> None:
    for name in _required(wire.SERVER_EVENT_CLASSES[kind]):
        raw = server(kind)
        del raw[name]
        event = wire.normalize_server(raw)
        assert isinstance(event, MalformedEvent)
        assert f"missing required field {name!r}" in event.problems
        event = wire.normalize_server(server(kind, **{name: True}))
        assert isinstance(event, MalformedEvent)
        assert any(name in problem and "bool" in problem for problem in event.problems)


def test_unknown_types_and_non_objects() -> None:
    unknown = wire.normalize_server({"type": "session.brand_new", "event_id": "e"})
    assert isinstance(unknown, UnknownEvent)
    assert unknown.event_id == "e"
    assert isinstance(wire.normalize_client({"type": "conversation.item.create"}), UnknownEvent)
    bad_input: tuple[object, ...] = (None, [], "session.started", {"event_id": "e"}, {"type": 3})
    for bad in bad_input:
        event = wire.normalize_server(bad)
        assert isinstance(event, MalformedEvent)
        assert event.type is None
    extra = wire.normalize_server(server("info", obfuscation="xyz"))
    assert isinstance(extra, wire.InfoEvent)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted({*SERVER, *CLIENT})),
    key=st.text(max_size=12),
    value=JSON,
)
def test_normalize_never_raises(kind: str, key: str, value: Any) -> None:
    for normalize, samples in ((wire.normalize_server, SERVER), (wire.normalize_client, CLIENT)):
        raw = {"type": kind, **samples.get(kind, {}), key: value}
        event = normalize(raw)
        assert isinstance(event, wire.LiveEvent | UnknownEvent | MalformedEvent)
