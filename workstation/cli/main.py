"""The ``workstation`` command: subcommands scan, info, mesh and view.

With no subcommand it opens the desktop workstation on the bundled sample study.
Errors a user can act on print one line on stderr and exit non-zero; they never show
a traceback (``--debug`` shows it for developers).  Library warnings are collected, not
printed (see ``warning_report``).  Ctrl+C exits 130; SIGTERM and SIGHUP are handled the
same way (clean-up runs, no temporary file is left) and exit 128 + the signal number
(143, 129).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Collection, Iterator, Sequence

from workstation.cli.commands import COMMANDS
from workstation.cli.signals import StoppedBySignal, stop_on_signals
from workstation.cli.warning_report import library_warning_lines
from workstation.core import memory_budget
from workstation.core.errors import Cancelled, WorkstationError
from workstation.core.runtime import disable_numpy_hugepages
from workstation.core.user_dirs import AUDIT_LOG_VARIABLE
from workstation.core.warning_capture import capture_library_warnings

EXIT_INTERNAL_ERROR = 70

EPILOG = (
    "Exit codes: 0 done; 1-23 an error the message explains (2 input path, 3 DICOM, "
    "4 not a volume, 5 series not found, 6 segmentation, 7 mesh, 8 output, 9 over the "
    "memory limit, see --memory-limit, 10 project, 11 a file differs from its "
    "provenance record, 12 a guide plan that cannot be built, 13 a mesh tool that cannot "
    "give a closed solid, 14 PACS or DICOMweb, 15 local database, 16 de-identification, "
    "17 audit log, 18 permission refused by the policy, 19 encryption key, 20 batch plan, "
    "QC rules or reference levels, 21 batch, 22 case report, 23 a series failed protocol QC); "
    "70 internal error; "
    "130 Ctrl+C; 143 SIGTERM; 129 SIGHUP. "
    "Errors are one line on stderr; outputs are replaced only when complete. "
    "Library warnings are shown only with a command's -v."
)


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; the subcommands in ``commands`` (default: all) get their full
    parsers, the others only their ``--help`` line, so their modules are not imported."""
    parser = argparse.ArgumentParser(
        prog="workstation",
        description="Surgical planning workstation: DICOM to exact, printable 3D models.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="show the version, the commit it was built from and the main libraries' versions",
    )
    parser.add_argument(
        "--memory-limit",
        metavar="SIZE",
        type=_memory_size,
        help="most memory one load may take, e.g. 8G or 1500M (default: half of this "
        "machine's memory; the same as WORKSTATION_MEMORY_LIMIT)",
    )
    parser.add_argument(
        "--audit-log",
        metavar="PATH",
        help="the audit trail to write and read (the same as WORKSTATION_AUDIT_LOG)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks for unexpected errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_line) in COMMANDS.items():
        if commands is not None and name not in commands:
            subparsers.add_parser(name, help=help_line, add_help=False)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue
            raise
        module.register(subparsers)
    return parser


def parse_arguments(arguments: Sequence[str]) -> argparse.Namespace:
    """Parse a command line, importing only the module of the command it names.

    A first pass with help lines alone answers ``--help``, ``--version`` and an unknown
    command, and finds which command runs (``view`` when none is named); the second parses
    the whole line with that command's own parser.
    """
    named, _ = build_parser(()).parse_known_args(arguments)
    command = named.command or "view"
    full_line = list(arguments) if named.command else [*arguments, "view"]
    return build_parser((command,)).parse_args(full_line)


class _VersionAction(argparse.Action):
    """``--version``: the build and library versions (loaded only when asked for)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from workstation.services.about import version_text

        print(version_text())
        parser.exit(0)


def _memory_size(text: str) -> str:
    """The --memory-limit value, checked now so a typo is a usage error, not a late one."""
    try:
        memory_budget.parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    disable_numpy_hugepages()
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = parse_arguments(arguments)
    if args.audit_log:
        os.environ[AUDIT_LOG_VARIABLE] = os.path.abspath(os.path.expanduser(args.audit_log))
    try:
        with (
            _memory_limit(args.memory_limit),
            stop_on_signals(),
            capture_library_warnings() as collected,
        ):
            args.library_warnings = collected
            return _run(args)
    except StoppedBySignal as stop:
        return _stopped(stop)


@contextlib.contextmanager
def _memory_limit(size: str | None) -> Iterator[None]:
    """``--memory-limit`` for this command, as the environment variable worker processes
    inherit; the previous value comes back afterwards."""
    if not size:
        yield
        return
    name = memory_budget.ENVIRONMENT_VARIABLE
    previous = os.environ.get(name)
    os.environ[name] = size
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _stopped(stop: StoppedBySignal) -> int:
    with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
        print(f"workstation: {stop}.", file=sys.stderr)
    return stop.exit_code


def _error_line(text: str, args: argparse.Namespace) -> None:
    """Our one stderr line; with -v the collected library warnings follow it, indented.

    Messages may quote header text (a damaged value can hold a line break): printed on
    one line with such characters escaped.
    """
    from workstation.io.sources import printable  # only on errors: keeps start-up light

    print(printable(text), file=sys.stderr)
    if getattr(args, "verbose", False):
        for line in library_warning_lines(args):
            print(f"    {line}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except StoppedBySignal:
        raise  # reported once the handlers are restored (see main)
    except Cancelled as error:
        _error_line(f"workstation: {error}", args)
        return error.exit_code
    except KeyboardInterrupt:
        _error_line("workstation: cancelled by the user.", args)
        return Cancelled.exit_code
    except WorkstationError as error:
        _error_line(f"workstation: error: {error}", args)
        if args.debug and error.details:
            print(error.details, file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return 0
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        _error_line(
            f"workstation: internal error: {type(error).__name__}: {error} "
            "(run with --debug for details and please report it)",
            args,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
