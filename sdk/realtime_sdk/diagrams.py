"""Diagrams generated from the charts: Mermaid text always, SVG when Graphviz is installed.

The Mermaid renderer here reads the chart classes' own structure (states with their human
names, events, guards, actions, targetless actions) so that a reader of the diagram sees what
the code does; its output is deterministic and is what the staleness test compares. SVG is
drawn by Graphviz from python-statemachine's DOT graph, with the ``id()``-based node names it
embeds normalised first so that the output is stable too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from realtime_machines._chart import ModelChart
from realtime_machines.charts import ALL_CHARTS, handshake_chart
from realtime_machines.live import LIVE_CHARTS

from .transports import transport_class, transport_names

__all__ = [
    "chart_dot",
    "chart_mermaid",
    "diagram_names",
    "render_svg",
    "stale_diagrams",
    "write_diagrams",
]

DOT_TIMEOUT = 30.0


def diagram_names() -> dict[str, type[ModelChart]]:
    """File stem → chart class, for every chart of the model, the GPT-Live charts (``live_…``)
    and the handshake chart of every transport installed (``handshake_webrtc``...), made from
    its ``steps``."""
    names: dict[str, type[ModelChart]] = {cls.chart_kind: cls for cls in ALL_CHARTS}
    for cls in LIVE_CHARTS:
        kind = cls.chart_kind
        names[kind if kind.startswith("live_") else f"live_{kind}"] = cls
    for name in transport_names():
        try:
            transport = transport_class(name)
        except (ValueError, ImportError):  # not installed (or a dependency of it is not)
            continue
        steps = [(step.state, step.stage) for step in transport.steps]
        names[f"handshake_{transport.kind}"] = handshake_chart(transport.kind, steps)
    return names


def _actions(cls: type[ModelChart], names: Iterable[object]) -> list[str]:
    shown = []
    for spec in names:
        name = str(spec)
        if name in ("on_transition", "after_transition") or not hasattr(cls, name):
            continue
        shown.append(name)
    return shown


def chart_mermaid(cls: type[ModelChart]) -> str:
    """Mermaid ``stateDiagram-v2`` text for one chart class."""
    doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
    lines = ["---", f"title: {cls.__name__} — {doc}", "---", "stateDiagram-v2", "    direction LR"]
    for state in cls.states:
        lines.append(f'    state "{state.name}" as {state.id}')
    for state in cls.states:
        if state.initial:
            lines.append(f"    [*] --> {state.id}")
    for state in cls.states:
        for transition in state.transitions:
            if transition.initial:
                continue
            events = " | ".join(str(e) for e in transition.events)
            label = events
            guards = [str(c).replace("!", "not ", 1) for c in transition.cond]
            if guards:
                label += f" [{' and '.join(guards)}]"
            actions = _actions(cls, list(transition.before) + list(transition.on))
            actions += _actions(cls, transition.after)
            if actions:
                label += " / " + ", ".join(actions)
            if transition.target is None:
                lines.append(f"    {state.id} --> {state.id} : {label} (stays)")
            else:
                lines.append(f"    {state.id} --> {transition.target.id} : {label}")
    for state in cls.states:
        if state.final:
            lines.append(f"    {state.id} --> [*]")
    return "\n".join(lines) + "\n"


def chart_dot(cls: type[ModelChart]) -> str:
    """Graphviz DOT for one chart class, with the ``id()``-based node names normalised."""
    from statemachine.contrib.diagram import DotGraphMachine

    graph = DotGraphMachine(cls).get_graph()  # type: ignore[no-untyped-call]
    text: str = graph.to_string()
    return re.sub(r"__(initial|atomic)_\d+", r"__\1", text)


def render_svg(dot_text: str, dot_binary: str) -> str:
    """SVG from Graphviz's ``dot_binary`` for ``dot_text``; ``RuntimeError`` when it fails."""
    result = subprocess.run(
        [dot_binary, "-Tsvg"],
        input=dot_text,
        capture_output=True,
        text=True,
        timeout=DOT_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"graphviz failed to draw a chart: {result.stderr.strip()}")
    return result.stdout


def _expected(svg: bool) -> dict[str, str]:
    """File name → content for every diagram."""
    dot_binary = shutil.which("dot") if svg else None
    files: dict[str, str] = {}
    for name, cls in diagram_names().items():
        files[f"{name}.mmd"] = chart_mermaid(cls)
        if dot_binary is not None:
            files[f"{name}.svg"] = render_svg(chart_dot(cls), dot_binary)
    return files


def write_diagrams(out_dir: Path, *, svg: bool = True) -> list[Path]:
    """Write ``<chart>.mmd`` (and ``<chart>.svg`` when Graphviz is installed) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, content in _expected(svg).items():
        path = out_dir / filename
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def stale_diagrams(out_dir: Path, *, svg: bool = True) -> list[str]:
    """Names of the diagram files in ``out_dir`` that are missing or differ from the charts."""
    stale = []
    for filename, content in _expected(svg).items():
        path = out_dir / filename
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            stale.append(filename)
    return stale
