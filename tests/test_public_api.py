"""The public API is declared once, sorted, and every name exists."""

from __future__ import annotations

import importlib

import pytest


def test_machines_import_nothing_with_effects() -> None:
    import ast
    from pathlib import Path

    root = Path(importlib.import_module("realtime_machines").__file__ or "").parent
    allowed_roots = {"statemachine", "__future__"}
    forbidden = {"asyncio", "aiortc", "aiohttp", "numpy", "sounddevice", "socket", "threading"}
    import sys

    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top not in forbidden, f"{path.name} imports {module}"
                assert top in allowed_roots or top in sys.stdlib_module_names, (
                    f"{path.name} imports {module}"
                )


# ---------------------------------------------------------------------------------------------
# What the docs import is exported: the package roots and a few documented submodules.
# ---------------------------------------------------------------------------------------------

#: The import places the manual documents. The package roots hold the main names; these
#: submodules hold their details (configuration helpers, middleware runners, audio devices, the
#: emulator and its test helpers, transports for transport authors, the demo as a function).
DOCUMENTED_MODULES = (
    "realtime_machines",
    "realtime_machines.live",
    "realtime_sdk",
    "realtime_sdk.audio",
    "realtime_sdk.call_server",
    "realtime_sdk.calls",
    "realtime_sdk.cli.demo",
    "realtime_sdk.config",
    "realtime_sdk.emulator",
    "realtime_sdk.emulator.testing",
    "realtime_sdk.middleware",
    "realtime_sdk.otel",
    "realtime_sdk.token_server",
    "realtime_sdk.transports",
    "realtime_sdk.transports.memory",
    "realtime_sdk.webhooks",
)
PACKAGES = ("realtime_machines", "realtime_sdk")


def doc_imports() -> list[tuple[str, str, str]]:
    """``(where, module, name)`` for every ``from realtime_… import name`` in a Python code
    block of docs/*.md and README.md (blocks marked ``# no-run`` included)."""
    import ast

    from tests.test_docs_examples import ROOT, doc_files, python_blocks

    found: list[tuple[str, str, str]] = []
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for path in doc_files(ROOT):
        for block in python_blocks(path):
            tree = compile(block.source, block.id, "exec", flags=flags, dont_inherit=True)
            for node in ast.walk(tree):
                if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                    continue
                if node.module.split(".")[0] not in PACKAGES:
                    continue
                where = f"{block.id.rsplit(':', 1)[0]}:{block.line + node.lineno - 1}"
                found.extend((where, node.module, alias.name) for alias in node.names)
    return found


def test_the_docs_import_names_to_check() -> None:
    imports = doc_imports()
    assert ("realtime_sdk", "RealtimeClient") in {(m, n) for _, m, n in imports}
    assert len({m for _, m, _ in imports}) >= 3


def test_every_name_the_docs_import_is_exported_from_a_documented_module() -> None:
    problems: list[str] = []
    for where, module_name, name in doc_imports():
        if module_name not in DOCUMENTED_MODULES:
            problems.append(f"{where}: imports from {module_name}, not a documented module")
            continue
        exported = getattr(importlib.import_module(module_name), "__all__", ())
        if name not in exported:
            problems.append(f"{where}: {module_name}.__all__ lacks {name!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module_name", DOCUMENTED_MODULES)
def test_documented_modules_declare_a_sorted_all_that_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = list(module.__all__)
    assert len(names) == len(set(names))
    constants = [n for n in names if n.isupper()]
    classes = [n for n in names if n[:1].isupper() and not n.isupper()]
    functions = [n for n in names if n[:1].islower()]
    assert names == sorted(constants) + sorted(classes) + sorted(functions)
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ names what it does not have: {missing}"


def test_the_package_root_stays_light_until_a_heavy_name_is_used() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from realtime_sdk import WireTrace, function_tool, DEFAULTS\n"
        "heavy = ('aiortc', 'aiohttp', 'av', 'numpy', 'sounddevice')\n"
        "before = sorted(m for m in heavy if m in sys.modules)\n"
        "from realtime_sdk import Speaker, VoiceControls, Emulator\n"
        "print(before, 'sounddevice' in sys.modules, Speaker.__module__, "
        "VoiceControls.__module__, Emulator.__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "[]",
        "False",
        "realtime_sdk.audio",
        "realtime_sdk.voice",
        "realtime_sdk.emulator.server",
    ]


def test_the_library_never_imports_its_apps() -> None:
    """``realtime_sdk.cli`` (the ``realtime`` command, the demos, the chat REPL) sits on top of
    the library: no module outside it imports it."""
    import ast
    from pathlib import Path

    package = Path(importlib.import_module("realtime_sdk").__file__ or "").parent
    offenders: list[str] = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] == "cli":
            continue
        depth = len(relative.parts) - 1  # how many packages below realtime_sdk
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    targets = [node.module or ""]
                elif node.level == depth + 1:  # relative to realtime_sdk itself
                    base = f"realtime_sdk.{node.module}" if node.module else "realtime_sdk"
                    targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
                else:
                    continue
            else:
                continue
            if any(t == "realtime_sdk.cli" or t.startswith("realtime_sdk.cli.") for t in targets):
                offenders.append(f"{relative.as_posix()}:{node.lineno}")
    assert package.joinpath("cli", "__init__.py").is_file()
    assert not offenders, f"library modules import the apps: {offenders}"
