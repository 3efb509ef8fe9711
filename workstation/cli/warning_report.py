"""How commands report library warnings: only with -v, after the result or in the JSON.

Warnings that pydicom, numpy and other libraries raise during a command are collected
(``workstation.core.warning_capture``), never printed on stderr, which keeps only the
command's own one-line error.  With ``-v`` text output lists them, indented, after the
result, and ``--json`` records carry them as a list of strings under
``library_warnings`` (without ``-v`` text output says how many there were, in one line,
and JSON records have no such key).  After an error, ``-v`` lists them indented under
the error line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from workstation.core.warning_capture import LibraryWarnings

#: The sentence each command's --help ends with.
HELP_NOTE = (
    "Warnings from the libraries used (e.g. pydicom about tolerated header oddities) are "
    "shown only with -v: after the result, or in the --json record under "
    "'library_warnings'; stderr carries only an error line."
)

JSON_KEY = "library_warnings"


def add_verbose_argument(parser: argparse.ArgumentParser, also: str = "") -> None:
    """Add ``-v/--verbose`` (show library warnings, plus ``also``) to a command."""
    text = "show the library warnings after the result"
    parser.add_argument("-v", "--verbose", action="store_true", help=f"{also}{text}")


def library_warning_lines(args: argparse.Namespace) -> list[str]:
    """The warnings collected so far for this command (empty when none were collected)."""
    collected: LibraryWarnings | None = getattr(args, "library_warnings", None)
    return collected.lines() if collected is not None else []


def add_to_record(record: dict, args: argparse.Namespace) -> dict:
    """``record`` with the ``library_warnings`` list added when -v was given (--json)."""
    if getattr(args, "verbose", False):
        record[JSON_KEY] = library_warning_lines(args)
    return record


def print_library_warnings(args: argparse.Namespace, stream: TextIO | None = None) -> None:
    """After a text result: the warnings indented with -v, else a count line (if any)."""
    lines = library_warning_lines(args)
    if not lines:
        return
    out = stream or sys.stdout
    if getattr(args, "verbose", False):
        print(f"Library warnings ({len(lines)}):", file=out)
        for line in lines:
            print(f"    {line}", file=out)
    else:
        print(f"{len(lines)} library warning(s) (use -v to show them)", file=out)
