"""``workstation info PATH [--series UID] [--json]``: load a volume and describe it exactly."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.warning_report import (
    HELP_NOTE,
    add_to_record,
    add_verbose_argument,
    print_library_warnings,
)
from workstation.core.geometry import (
    direction_letters,
    is_sheared,
    shear_angle_degrees,
    slice_normal,
)
from workstation.processing.value_summary import value_summary
from workstation.services.loading import LoadedVolume, load_volume

#: Column order of the printed affine: numpy's (slice, row, col) -> (column, row, slice).
AFFINE_INDEX_ORDER = "column,row,slice"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``info`` subcommand."""
    parser = subparsers.add_parser(
        "info",
        help=command_help("info"),
        description="Load the best 3D image stack under PATH (or --series) and print its "
        "dimensions, spacing, orientation, index-to-LPS affine, bounds, intensity "
        "statistics and any geometry warnings. " + HELP_NOTE,
    )
    parser.add_argument("path", metavar="PATH", help="folder, DICOM file, DICOMDIR or .zip")
    parser.add_argument(
        "--series", metavar="UID", default=None, help="stack id or series UID to load"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_verbose_argument(parser)
    parser.set_defaults(func=run)


def affine_column_row_slice(affine: np.ndarray) -> np.ndarray:
    """The affine re-ordered to map [column, row, slice, 1] -> LPS (matching dims)."""
    return np.asarray(affine)[:, [2, 1, 0, 3]]


def _floats(values: Any, digits: int = 6) -> list[float]:
    return [round(float(v), digits) for v in values]


def plane_distance_mm(affine: np.ndarray) -> float:
    """Distance between neighbouring slice planes: the slice step along the plane normal.

    For a sheared grid (gantry tilt) the slice step vector is longer than this.
    """
    return abs(float(np.asarray(affine)[:3, 0] @ slice_normal(affine)))


def info_record(loaded: LoadedVolume) -> dict[str, Any]:
    """Everything ``info`` reports, as a JSON-ready dict."""
    volume, stack = loaded.volume, loaded.stack
    identity = stack.identity
    low, high = volume.bounds()
    values = value_summary(volume.array)
    return {
        "stack_id": stack.stack_id,
        "series_uid": identity.series_uid,
        "study_uid": identity.study_uid,
        "patient_id": identity.patient_id,
        "modality": identity.modality,
        "description": identity.series_description,
        "units": volume.units,
        "dims": list(volume.dims),
        "spacing_mm": _floats([*volume.spacing_xyz[:2], plane_distance_mm(volume.affine)]),
        "slice_step_mm": round(volume.spacing_xyz[2], 6),
        "shear_degrees": round(shear_angle_degrees(volume.affine), 4),
        "orientation": volume.orientation,
        "affine": [_floats(row) for row in affine_column_row_slice(volume.affine)],
        "affine_index_order": AFFINE_INDEX_ORDER,
        "bounds_lps": {"min": _floats(low, 4), "max": _floats(high, 4)},
        "intensity": {
            "min": values.minimum,
            "max": values.maximum,
            "mean": round(values.mean, 4),
        },
        "warnings": list(volume.warnings),
        "chosen_automatically": loaded.chosen_automatically,
        "reason": loaded.reason,
    }


def _axis_line(name: str, vector: np.ndarray) -> str:
    letters = direction_letters(vector) or "?"
    return f"  {name:<7} ({vector[0]:+.4f}, {vector[1]:+.4f}, {vector[2]:+.4f}) -> {letters}"


def _shear_lines(record: dict[str, Any], loaded: LoadedVolume) -> list[str]:
    """The slice-step line of a sheared grid (gantry tilt); none otherwise."""
    if not is_sheared(loaded.volume.affine):
        return []
    return [
        f"Slice step:   {record['slice_step_mm']:.4f} mm along the stack axis, "
        f"{record['shear_degrees']:.1f}° from the plane normal (sheared grid)"
    ]


def format_text(record: dict[str, Any], loaded: LoadedVolume) -> str:
    """Readable multi-line report of an info record."""
    dims = record["dims"]
    spacing = record["spacing_mm"]
    intensity = record["intensity"]
    affine = np.array(record["affine"])
    lines = [
        f"Stack:        {loaded.stack.label or record['stack_id']}",
        f"Series UID:   {record['series_uid']}",
        f"Patient:      {record['patient_id']}   Modality: {record['modality']}   "
        f"Description: {record['description']}",
        f"Dimensions:   {dims[0]} x {dims[1]} x {dims[2]} (columns x rows x slices)",
        f"Spacing:      {spacing[0]:.4f} x {spacing[1]:.4f} x {spacing[2]:.4f} mm "
        "(columns x rows x distance between slice planes)",
        *_shear_lines(record, loaded),
        f"Orientation:  {record['orientation']}",
        "Axes (step per index, LPS mm):",
        _axis_line("column", affine[:3, 0]),
        _axis_line("row", affine[:3, 1]),
        _axis_line("slice", affine[:3, 2]),
        "Affine [column, row, slice, 1] -> LPS mm:",
        *("  [" + "  ".join(f"{v:11.4f}" for v in row) + "]" for row in affine),
        "Bounds (voxel centres, LPS mm): "
        f"min ({', '.join(f'{v:.2f}' for v in record['bounds_lps']['min'])})  "
        f"max ({', '.join(f'{v:.2f}' for v in record['bounds_lps']['max'])})",
        f"Intensity ({record['units']}): min {intensity['min']:g}  max {intensity['max']:g}  "
        f"mean {intensity['mean']:.2f}",
    ]
    if record["warnings"]:
        lines.append("Warnings:")
        lines.extend(f"  - {warning}" for warning in record["warnings"])
    else:
        lines.append("Warnings:     none")
    if len(loaded.scan.stacks) > 1:
        how = "automatically" if record["chosen_automatically"] else "as requested"
        lines.append(f"Chosen {how}: {record['reason']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Load and describe the volume; returns the exit code."""
    progress = progress_for(args.json)
    try:
        loaded = load_volume(args.path, series=args.series, progress=progress, purpose="view")
    finally:
        finish_progress(progress)
    record = info_record(loaded)
    if args.json:
        json.dump(add_to_record(record, args), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_text(record, loaded))
        print_library_warnings(args)
    return 0
