"""Every docs example runs with only what ``pip install "realtime-machines[<extras>]"`` brings,
the extras being those the example names (``realtime-machines[openai]`` in a comment of the
block); none named: the core dependencies only.

How: the blocks run in a subprocess (one per set of extras, each block in a fresh namespace, as
tests/test_docs_examples.py runs them) behind an import hook that refuses every top-level
module that is neither the standard library, nor this project's packages, nor provided by a
distribution in the dependency closure of ``realtime-machines[<extras>]``. The closure is
computed from pyproject.toml (this tree's requirements and extras) and then from each installed
distribution's ``importlib.metadata`` requirements, markers evaluated with the extras asked
for. A refused import raises ``ModuleNotFoundError``, as it would in a fresh install. This is
cheaper than building a wheel into a fresh venv (which needs the network for the
dependencies) and checks the same thing: what the code imports, against what the install
declares. It cannot see a dependency that is declared but broken.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.test_docs_examples import CodeBlock, doc_files, python_blocks

ROOT = Path(__file__).resolve().parents[1]
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
OWN_PACKAGES = ("realtime_machines", "realtime_sdk")
EXTRAS = re.compile(r"realtime-machines\[([A-Za-z0-9_,\s-]+)\]")

RUNNER = r"""
import json, sys, traceback

allowed = frozenset(json.loads(sys.argv[1]))
extras = sys.argv[2]
blocks = json.load(sys.stdin)
refused = []


class Gate:
    # The only meta path finder: it asks the real ones only for allowed modules, so a refused
    # module is absent for import statements and importlib.util.find_spec probes alike.
    finders = list(sys.meta_path)

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top not in allowed and top not in sys.stdlib_module_names:
            if top not in sys.builtin_module_names and not top.startswith("_sysconfigdata"):
                refused.append(top)
                return None
        for finder in self.finders:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                return spec
        return None

    def find_distributions(self, *args, **kwargs):  # importlib.metadata asks the finders
        for finder in self.finders:
            if hasattr(finder, "find_distributions"):
                yield from finder.find_distributions(*args, **kwargs)

    def invalidate_caches(self):
        for finder in self.finders:
            if hasattr(finder, "invalidate_caches"):
                finder.invalidate_caches()


sys.meta_path[:] = [Gate()]
if sys.path and sys.path[0] in ("", "."):
    del sys.path[0]  # not the repository's own tests/ or bench/
results = {}
for block in blocks:
    padded = "\n" * (block["line"] - 1) + block["source"]
    del refused[:]
    try:
        exec(compile(padded, block["path"], "exec"), {"__name__": "__main__"})
    except BaseException:
        note = f"modules realtime-machines{extras} does not install: {sorted(set(refused))}"
        results[block["id"]] = traceback.format_exc(limit=-8) + note
    else:
        results[block["id"]] = None
with open(sys.argv[3], "w", encoding="utf-8") as out:
    json.dump(results, out)
"""


def named_extras(source: str) -> frozenset[str]:
    """The extras a block names (``realtime-machines[a,b]``)."""
    return frozenset(
        name.strip() for match in EXTRAS.findall(source) for name in match.split(",") if name
    )


def _requirements(extras: Iterable[str]) -> list[Requirement]:
    optional: dict[str, list[str]] = PROJECT.get("optional-dependencies", {})
    texts = list(PROJECT["dependencies"])
    for extra in extras:
        if extra not in optional:
            raise AssertionError(f"the docs name an extra pyproject.toml lacks: {extra!r}")
        texts += optional[extra]
    return [Requirement(text) for text in texts]


@functools.cache
def closure(extras: frozenset[str]) -> frozenset[str]:
    """Canonical names of the distributions ``realtime-machines[extras]`` installs."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    pending = [r for r in _requirements(sorted(extras)) if not r.marker or r.marker.evaluate()]
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(key[0])
        try:
            distribution = importlib.metadata.distribution(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: nothing of it can be imported anyway
        asked = requirement.extras or {""}
        for text in distribution.requires or ():
            nested = Requirement(text)
            if nested.marker is None or any(nested.marker.evaluate({"extra": e}) for e in asked):
                pending.append(nested)
    return frozenset(names)


@functools.cache
def allowed_modules(extras: frozenset[str]) -> frozenset[str]:
    """Top-level modules importable from ``realtime-machines[extras]`` (besides the stdlib)."""
    installed = closure(extras)
    provided = importlib.metadata.packages_distributions()
    allowed = {
        module
        for module, distributions in provided.items()
        if any(canonicalize_name(d) in installed for d in distributions)
    }
    return frozenset(allowed | set(OWN_PACKAGES))


def run_isolated(blocks: list[CodeBlock], extras: frozenset[str], tmp: Path) -> dict[str, Any]:
    """Run ``blocks`` behind the import hook; ``{block id: None or the traceback}``."""
    label = f"[{','.join(sorted(extras))}]" if extras else ""
    result_file = tmp / f"results{label or '-core'}.json"
    payload = [
        {"id": b.id, "path": str(b.path), "line": b.line, "source": b.source} for b in blocks
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            json.dumps(sorted(allowed_modules(extras))),
            label,
            str(result_file),
        ],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    if completed.returncode != 0 or not result_file.is_file():
        raise AssertionError(f"the runner failed:\n{completed.stdout}\n{completed.stderr}")
    results: dict[str, Any] = json.loads(result_file.read_text("utf-8"))
    return results


BLOCKS = [block for path in doc_files(ROOT) for block in python_blocks(path) if block.runs]


@functools.cache
def group_results(extras: frozenset[str], tmp: str) -> dict[str, Any]:
    group = [block for block in BLOCKS if named_extras(block.source) == extras]
    return run_isolated(group, extras, Path(tmp))


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("docs-install"))


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_docs_example_runs_from_the_install(block: CodeBlock, results_dir: str) -> None:
    traceback = group_results(named_extras(block.source), results_dir)[block.id]
    assert traceback is None, traceback


# -- the method itself ------------------------------------------------------------------------


def test_the_closure_follows_requirements_and_extras() -> None:
    core = closure(frozenset())
    assert {"aiortc", "aiohttp", "python-statemachine", "av", "numpy"} <= core  # av: via aiortc
    assert "pytest" not in core
    assert "openai" not in core
    assert "pytest" in closure(frozenset({"testing"}))
    with_openai = closure(frozenset({"openai"}))
    assert "openai" in with_openai
    assert "websockets" in with_openai  # from openai's own "realtime" extra
    assert "pytest" in allowed_modules(frozenset({"testing"}))
    assert "pytest" not in allowed_modules(frozenset())


def test_named_extras_are_read_from_the_block() -> None:
    assert named_extras('# pip install "realtime-machines[openai, testing]"\n') == {
        "openai",
        "testing",
    }
    assert named_extras("import asyncio\n") == frozenset()


def test_the_hook_refuses_what_the_install_does_not_bring(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport pytest\n```\n\n"
        "```python\nimport json\nfrom realtime_sdk.emulator.testing import WsClient\n```\n\n"
        '```python\n# pip install "realtime-machines[testing]"\nimport pytest\n```\n',
        encoding="utf-8",
    )
    core, named = python_blocks(page)[:2], python_blocks(page)[2:]
    results = run_isolated(core, frozenset(), tmp_path)
    refused = results[core[0].id]
    assert refused is not None
    assert "ModuleNotFoundError: No module named 'pytest'" in refused
    assert "realtime-machines does not install: ['pytest']" in refused
    assert results[core[1].id] is None  # the wire-level test clients need no pytest
    assert run_isolated(named, frozenset({"testing"}), tmp_path)[named[0].id] is None
