"""The inspector's diagrams: each chart's states and transitions, drawn as SVG.

:func:`chart_shape` reads a chart class (its states with their human names, and the transitions
that change state; targetless actions stay out of a picture of *where* the chart is).
:func:`chart_svg` draws the shape with Graphviz's ``dot`` when it is installed, and otherwise
with a small built-in layered layout, so the page works on a machine without Graphviz. Either
way every state is one ``<g class="state">`` element with a stable ``id``
(``state-<chart>-<state>``) and ``data-chart`` / ``data-state`` attributes, and every
transition one ``<g class="transition">`` with ``data-source`` / ``data-target``: the page
highlights by those, never by position.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from realtime_machines._chart import ModelChart

from ..diagrams import DOT_TIMEOUT, render_svg

__all__ = [
    "ChartShape",
    "Edge",
    "Node",
    "builtin_svg",
    "chart_shape",
    "chart_svg",
    "dot_svg",
    "dot_svg_async",
    "shapes_json",
    "state_element_id",
]

LABELLED_EDGES = 12
"""Charts with more transitions than this show their events as tooltips, not labels."""


@dataclass(frozen=True, slots=True)
class Node:
    """One state: its id (as the record names it) and its human name."""

    id: str
    name: str
    initial: bool = False
    final: bool = False


@dataclass(frozen=True, slots=True)
class Edge:
    """The transitions from ``source`` to ``target``, with the events that take them."""

    source: str
    target: str
    events: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChartShape:
    """A chart kind (``"response"``, ``"tool_call"``...) as the page draws it."""

    kind: str
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = field(default=())

    @property
    def initial(self) -> str | None:
        return next((node.id for node in self.nodes if node.initial), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "busy": len(self.edges) > LABELLED_EDGES,
            "initial": self.initial,
            "states": [
                {"id": n.id, "name": n.name, "initial": n.initial, "final": n.final}
                for n in self.nodes
            ],
            "transitions": [
                {"source": e.source, "target": e.target, "events": list(e.events)}
                for e in self.edges
            ],
        }


def chart_shape(cls: type[ModelChart], kind: str | None = None) -> ChartShape:
    """The states and state-changing transitions of chart class ``cls`` (events merged per
    source → target pair, in declaration order)."""
    kind = kind or cls.chart_kind
    nodes = tuple(Node(s.id, s.name, bool(s.initial), bool(s.final)) for s in cls.states)
    merged: dict[tuple[str, str], list[str]] = {}
    for state in cls.states:
        for transition in state.transitions:
            if transition.initial or transition.target is None:
                continue
            events = merged.setdefault((state.id, transition.target.id), [])
            for event in transition.events:
                if str(event) not in events:
                    events.append(str(event))
    edges = tuple(Edge(s, t, tuple(events)) for (s, t), events in merged.items())
    doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
    return ChartShape(kind, doc, nodes, edges)


def state_element_id(kind: str, state: str) -> str:
    return f"state-{kind}-{state}"


def chart_svg(shape: ChartShape, *, dot: str | None = "auto") -> str:
    """SVG for ``shape``: drawn by Graphviz (``dot`` is its path; ``"auto"`` finds it on
    ``PATH``), else (``None``, not installed, or it failed) by :func:`builtin_svg`."""
    binary = shutil.which("dot") if dot == "auto" else dot
    if binary is not None:
        try:
            return dot_svg(shape, binary)
        except (OSError, RuntimeError, subprocess.SubprocessError):
            pass
    return builtin_svg(shape)


def _dot_text(shape: ChartShape) -> str:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "digraph chart {",
        "  rankdir=LR; bgcolor=transparent; nodesep=0.25; ranksep=0.45;",
        '  node [shape=box style="rounded,filled" fillcolor=white fontname="Helvetica" '
        'fontsize=11 margin="0.12,0.04" height=0.3];',
        '  edge [fontname="Helvetica" fontsize=8 color="#8a94a6" fontcolor="#5b6475" '
        "arrowsize=0.6];",
    ]
    for node in shape.nodes:
        extra = " peripheries=2" if node.final else ""
        lines.append(f"  {quote(node.id)} [label={quote(node.name)}{extra}];")
    # A busy chart's labels would crowd out its states: there they are tooltips only.
    attribute = "label" if len(shape.edges) <= LABELLED_EDGES else "tooltip"
    for edge in shape.edges:
        label = " | ".join(edge.events)
        lines.append(
            f"  {quote(edge.source)} -> {quote(edge.target)} [{attribute}={quote(label)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


_NODE = re.compile(r'<g id="[^"]*" class="node">\s*<title>([^<]*)</title>')
_EDGE = re.compile(r'<g id="[^"]*" class="edge">\s*<title>([^<]*)</title>')


def dot_svg(shape: ChartShape, binary: str) -> str:
    """SVG drawn by Graphviz (``binary``: its ``dot``), its node and edge groups given the
    stable ids and data attributes; ``RuntimeError`` when Graphviz fails."""
    return _tagged(shape, render_svg(_dot_text(shape), binary))


async def dot_svg_async(shape: ChartShape, binary: str) -> str:
    """:func:`dot_svg` without blocking the event loop (Graphviz as an asyncio subprocess)."""
    process = await asyncio.create_subprocess_exec(
        binary,
        "-Tsvg",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(DOT_TIMEOUT):
            out, err = await process.communicate(_dot_text(shape).encode())
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"graphviz took over {DOT_TIMEOUT:g} s to draw {shape.kind}") from None
    if process.returncode != 0:
        message = err.decode(errors="replace").strip()
        raise RuntimeError(f"graphviz failed to draw {shape.kind}: {message}")
    return _tagged(shape, out.decode())


def _tagged(shape: ChartShape, svg: str) -> str:
    """Graphviz's SVG with the stable ids and data attributes on each state and transition."""
    svg = svg[svg.index("<svg") :]  # no XML prolog, doctype or comments before it
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)
    kind = html.escape(shape.kind)

    def node(match: re.Match[str]) -> str:
        state = html.escape(html.unescape(match[1]))
        return (
            f'<g id="{state_element_id(kind, state)}" class="node state" '
            f'data-chart="{kind}" data-state="{state}">\n<title>{match[1]}</title>'
        )

    def edge(match: re.Match[str]) -> str:
        source, _, target = html.unescape(match[1]).partition("->")
        return (
            f'<g class="edge transition" data-chart="{kind}" '
            f'data-source="{html.escape(source)}" data-target="{html.escape(target)}">'
            f"\n<title>{match[1]}</title>"
        )

    svg = _NODE.sub(node, svg)
    svg = _EDGE.sub(edge, svg)
    # Scale with the page: keep the viewBox, drop the fixed size in points.
    return re.sub(r'<svg width="[^"]*" height="[^"]*"', '<svg class="diagram"', svg, count=1)


# The built-in layout: states in columns by their distance from the initial state.
_CHAR_W, _BOX_H, _COL_GAP, _ROW_GAP, _PAD = 6.6, 26, 56, 18, 12


def _ranks(shape: ChartShape) -> dict[str, int]:
    ids = [node.id for node in shape.nodes]
    rank: dict[str, int] = {}
    frontier = [n.id for n in shape.nodes if n.initial] or ids[:1]
    for start in frontier:
        rank[start] = 0
    while frontier:
        following: list[str] = []
        for source in frontier:
            for edge in shape.edges:
                if edge.source == source and edge.target not in rank:
                    rank[edge.target] = rank[source] + 1
                    following.append(edge.target)
        frontier = following
    last = max(rank.values(), default=-1) + 1
    for state in ids:  # not reachable from the initial state: a column of their own
        rank.setdefault(state, last)
    return rank


def builtin_svg(shape: ChartShape) -> str:
    """SVG laid out without Graphviz: columns by distance from the initial state, forward
    transitions as straight arrows, backward ones as arcs below."""
    rank = _ranks(shape)
    columns: dict[int, list[Node]] = {}
    for node in shape.nodes:
        columns.setdefault(rank[node.id], []).append(node)
    width = {n.id: max(48.0, len(n.name) * _CHAR_W + 20) for n in shape.nodes}
    box: dict[str, tuple[float, float, float]] = {}  # state → (x, y, width)
    x = float(_PAD)
    rows = max(len(col) for col in columns.values()) if columns else 1
    for index in sorted(columns):
        column = columns[index]
        col_w = max(width[n.id] for n in column)
        for row, node in enumerate(column):
            y = _PAD + row * (_BOX_H + _ROW_GAP) + (rows - len(column)) * (_BOX_H + _ROW_GAP) / 2
            box[node.id] = (x + (col_w - width[node.id]) / 2, y, width[node.id])
        x += col_w + _COL_GAP
    total_w = x - _COL_GAP + _PAD
    total_h = _PAD * 2 + rows * (_BOX_H + _ROW_GAP) + 40
    kind = html.escape(shape.kind)
    parts = [
        f'<svg class="diagram" viewBox="0 0 {total_w:.0f} {total_h:.0f}" '
        'xmlns="http://www.w3.org/2000/svg">',
        '<defs><marker id="arrow-' + kind + '" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker></defs>',
    ]
    for edge in shape.edges:
        if edge.source == edge.target or edge.source not in box or edge.target not in box:
            continue
        sx, sy, sw = box[edge.source]
        tx, ty, tw = box[edge.target]
        label = html.escape(" | ".join(edge.events))
        if rank[edge.target] > rank[edge.source]:
            x1, y1, x2, y2 = sx + sw, sy + _BOX_H / 2, tx, ty + _BOX_H / 2
            path = f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
        else:  # backward or within a column: an arc below both boxes
            x1, y1 = sx + sw / 2, sy + _BOX_H
            x2, y2 = tx + tw / 2, ty + _BOX_H
            depth = max(y1, y2) + 24 + abs(x1 - x2) * 0.08
            path = (
                f"M{x1:.1f},{y1:.1f} C{x1:.1f},{depth:.1f} {x2:.1f},{depth:.1f} {x2:.1f},{y2:.1f}"
            )
        parts.append(
            f'<g class="edge transition" data-chart="{kind}" '
            f'data-source="{html.escape(edge.source)}" data-target="{html.escape(edge.target)}">'
            f"<title>{html.escape(edge.source)} → {html.escape(edge.target)}: {label}</title>"
            f'<path d="{path}" fill="none" stroke="#8a94a6" stroke-width="1" '
            f'marker-end="url(#arrow-{kind})"/></g>'
        )
    for node in shape.nodes:
        bx, by, bw = box[node.id]
        state = html.escape(node.id)
        border = ' stroke-width="2.5"' if node.final else ""
        parts.append(
            f'<g id="{state_element_id(kind, state)}" class="node state" data-chart="{kind}" '
            f'data-state="{state}"><title>{state}</title>'
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{bw:.1f}" height="{_BOX_H}" rx="8" '
            f'fill="white" stroke="#333"{border}/>'
            f'<text x="{bx + bw / 2:.1f}" y="{by + _BOX_H / 2 + 4:.1f}" text-anchor="middle" '
            f'font-family="Helvetica, Arial, sans-serif" font-size="11">'
            f"{html.escape(node.name)}</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


async def shapes_json(
    shapes: Iterable[ChartShape], *, dot: str | None = "auto"
) -> list[dict[str, Any]]:
    """Each shape as JSON with its drawing (``svg``), for the page: Graphviz's (run without
    blocking the loop, each drawing made once per process) or the built-in one."""
    binary = shutil.which("dot") if dot == "auto" else dot
    out = []
    for shape in shapes:
        key = (binary, _dot_text(shape))
        svg = _DRAWN.get(key)
        if svg is None:
            svg = builtin_svg(shape)
            if binary is not None:
                with contextlib.suppress(OSError, RuntimeError):  # then the built-in one
                    svg = await dot_svg_async(shape, binary)
            _DRAWN[key] = svg
        out.append({**shape.to_json(), "svg": svg})
    return out


_DRAWN: dict[tuple[str | None, str], str] = {}
