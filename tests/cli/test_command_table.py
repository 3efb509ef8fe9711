"""The subcommand table: `workstation --help` imports no command, a command only its own."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from workstation.cli.commands import COMMANDS
from workstation.cli.main import build_parser, parse_arguments

REPO = Path(__file__).resolve().parents[2]


def _subcommand_actions(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Subcommand name -> the help line the top-level ``--help`` shows for it."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {choice.dest: choice.help for choice in action._choices_actions}


def test_every_module_registers_its_table_entry_with_the_same_help_line() -> None:
    full = build_parser()
    assert _subcommand_actions(full) == {name: help for name, (_, help) in COMMANDS.items()}
    assert set(full._subparsers._group_actions[0].choices) == set(COMMANDS)


def test_the_light_top_level_help_is_the_full_one() -> None:
    assert build_parser(()).format_help() == build_parser().format_help()


def _imports_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the modules it imported and its environment."""
    script = (
        "import json, os, sys\n"
        f"{code}\n"
        "print(json.dumps({'modules': sorted(sys.modules), "
        "'hugepage': os.environ.get('NUMPY_MADVISE_HUGEPAGE')}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_top_level_help_imports_no_command_module_nor_numpy() -> None:
    seen = _imports_after(
        "import contextlib, io\n"
        "from workstation.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])"
    )
    modules = seen["modules"]
    assert not [name for name in modules if name.endswith("_cmd")], modules
    assert "numpy" not in modules and "pydicom" not in modules
    assert seen["hugepage"] == "0"  # numpy, once a command imports it, still gets the setting


@pytest.mark.parametrize(
    ("command", "line"),
    [("info", ["info", "PATH"]), ("mesh", ["mesh", "PATH", "-o", "bone.stl"]), ("view", [])],
)
def test_a_command_imports_only_its_own_module(command: str, line: list[str]) -> None:
    seen = _imports_after(
        f"from workstation.cli.main import parse_arguments\nparse_arguments({line!r})"
    )
    own = COMMANDS[command][0]
    alone = _imports_after(f"import {own}")
    commands = {name for name in seen["modules"] if name.endswith("_cmd")}
    # the command's module and the siblings it borrows option helpers from, nothing more
    assert own in commands
    assert commands == {name for name in alone["modules"] if name.endswith("_cmd")}
    assert len(commands) < len(COMMANDS) // 2


def test_options_before_the_command_and_no_command() -> None:
    args = parse_arguments(["--memory-limit", "8G", "--audit-log", "info", "info", "x"])
    assert (args.command, args.path, args.audit_log, args.memory_limit) == (
        "info",
        "x",
        "info",
        "8G",
    )
    assert parse_arguments([]).command == "view"
    with pytest.raises(SystemExit) as stopped:
        parse_arguments(["no-such-command"])
    assert stopped.value.code == 2
