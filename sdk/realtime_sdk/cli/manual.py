"""The user manual (``docs/*.md``) as the package ships it: ``realtime docs [TOPIC]``.

The wheel carries the pages under ``realtime_sdk/_docs`` (``force-include`` in
``pyproject.toml``); a source checkout reads ``docs/`` beside the package. A topic is a page's
file name without ``.md`` (``voice`` is ``docs/voice.md``), so error messages can point a user
who installed a wheel at ``realtime docs voice``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["docs_dir", "read_topic", "topic_title", "topics"]

_PACKAGED = Path(__file__).resolve().parents[1] / "_docs"
_SOURCE = Path(__file__).resolve().parents[3] / "docs"


def docs_dir() -> Path:
    """Where the pages are: inside the installed package, else the source checkout's ``docs``."""
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE


def topics() -> dict[str, Path]:
    """Every page by topic name, sorted."""
    folder = docs_dir()
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.glob("*.md"))}


def topic_title(path: Path) -> str:
    """The page's first Markdown heading (its file name when it has none)."""
    with path.open(encoding="utf-8") as page:
        for line in page:
            if line.startswith("# "):
                return line[2:].strip()
    return path.stem


def read_topic(name: str) -> str:
    """The page's Markdown text; ``LookupError`` with a sentence naming the topics there are."""
    known = topics()
    key = name.strip().lower().removesuffix(".md").removeprefix("docs/")
    if key not in known:
        choices = ", ".join(known) or "none: the manual is not installed"
        raise LookupError(f"no page {name!r}; the topics are: {choices}")
    return known[key].read_text(encoding="utf-8")
