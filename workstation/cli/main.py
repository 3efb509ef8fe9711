"""The ``workstation`` command: subcommands scan, info, mesh and view.

With no subcommand it opens the desktop workstation on the bundled sample study.
Errors a user can act on print one line on stderr and exit non-zero; they never show
a traceback (``--debug`` shows it for developers).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from workstation import __version__
from workstation.core.errors import Cancelled, WorkstationError
from workstation.core.runtime import disable_numpy_hugepages

#: Subcommand modules; each has ``register(subparsers)`` that sets ``func(args) -> int``.
COMMAND_MODULES = (
    "workstation.cli.scan_cmd",
    "workstation.cli.info_cmd",
    "workstation.cli.mesh_cmd",
    "workstation.cli.view_cmd",
)

EXIT_INTERNAL_ERROR = 70


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="workstation",
        description="Surgical planning workstation: DICOM to exact, printable 3D models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks for unexpected errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    disable_numpy_hugepages()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["view", *(argv or [])])
    try:
        return int(args.func(args) or 0)
    except Cancelled as error:
        print(f"workstation: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("workstation: cancelled by the user.", file=sys.stderr)
        return Cancelled.exit_code
    except WorkstationError as error:
        print(f"workstation: error: {error}", file=sys.stderr)
        if args.debug and error.details:
            print(error.details, file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return 0
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        print(
            f"workstation: internal error: {type(error).__name__}: {error} "
            "(run with --debug for details and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
