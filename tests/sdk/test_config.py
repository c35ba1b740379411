"""Configuration: DEFAULTS, deep_merge, prune, apply_defaults (greet rule), beta → GA."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime_sdk.config import (
    DEFAULT_GREET_INSTRUCTIONS,
    DEFAULT_GREET_MODALITIES,
    DEFAULT_ICE_SERVERS,
    DEFAULTS,
    NOT_GIVEN,
    apply_defaults,
    beta_response_params,
    deep_merge,
    normalize_session,
    prune,
)

# ------------------------------------------------------------------------------- DEFAULTS


def test_defaults_are_read_only_all_the_way_down() -> None:
    with pytest.raises(TypeError):
        DEFAULTS["model"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        DEFAULTS["session"]["audio"]["output"]["voice"] = "x"
    with pytest.raises(TypeError):
        DEFAULTS["timeouts"]["token"] = 1.0
    assert isinstance(DEFAULTS["session"]["output_modalities"], tuple)


def test_defaults_have_the_documented_values() -> None:
    assert DEFAULTS["base_url"] == "https://api.openai.com"
    assert DEFAULTS["model"] == DEFAULTS["session"]["model"] == "gpt-realtime-2.1"
    assert DEFAULTS["data_channel_label"] == "oai-events"
    session = DEFAULTS["session"]
    assert session["type"] == "realtime"
    assert session["output_modalities"] == ("audio",)
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-realtime-whisper"}
    assert session["audio"]["output"]["voice"] == "alloy"
    assert session["instructions"]
    assert DEFAULTS["ice_servers"] == DEFAULT_ICE_SERVERS
    assert all(url.startswith("stun:") for s in DEFAULT_ICE_SERVERS for url in s["urls"])
    assert DEFAULTS["reconnect"]["attempts"] == 0  # opt-in
    assert DEFAULTS["timeouts"]["liveness"] == DEFAULTS["liveness_timeout"] == 10.0
    assert DEFAULTS["timeouts"]["tool"] == DEFAULTS["tool_timeout"] == 30.0
    assert DEFAULTS["delete_chat_history_on_disconnect"] is True
    assert DEFAULTS["chat_inverted"] is False


def test_the_default_session_is_json() -> None:
    json.dumps(apply_defaults()["session"])


# ------------------------------------------------------------------------------- deep_merge


def test_deep_merge_is_the_seeds_example() -> None:
    assert deep_merge({"arr": [1, 2], "obj": {"a": 1}}, {"arr": [3], "obj": {"b": 2}}) == {
        "arr": [3],
        "obj": {"a": 1, "b": 2},
    }


def test_deep_merge_replaces_arrays_and_scalars_and_none_overwrites() -> None:
    base = {"a": {"b": [1, 2, 3], "c": {"d": 1}}, "e": 1}
    merged = deep_merge(base, {"a": {"b": (9,), "c": None}, "e": "x"})
    assert merged == {"a": {"b": [9], "c": None}, "e": "x"}


def test_deep_merge_keeps_the_base_under_not_given() -> None:
    assert deep_merge({"a": 1, "b": {"c": 2}}, {"a": NOT_GIVEN, "b": {"c": NOT_GIVEN}}) == {
        "a": 1,
        "b": {"c": 2},
    }


def test_deep_merge_never_mutates_and_never_aliases() -> None:
    base = {"a": {"b": [1]}, "x": {"y": 1}}
    override = {"a": {"c": [2]}, "z": {"w": [3]}}
    before = copy.deepcopy((base, override))
    merged = deep_merge(base, override)
    merged["a"]["b"].append(99)
    merged["a"]["c"].append(99)
    merged["z"]["w"].append(99)
    merged["x"]["y"] = 2
    assert (base, override) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


@given(json_objects, json_objects)
def test_deep_merge_properties(base: dict[str, Any], override: dict[str, Any]) -> None:
    before = copy.deepcopy((base, override))
    merged = deep_merge(base, override)
    assert (base, override) == before
    assert set(merged) == set(base) | set(override)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            assert merged[key] == deep_merge(base[key], value)
        else:
            assert merged[key] == value  # arrays and scalars: replaced
    assert deep_merge(merged, {}) == merged
    assert deep_merge({}, override) == override


# ------------------------------------------------------------------------------- prune


def test_prune_is_the_seeds_example_with_not_given_for_undefined() -> None:
    value = {"a": 1, "b": NOT_GIVEN, "c": {"d": 2, "e": NOT_GIVEN}}
    assert prune(value) == {"a": 1, "c": {"d": 2}}
    assert value["b"] is NOT_GIVEN  # not mutated


def test_prune_keeps_none_which_is_json_null() -> None:
    pruned = prune({"audio": {"input": {"turn_detection": None, "x": NOT_GIVEN}}})
    assert pruned == {"audio": {"input": {"turn_detection": None}}}
    assert json.dumps(pruned) == '{"audio": {"input": {"turn_detection": null}}}'


def test_prune_reaches_into_arrays() -> None:
    assert prune({"a": [1, NOT_GIVEN, {"b": NOT_GIVEN, "c": None}]}) == {"a": [1, {"c": None}]}
    assert prune((NOT_GIVEN, 2)) == (2,)


def test_not_given_is_falsy_and_named() -> None:
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"


# ------------------------------------------------------------------------------- apply_defaults


def test_apply_defaults_without_options_is_a_mutable_copy_of_the_defaults() -> None:
    options = apply_defaults()
    assert options == json.loads(json.dumps(options))  # plain dicts and lists only
    assert options["session"]["output_modalities"] == ["audio"]
    assert options["ice_servers"] == [
        {"urls": list(server["urls"])} for server in DEFAULT_ICE_SERVERS
    ]
    options["session"]["audio"]["output"]["voice"] = "marin"
    assert DEFAULTS["session"]["audio"]["output"]["voice"] == "alloy"


def test_apply_defaults_merges_drops_not_given_and_keeps_none() -> None:
    options = apply_defaults(
        {
            "base_url": NOT_GIVEN,
            "ice_servers": [],
            "session": {"audio": {"input": {"turn_detection": None}}, "tools": [{"x": 1}]},
            "timeouts": {"token": 1.5},
            "custom_option": 7,
        }
    )
    assert options["base_url"] == "https://api.openai.com"
    assert options["ice_servers"] == []
    audio_in = options["session"]["audio"]["input"]
    assert audio_in["turn_detection"] is None  # server VAD off
    assert audio_in["transcription"] == {"model": "gpt-realtime-whisper"}  # default kept
    assert options["session"]["tools"] == [{"x": 1}]
    assert options["timeouts"]["token"] == 1.5
    assert options["timeouts"]["sdp"] == 15.0
    assert options["custom_option"] == 7
    assert NOT_GIVEN not in options.values()


def test_the_model_option_sets_the_session_model_unless_the_session_names_one() -> None:
    assert apply_defaults({"model": "gpt-realtime-2.1-mini"})["session"]["model"] == (
        "gpt-realtime-2.1-mini"
    )
    options = apply_defaults({"model": "gpt-realtime-2.1-mini", "session": {"model": "m2"}})
    assert options["session"]["model"] == "m2"


def test_timeout_aliases_stay_equal() -> None:
    by_alias = apply_defaults({"tool_timeout": 3.0, "liveness_timeout": 4.0})
    assert by_alias["timeouts"]["tool"] == by_alias["tool_timeout"] == 3.0
    assert by_alias["timeouts"]["liveness"] == by_alias["liveness_timeout"] == 4.0
    by_table = apply_defaults({"timeouts": {"tool": 2.0, "liveness": 1.0}})
    assert by_table["tool_timeout"] == 2.0
    assert by_table["liveness_timeout"] == 1.0


# The seed's greet rule: greet enabled and no instructions after the merge -> the default
# instructions AND modalities (the whole default greet response).


def test_greet_defaults() -> None:
    options = apply_defaults()
    assert options["greet_enabled"] is True
    assert options["greet_instructions"] == DEFAULT_GREET_INSTRUCTIONS
    assert options["greet_modalities"] == list(DEFAULT_GREET_MODALITIES) == ["audio"]


@pytest.mark.parametrize("missing", [None, ""])
def test_greet_rule_restores_instructions_and_modalities(missing: str | None) -> None:
    options = apply_defaults({"greet_instructions": missing, "greet_modalities": ["text"]})
    assert options["greet_instructions"] == DEFAULT_GREET_INSTRUCTIONS
    assert options["greet_modalities"] == ["audio"]  # the seed replaces both


def test_greet_rule_does_not_apply_when_disabled_or_given() -> None:
    off = apply_defaults({"greet_enabled": False, "greet_instructions": None})
    assert off["greet_instructions"] is None
    mine = apply_defaults({"greet_instructions": "Say hi", "greet_modalities": ["text"]})
    assert (mine["greet_instructions"], mine["greet_modalities"]) == ("Say hi", ["text"])


def test_greet_modalities_come_out_in_ga_form() -> None:
    assert apply_defaults({"greet_modalities": ["audio", "text"]})["greet_modalities"] == ["audio"]


def test_a_beta_session_option_is_translated_before_the_merge() -> None:
    with pytest.warns(DeprecationWarning, match="voice"):
        options = apply_defaults({"session": {"voice": "echo", "turn_detection": None}})
    audio = options["session"]["audio"]
    assert audio["output"]["voice"] == "echo"  # the beta voice beats the default GA voice
    assert audio["input"]["turn_detection"] is None
    assert "voice" not in options["session"]


# ------------------------------------------------------------------------------- beta -> GA


def test_a_ga_session_passes_unchanged_and_gets_its_type() -> None:
    ga = {"model": "gpt-realtime", "audio": {"output": {"voice": "marin"}}, "tools": []}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normalized = normalize_session(ga)
    assert normalized == {**ga, "type": "realtime"}
    assert "type" not in ga
    transcription = {"type": "transcription", "audio": {"input": {}}}
    assert normalize_session(transcription) == transcription


def test_the_seeds_beta_session_becomes_ga_with_one_warning() -> None:
    beta = {
        "model": "gpt-4o-realtime-preview-2024-12-17",
        "voice": "alloy",
        "modalities": ["audio", "text"],
        "input_audio_transcription": {"model": "whisper-1", "language": "ru"},
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
        "instructions": "Brief.",
        "tools": [{"type": "function", "name": "f"}],
    }
    with pytest.warns(DeprecationWarning, match="beta-shaped session fields") as record:
        ga = normalize_session(beta)
    assert len(record) == 1
    message = str(record[0].message)
    for name in ("voice", "modalities", "input_audio_transcription", "turn_detection"):
        assert name in message
    assert record[0].filename == __file__  # points at the caller
    assert ga == {
        "type": "realtime",
        "model": "gpt-4o-realtime-preview-2024-12-17",
        "output_modalities": ["audio"],
        "instructions": "Brief.",
        "tools": [{"type": "function", "name": "f"}],
        "audio": {
            "input": {
                "transcription": {"model": "whisper-1", "language": "ru"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
            },
            "output": {"voice": "alloy"},
        },
    }


@pytest.mark.parametrize(
    ("beta", "ga"),
    [
        ({"modalities": ["text", "audio"]}, {"output_modalities": ["audio"]}),
        ({"modalities": ["text"]}, {"output_modalities": ["text"]}),
        (
            {"input_audio_format": "pcm16"},
            {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}},
        ),
        (
            {"output_audio_format": "g711_ulaw"},
            {"audio": {"output": {"format": {"type": "audio/pcmu"}}}},
        ),
        (
            {"input_audio_format": "g711_alaw"},
            {"audio": {"input": {"format": {"type": "audio/pcma"}}}},
        ),
        ({"speed": 1.2}, {"audio": {"output": {"speed": 1.2}}}),
        (
            {"input_audio_noise_reduction": {"type": "near_field"}},
            {"audio": {"input": {"noise_reduction": {"type": "near_field"}}}},
        ),
        ({"max_response_output_tokens": "inf"}, {"max_output_tokens": "inf"}),
        ({"turn_detection": None}, {"audio": {"input": {"turn_detection": None}}}),
        ({"input_audio_transcription": None}, {"audio": {"input": {"transcription": None}}}),
        ({"temperature": 0.8}, {}),
    ],
)
def test_each_beta_field(beta: dict[str, Any], ga: dict[str, Any]) -> None:
    with pytest.warns(DeprecationWarning, match=next(iter(beta))):
        assert normalize_session(beta) == {**ga, "type": "realtime"}


def test_temperature_is_dropped_with_a_note() -> None:
    with pytest.warns(DeprecationWarning, match=r"dropped temperature \(GA has no such field\)"):
        assert "temperature" not in normalize_session({"temperature": 0.6})


def test_mixed_input_ga_wins_and_unknown_fields_pass() -> None:
    mixed = {
        "voice": "echo",
        "speed": 1.1,
        "audio": {"output": {"voice": "marin"}},
        "modalities": ["text"],
        "output_modalities": ["audio"],
        "future_field": {"keep": [1, 2]},
    }
    before = copy.deepcopy(mixed)
    with pytest.warns(DeprecationWarning, match="fields voice, speed, modalities:"):
        ga = normalize_session(mixed)
    assert mixed == before
    assert ga["audio"]["output"] == {"voice": "marin", "speed": 1.1}
    assert ga["output_modalities"] == ["audio"]
    assert ga["future_field"] == {"keep": [1, 2]}
    assert "voice" not in ga
    assert "modalities" not in ga


def test_response_params() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ga = {"output_modalities": ["text"], "instructions": "x", "conversation": "none"}
        assert beta_response_params(ga) == ga
    with pytest.warns(DeprecationWarning, match="beta-shaped response.create") as record:
        translated = beta_response_params(
            {
                "modalities": ["audio", "text"],
                "voice": "verse",
                "max_response_output_tokens": 50,
                "instructions": "x",
            }
        )
    assert len(record) == 1
    assert "response.create" in str(record[0].message)
    assert translated == {
        "output_modalities": ["audio"],
        "audio": {"output": {"voice": "verse"}},
        "max_output_tokens": 50,
        "instructions": "x",
    }
    assert "type" not in translated
