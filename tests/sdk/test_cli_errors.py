"""The ``realtime`` command's errors: one sentence and an exit status, never a traceback; and
every subcommand's ``--help`` page says what it does."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime_sdk.cli import build_parser, main

from .test_cli_session import cli


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", ["emulator", "token-server"])
def test_a_port_out_of_range_is_a_usage_error(command: str) -> None:
    result = cli(command, "--port", "99999", "--api-key", "sk-test")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"realtime {command}: error: argument --port: 99999 is not a port: "
        "use 0 (any free) to 65535"
    )
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["emulator", "token-server"])
def test_a_port_in_use_is_one_sentence_and_exit_1(command: str, busy_port: int) -> None:
    result = cli(command, "--port", str(busy_port), "--api-key", "sk-test")
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"realtime {command}: cannot listen on 127.0.0.1:{busy_port}: the port is in use "
        "(pick another --port, or --port 0 for any free one)."
    ]
    assert result.stdout == ""


def test_diagrams_without_pydot_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pydot", None)  # "import pydot" raises ImportError
    for name in [m for m in sys.modules if m.startswith("statemachine.contrib.diagram")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["diagrams", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "realtime diagrams: needs pydot, which this install lacks: "
        "pip install 'realtime-machines[diagrams]'\n"
    )


def test_extra_arguments_print_the_subcommands_usage() -> None:
    result = cli("demo", "extra")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: realtime demo ")
    assert result.stderr.splitlines()[-1] == "realtime demo: error: unrecognized arguments: extra"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    [commands] = [
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    return dict(commands.choices)


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_help_page_has_a_description(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = subcommands()[name]
    assert parser.description, name
    assert len(parser.description) > 40, parser.description
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines (even at hyphens)
    assert "".join(parser.description.split()) in text
