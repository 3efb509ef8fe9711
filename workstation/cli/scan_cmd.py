"""``workstation scan PATH [--json] [-v]``: list the image stacks found under a path."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.warning_report import (
    HELP_NOTE,
    add_to_record,
    add_verbose_argument,
    print_library_warnings,
)
from workstation.io.dicom.derived import KIND_NAMES
from workstation.io.dicom.header_geometry import stack_geometry
from workstation.io.dicom.model import DerivedObject, ScanResult, Stack, format_dicom_date
from workstation.io.dicom.scan import scan_path, summarize_skipped
from workstation.io.sources import printable

#: Table columns: (title, maximum width).
COLUMNS = (
    ("PATIENT", 22),
    ("STUDY DATE", 10),
    ("SERIES", 6),
    ("DESCRIPTION", 44),
    ("MOD", 8),
    ("KIND", 17),
    ("DIMS", 13),
    ("SPACING MM", 26),
    ("ORIENTATION", 11),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scan`` subcommand."""
    parser = subparsers.add_parser(
        "scan",
        help=command_help("scan"),
        description="Read DICOM headers under PATH and list every image stack found "
        "(one row per loadable stack), with warnings and skipped files. " + HELP_NOTE,
    )
    parser.add_argument("path", metavar="PATH", help="folder, DICOM file, DICOMDIR or .zip")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    add_verbose_argument(parser, also="list every skipped file with its reason and ")
    parser.add_argument(
        "--workers", type=int, default=None, help="header-reading processes (default: CPUs)"
    )
    parser.set_defaults(func=run)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def stack_record(stack: Stack) -> dict[str, Any]:
    """The JSON description of one stack (keys documented in the scan brief)."""
    geometry = stack_geometry(stack.frames)
    identity = stack.identity
    return {
        "stack_id": stack.stack_id,
        "series_uid": identity.series_uid,
        "study_uid": identity.study_uid,
        "patient_id": identity.patient_id,
        "patient_name": identity.patient_name,
        "study_date": identity.study_date,
        "series_number": identity.series_number,
        "modality": identity.modality,
        "description": identity.series_description,
        "label": stack.label,
        "kind": stack.kind,
        "confidence": stack.confidence,
        "n_files": stack.n_files,
        "n_frames": len(stack.frames),
        "dims": list(geometry.dims),
        "spacing_mm": [_round(value) for value in geometry.spacing],
        "orientation": geometry.orientation,
        "warnings": list(stack.warnings),
    }


def scan_record(scan: ScanResult) -> dict[str, Any]:
    """The whole scan as one JSON-ready object."""
    return {
        "root": scan.root,
        "series": [stack_record(stack) for stack in scan.stacks],
        "results": [derived_record(item) for item in scan.derived],
        "skipped": [{"path": item.path, "reason": item.reason} for item in scan.skipped],
    }


def derived_record(item: DerivedObject) -> dict[str, Any]:
    """A DICOM SEG or Encapsulated STL found by the scan, with the series it was made on."""
    return {
        "kind": item.kind,
        "label": item.label,
        "path": item.location,
        "sop_instance_uid": item.sop_instance_uid,
        "series_uid": item.series_uid,
        "study_uid": item.study_uid,
        "frame_of_reference_uid": item.frame_of_reference_uid,
        "referenced_series_uids": list(item.referenced_series_uids),
    }


def _derived_line(item: DerivedObject) -> str:
    """'result: DICOM SEG "Bone" on series 1.2.3 (bone.dcm)'."""
    on = ", ".join(item.referenced_series_uids) or "an unknown series"
    kind = KIND_NAMES.get(item.kind, item.kind)
    return f'result: {kind} "{item.label}" on series {on} ({printable(item.location)})'


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _label_detail(stack: Stack) -> str:
    """The ' [detail]' part of a split stack's label (echo, orientation...), or ''."""
    start = stack.label.rfind(" [")
    return stack.label[start:] if stack.label.endswith("]") and start >= 0 else ""


def _spacing_text(spacing: Sequence[float | None]) -> str:
    return " x ".join("?" if value is None else f"{value:.4g}" for value in spacing)


def format_table(scan: ScanResult, verbose: bool = False) -> str:
    """The human-readable report: one row per stack, warnings under it, skipped summary."""
    rows = []
    for stack in scan.stacks:
        geometry = stack_geometry(stack.frames)
        identity = stack.identity
        patient = identity.patient_name or identity.patient_id or "(unknown)"
        rows.append(
            [
                patient,
                format_dicom_date(identity.study_date),
                identity.series_number,
                (identity.series_description or "(no description)") + _label_detail(stack),
                identity.modality,
                f"{stack.kind} {stack.confidence:.2f}",
                "x".join(str(value) for value in geometry.dims),
                _spacing_text(geometry.spacing),
                geometry.orientation,
            ]
        )
    widths = [
        min(limit, max([len(title)] + [len(row[index]) for row in rows]))
        for index, (title, limit) in enumerate(COLUMNS)
    ]
    lines = [f"{scan.root}: {len(scan.stacks)} image stack(s)"]
    header = "  ".join(
        title.ljust(width) for (title, _), width in zip(COLUMNS, widths, strict=True)
    )
    lines.append(header.rstrip())
    for stack, row in zip(scan.stacks, rows, strict=True):
        cells = [_cell(text, width).ljust(width) for text, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
        if verbose:
            lines.append(f"    id: {stack.stack_id}")
        lines.extend(f"    ! {warning}" for warning in stack.warnings)
    lines.extend(_derived_line(item) for item in scan.derived)
    if scan.skipped:
        summary = ", ".join(
            f"{count} {reason}" for reason, count in summarize_skipped(scan.skipped)
        )
        lines.append(f"{len(scan.skipped)} files skipped ({summary})")
        if verbose:
            lines.extend(f"    {printable(item.path)}: {item.reason}" for item in scan.skipped)
        else:
            lines.append("    (use -v to list them)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Scan ``args.path`` and print the table or the JSON object; 0 when stacks were found."""
    progress = progress_for(args.json)
    try:
        scan = scan_path(args.path, progress=progress, workers=args.workers)
    finally:
        finish_progress(progress)
    if args.json:
        record = add_to_record(scan_record(scan), args)
        json.dump(record, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(format_table(scan, verbose=args.verbose))
        print_library_warnings(args)
    return 0
