"""Docs are tests: every fenced ```python block in docs/*.md and README.md is executed.

Each block runs in a fresh namespace (with ``__name__ == "__main__"``), and line numbers in a
traceback are those of the Markdown file. A block whose first line is ``# no-run`` is shown to
readers but not run (and not reported as a skipped test).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_RUN = "# no-run"
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int  # line number (1-based) of the block's first line of code
    source: str

    @property
    def runs(self) -> bool:
        return not self.source.lstrip().startswith(NO_RUN)

    @property
    def id(self) -> str:
        try:
            name = self.path.relative_to(ROOT).as_posix()
        except ValueError:
            name = self.path.name
        return f"{name}:{self.line}"


def python_blocks(path: Path) -> list[CodeBlock]:
    """The fenced code blocks whose info string starts with ``python``, in file order."""
    blocks: list[CodeBlock] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence, language = opening["fence"], (opening["info"].split() or [""])[0]
        start = index
        while index < len(lines):
            closing = FENCE.match(lines[index])
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            index += 1
        if language == "python":
            blocks.append(CodeBlock(path, start + 1, "\n".join(lines[start:index]) + "\n"))
        index += 1  # past the closing fence
    return blocks


def doc_files(root: Path) -> list[Path]:
    files = sorted((root / "docs").glob("*.md"))
    readme = root / "README.md"
    return [*files, readme] if readme.is_file() else files


def run_block(block: CodeBlock) -> None:
    padded = "\n" * (block.line - 1) + block.source
    exec(compile(padded, str(block.path), "exec"), {"__name__": "__main__"})


BLOCKS = [block for path in doc_files(ROOT) for block in python_blocks(path) if block.runs]

if BLOCKS:  # no empty parametrization: that would be reported as a skip

    @pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
    def test_docs_example_runs(block: CodeBlock) -> None:
        run_block(block)


SAMPLE = """\
# Title

```python
x = 1 + 1
assert x == 2
```

```bash
echo not python
```

```python
# no-run
raise SystemExit("must not run")
```

````python title="nested fences"
text = '''
```python
not a separate block
```
'''
````

~~~python
assert __name__ == "__main__"
raise ValueError("from line 27")
~~~
"""


def test_discovery_and_execution(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(SAMPLE, encoding="utf-8")
    blocks = python_blocks(page)
    assert [(b.line, b.runs) for b in blocks] == [(4, True), (13, False), (18, True), (26, True)]
    assert blocks[0].source == "x = 1 + 1\nassert x == 2\n"
    assert "not a separate block" in blocks[2].source
    run_block(blocks[0])
    run_block(blocks[2])
    with pytest.raises(ValueError, match="from line 27") as raised:
        run_block(blocks[3])
    assert raised.traceback[-1].lineno + 1 == 27  # pytest's line numbers are 0-based


def test_each_block_gets_a_fresh_namespace(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nvalue = 1\n```\n\n```python\nassert 'value' not in dir()\n```\n")
    for block in python_blocks(page):
        run_block(block)


def test_the_docs_are_searched() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in doc_files(ROOT)}
    assert {"docs/index.md", "docs/modules.md", "README.md"} <= names
