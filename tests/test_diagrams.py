"""The committed diagrams are generated from the charts and must not be stale."""

from __future__ import annotations

import shutil
from pathlib import Path

from realtime_machines import ALL_CHARTS
from realtime_machines._chart import ModelChart
from realtime_machines.live import LIVE_CHARTS
from realtime_sdk.diagrams import chart_mermaid, stale_diagrams

DIAGRAMS = Path(__file__).resolve().parents[1] / "diagrams"


def test_committed_diagrams_are_current() -> None:
    stale = stale_diagrams(DIAGRAMS, svg=shutil.which("dot") is not None)
    assert not stale, f"regenerate with `realtime diagrams`: stale {stale}"
    for cls in ALL_CHARTS:
        assert (DIAGRAMS / f"{cls.chart_kind}.svg").is_file()
    for live in LIVE_CHARTS:
        kind = live.chart_kind
        stem = kind if kind.startswith("live_") else f"live_{kind}"
        assert (DIAGRAMS / f"{stem}.mmd").is_file()


def test_mermaid_names_every_state_and_transition() -> None:
    charts: tuple[type[ModelChart], ...] = (*ALL_CHARTS, *LIVE_CHARTS)
    for cls in charts:
        text = chart_mermaid(cls)
        for state in cls.states:
            assert f'state "{state.name}" as {state.id}' in text
            for transition in state.transitions:
                for event in transition.events:
                    assert f"{state.id} --> " in text
                    assert f": {event}" in text


def test_a_changed_chart_makes_its_diagram_stale(tmp_path: Path) -> None:
    from realtime_sdk.diagrams import write_diagrams

    write_diagrams(tmp_path, svg=False)
    assert stale_diagrams(tmp_path, svg=False) == []
    path = tmp_path / "response.mmd"
    path.write_text(path.read_text(encoding="utf-8").replace("cancelling", "canceling"))
    assert stale_diagrams(tmp_path, svg=False) == ["response.mmd"]
