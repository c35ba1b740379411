"""The manual reaches the user of a wheel: it ships inside the package, ``realtime docs [TOPIC]``
prints it, errors point at it, and README.md (the PyPI description) has no link that only
resolves in a source checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from realtime_sdk.cli import main
from realtime_sdk.cli.manual import topic_title, topics

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)[^)]*\)|^\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
CODE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def test_realtime_docs_voice_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "voice"]) == 0
    assert capsys.readouterr().out == (DOCS / "voice.md").read_text(encoding="utf-8")


def test_realtime_docs_lists_every_page_with_its_title(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs"]) == 0
    out = capsys.readouterr().out
    pages = sorted(DOCS.glob("*.md"))
    assert list(topics()) == [page.stem for page in pages]
    for page in pages:
        assert f"  {page.stem:<14} {topic_title(page)}\n" in out


def test_an_unknown_topic_names_the_topics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("realtime docs: no page 'nope'; the topics are: charts, cli, ")
    assert err.count("\n") == 1


def test_the_wheel_ships_the_docs_and_realtime_docs_reads_them_there(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    [wheel] = WheelBuilder(str(ROOT)).build(directory=str(tmp_path / "dist"), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for page in DOCS.glob("*.md"):
            assert f"realtime_sdk/_docs/{page.name}" in names
        site = tmp_path / "site"
        archive.extractall(site)
    # The installed wheel alone on the path (dependencies come from this environment).
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = (
        "import sys, realtime_sdk; from realtime_sdk.cli import main; "
        "print(realtime_sdk.__file__, file=sys.stderr); sys.exit(main(['docs', 'voice']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().startswith(str(site))
    assert done.stdout == (DOCS / "voice.md").read_text(encoding="utf-8")


def anchors(markdown: str) -> set[str]:
    """GitHub/PyPI-style heading anchors."""
    prose = CODE.sub("", markdown)
    slugs = set()
    for title in HEADING.findall(prose):
        text = re.sub(r"[`*_]", "", title).strip().lower()
        slugs.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text)))
    return slugs


def test_readme_links_resolve_on_pypi() -> None:
    text = README.read_text(encoding="utf-8")
    prose = CODE.sub("", text)
    targets = [a or b for a, b in LINK.findall(prose)]
    slugs = anchors(text)
    for target in targets:
        if target.startswith("#"):
            assert target[1:] in slugs, f"README.md links to a missing heading: {target}"
        else:
            assert target.startswith("https://"), f"README.md has a relative link: {target}"
    # The topics it names exist in the manual a wheel ships.
    named = set(re.findall(r"realtime docs ([a-z][\w-]*)", text))
    assert named, "README.md names no `realtime docs` topic"
    assert named <= set(topics()), named - set(topics())


class NoDevices:
    """Just enough of sounddevice for a machine with no default device."""

    class PortAudioError(Exception):
        pass

    def query_devices(self, device: object = None, kind: str | None = None) -> object:
        if kind is None:
            return []
        raise self.PortAudioError("Error querying device -1")


def test_the_no_device_error_points_at_a_page_a_wheel_has() -> None:
    from realtime_sdk.audio import AudioDeviceError, _resolve_device

    with pytest.raises(AudioDeviceError) as raised:
        _resolve_device(NoDevices(), None, "input")
    message = str(raised.value)
    assert "docs/voice.md" not in message
    assert message.endswith(
        "run PulseAudio and `realtime devices --virtual` (see `realtime docs voice`)."
    )
