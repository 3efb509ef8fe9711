"""`workstation view [PATH]`: open the desktop workstation, or save a screenshot and exit.

Qt is imported only when the command runs, so the rest of the CLI stays Qt-free.
SIGTERM and SIGHUP end the window at once, as by default: Python signal handlers would
run only between Qt events (the screenshot is written atomically either way).
``WORKSTATION_SETTINGS_DIR`` moves the window's settings into a folder of one's choice.
"""

from __future__ import annotations

import argparse
import os
import sys

from workstation.cli.commands import command_help
from workstation.cli.signals import restore_default_signals
from workstation.core.errors import WorkstationError

LAYOUT_CHOICES = ("four", "axial", "coronal", "sagittal", "3d")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``view`` subcommand."""
    parser = subparsers.add_parser(
        "view",
        help=command_help("view"),
        description=(
            "Open PATH (a DICOM folder, file or zip; default: the bundled sample study) in "
            "the workstation. With --screenshot, render and save a PNG of the window, then exit."
        ),
        epilog=(
            "The window keeps its settings (recent studies) in the user's settings; with "
            "WORKSTATION_SETTINGS_DIR=FOLDER it keeps them in FOLDER/workstation.ini instead "
            "(a portable install, a second profile, automated runs)."
        ),
    )
    parser.add_argument(
        "path", nargs="?", help="DICOM folder, file or .zip, or a project (.wsproj)"
    )
    parser.add_argument("--series", help="stack id or series UID to load (default: the best)")
    parser.add_argument(
        "--source",
        metavar="DIR",
        help="with a project: the folder holding its source DICOM when it is no longer "
        "where it was read",
    )
    parser.add_argument(
        "--screenshot", metavar="FILE.png", help="save a PNG of the window and exit"
    )
    parser.add_argument(
        "--mesh-preset",
        metavar="NAME",
        help="with --screenshot: build a model with this threshold preset (e.g. bone)",
    )
    parser.add_argument("--layout", choices=LAYOUT_CHOICES, help="view layout (default: four)")
    parser.add_argument("--size", metavar="WxH", help="window size, e.g. 1600x1000")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the window (exit 0 when it closes) or the screenshot (0 when the PNG is saved)."""
    if args.mesh_preset and not args.screenshot:
        raise WorkstationError("--mesh-preset needs --screenshot (in the window use Models).")
    if args.mesh_preset:
        from workstation.processing.presets import get_preset

        get_preset(args.mesh_preset)
    size = parse_size(args.size)
    source = _project_source(args)
    if args.path:
        from workstation.io.sources import check_input_path

        check_input_path(args.path)
    restore_default_signals()
    if args.screenshot:
        from workstation.io.atomic_write import check_writable_path

        check_writable_path(args.screenshot)  # a bad name fails before the window opens
        return _screenshot(args, size)
    from workstation.gui.app import display_is_available

    if not display_is_available():
        raise WorkstationError(
            "No display: the workstation window needs a desktop session (DISPLAY is unset). "
            "Use --screenshot FILE.png to render without one."
        )
    if sys.platform.startswith("linux") and os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from workstation.gui.app import run_interactive

    return run_interactive(args.path, args.series, args.layout, size, source=source)


def _project_source(args: argparse.Namespace) -> str | None:
    """``--source`` checked: it goes with a project path, ``--series`` does not."""
    source = getattr(args, "source", None)
    is_project = bool(args.path) and str(args.path).lower().endswith(".wsproj")
    if source and not is_project:
        raise WorkstationError("--source goes with a project (.wsproj): where its DICOM is now.")
    if is_project and args.series:
        raise WorkstationError("--series does not apply to a project: it records its series.")
    if source:
        from workstation.io.sources import check_input_path

        check_input_path(source)
    return source


def _screenshot(args: argparse.Namespace, size: tuple[int, int] | None) -> int:
    from workstation.gui.virtual_display import ensure_display

    width, height = size or (1600, 1000)
    # a private Xvfb (when DISPLAY is unset) ends together with this process
    ensure_display(max(width + 100, 1600), max(height + 100, 1000))
    from workstation.gui.app import run_screenshot, shutdown_application

    try:
        saved = run_screenshot(
            args.path,
            args.screenshot,
            args.series,
            args.mesh_preset,
            args.layout,
            size,
            source=getattr(args, "source", None),
        )
    finally:
        shutdown_application()
    print(saved)
    return 0


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'1600x1000' -> (1600, 1000); WorkstationError for anything else."""
    if not text:
        return None
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise WorkstationError(f"--size must look like 1600x1000, got {text!r}") from None
    if width < 400 or height < 300 or width > 8000 or height > 8000:
        raise WorkstationError(f"--size {text} is out of range (400x300 .. 8000x8000)")
    return width, height
