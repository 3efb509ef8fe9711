"""``workstation deidentify PATH -o OUTDIR``: a de-identified copy of DICOM images.

A thin front over ``services.deidentify``: progress on a terminal, then the report
(files that need a review first), or one JSON document with ``--json``.  Exit 16 when a
DICOM file could not be de-identified or the run was refused (output inside the input,
a non-empty folder of other data, a bad key).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.core.errors import DeidentificationError
from workstation.core.progress import CancelToken

EXIT_FAILED = DeidentificationError.exit_code


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``deidentify`` command."""
    parser = subparsers.add_parser(
        "deidentify",
        help=command_help("deidentify"),
        description="De-identify every DICOM file under PATH (folder, file, zip or DICOMDIR "
        "tree) into OUTDIR with the DICOM PS3.15 Basic Application Level Confidentiality "
        "Profile (edition 2026c) plus options. Files are named from their new identifiers; "
        "OUTDIR/deidentification-report.json lists them without source paths. Exit 16 when "
        "a file could not be de-identified or the run is refused.",
    )
    parser.add_argument("path", metavar="PATH", help="folder, DICOM file, DICOMDIR or .zip")
    parser.add_argument(
        "-o", "--output", metavar="OUTDIR", required=True, help="the folder to write (new or empty)"
    )
    parser.add_argument(
        "--key",
        metavar="KEYFILE",
        help="the key file (same key: same pseudonyms, UIDs and date shifts); default "
        "OUTDIR.key beside the folder, created when absent",
    )
    parser.add_argument(
        "--option",
        metavar="NAME",
        action="append",
        default=[],
        help="add a profile option (repeatable): retain-longitudinal-modified-dates "
        "(default), retain-patient-characteristics, retain-device-identity, "
        "retain-safe-private, retain-uids, clean-descriptors, clean-pixel-data",
    )
    parser.add_argument(
        "--basic-only",
        action="store_true",
        help="only the basic profile and the --option names given (no default option)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document (quiet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """De-identify ``args.path`` into ``args.output``; print the report."""
    from workstation.io.deid.options import parse_options
    from workstation.services.deidentify import deidentify_path

    names = [name for item in args.option for name in item.split(",") if name.strip()]
    options = parse_options([name.strip() for name in names], basic_only=args.basic_only)
    progress = progress_for(args.json)
    try:
        report = deidentify_path(
            Path(args.path),
            Path(args.output),
            key_file=Path(args.key) if args.key else None,
            options=options,
            progress=progress,
            cancel=CancelToken(),
        )
    finally:
        finish_progress(progress)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(report.text())
    return EXIT_FAILED if report.failures else 0
