"""``workstation segment PATH -o OUT``: replay segmentation operations and write the result."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.keys_cmd import add_saving_options, saving_key_from
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.warning_report import (
    HELP_NOTE,
    add_to_record,
    add_verbose_argument,
    print_library_warnings,
)
from workstation.core.errors import EncryptionError, NotAVolumeError
from workstation.core.operations import Record, read_operations
from workstation.core.progress import CancelToken, sub_progress
from workstation.io.atomic_write import check_writable_path
from workstation.processing.presets import THRESHOLD_PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``segment`` subcommand."""
    parser = subparsers.add_parser(
        "segment",
        help=command_help("segment"),
        description=(
            "Apply a list of segmentation operations (OPS.json, as the window exports it: "
            "every point in patient LPS mm) to a DICOM series and write the segments: "
            ".nrrd (patient LPS, exact voxel-to-LPS map) or .nii.gz (RAS, as NIfTI "
            "requires) or .dcm (a DICOM Segmentation of the source series: one binary "
            "frame per source image it covers, referencing that image, in the study's "
            "Frame of Reference). The same list on the same series gives the same voxels. Instead "
            "of a list, --preset or --threshold (with --largest or --seed) make one. " + HELP_NOTE
        ),
    )
    parser.add_argument("path", help="DICOM folder, file or .zip")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (.nrrd, .nii.gz, .dcm DICOM SEG), or a project (.wsproj) holding the "
        "series' record, "
        "the segments and the operations",
    )
    parser.add_argument("--series", help="series or stack UID (default: the best 3D series)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ops", metavar="OPS.json", help="operations to replay")
    source.add_argument("--preset", help="threshold preset: " + ", ".join(THRESHOLD_PRESETS))
    source.add_argument("--threshold", type=float, metavar="LOW", help="lower intensity bound")
    parser.add_argument(
        "--upper", type=float, metavar="HIGH", help="upper bound (with --threshold)"
    )
    islands = parser.add_mutually_exclusive_group()
    islands.add_argument("--largest", action="store_true", help="keep only the largest island")
    islands.add_argument("--seed", metavar="X,Y,Z", help="keep the island at this LPS point (mm)")
    parser.add_argument("--name", help="segment name (with --preset or --threshold)")
    parser.add_argument(
        "--json", action="store_true", help="print per-segment statistics as one JSON object"
    )
    add_saving_options(parser)
    add_verbose_argument(parser)
    parser.set_defaults(func=run)


def _flag_records(args: argparse.Namespace, volume: Any) -> list[Record]:
    from workstation.cli.mesh_cmd import parse_seed
    from workstation.services.segmenting import shortcut_operations

    return shortcut_operations(
        volume,
        preset=args.preset,
        lower=args.threshold,
        upper=args.upper,
        largest=args.largest,
        seed_lps=parse_seed(args.seed) if args.seed else None,
        name=args.name,
    )


def _check_flags(args: argparse.Namespace) -> None:
    from workstation.core.errors import SegmentationError

    if args.ops and (args.largest or args.seed or args.name or args.upper is not None):
        raise SegmentationError(
            "--largest, --seed, --name and --upper go with --preset or --threshold; "
            "with --ops put islands and names in the operations file."
        )
    if args.upper is not None and args.threshold is None:
        raise SegmentationError("--upper needs --threshold LOW as well.")


def run(args: argparse.Namespace) -> int:
    """Load the series, apply the operations, write the segmentation, print statistics."""
    from workstation.io.writers import writer_for
    from workstation.services.export import write_segmentation
    from workstation.services.loading import load_volume
    from workstation.services.segment_statistics import segment_summary
    from workstation.services.segmenting import replay

    _check_flags(args)
    to_project = args.output.lower().endswith(".wsproj")
    sealing = saving_key_from(args)  # a key problem fails before any work
    if sealing is not None and not to_project:
        raise EncryptionError("--encrypt goes with a project output (.wsproj).")
    if not to_project:
        writer_for("segmentation", args.output)  # an unknown format fails before any work
        _check_dicom_input(args.path, args.output)
    output = check_writable_path(args.output)
    segments, operations = read_operations(args.ops) if args.ops else ([], [])
    progress = progress_for(args.json)
    cancel = CancelToken()
    timings: dict[str, float] = {}
    try:
        began = time.perf_counter()
        loaded = load_volume(args.path, args.series, sub_progress(progress, 0.0, 0.4), cancel)
        volume = loaded.volume
        if min(volume.shape) < 2:
            raise NotAVolumeError("The chosen series is a single image; segments need a stack.")
        timings["load"] = round(time.perf_counter() - began, 4)
        if not args.ops:
            operations = _flag_records(args, volume)
        began = time.perf_counter()
        editor = replay(volume, segments, operations, sub_progress(progress, 0.4, 0.9), cancel)
        timings["operations"] = round(time.perf_counter() - began, 4)
        began = time.perf_counter()
        progress(0.92, f"Writing {output.name}")
        if to_project:
            from workstation.services.project import save_editor_project

            save_editor_project(
                output, loaded.stack, volume, str(args.path), editor, encryption=sealing
            )
        else:
            write_segmentation(
                editor.segmentation,
                output,
                source=_dicom_source(output, loaded.stack, volume),
                identities=[volume.source.identity],
            )
        timings["export"] = round(time.perf_counter() - began, 4)
        progress(0.95, "Measuring the segments")
        segment_list = segment_summary(volume, editor.segmentation)
        progress(1.0, "Done")
    finally:
        finish_progress(progress)
    timings["total"] = round(sum(timings.values()), 4)
    summary = {
        "output": str(output),
        "format": "nii.gz" if output.name.lower().endswith(".nii.gz") else output.suffix[1:],
        "series_uid": volume.source.identity.series_uid,
        "stack_id": getattr(loaded.stack, "stack_id", ""),
        "units": volume.units,
        "operations": len(segments) + len(operations),
        "segments": segment_list,
        "timings_s": timings,
        "warnings": list(volume.warnings) + _format_warnings(output.name, volume.affine),
    }
    if args.json:
        json.dump(add_to_record(summary, args), sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_summary(summary)
        print_library_warnings(args)
    return 0


#: Volume files that are not DICOM: a DICOM result cannot be made from them.
NON_DICOM_VOLUMES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def _check_dicom_input(path: str, output: str) -> None:
    """Refuse a DICOM output (.dcm) from a volume file before any work."""
    from workstation.core.errors import ExportError

    if output.lower().endswith(".dcm") and str(path).lower().endswith(NON_DICOM_VOLUMES):
        raise ExportError(
            f"A DICOM SEG (.dcm) needs the DICOM series it is made on; {path} is not DICOM "
            "images (write .seg.nrrd or .nii.gz instead)."
        )


def _dicom_source(output: Any, stack: Any, volume: Any) -> Any:
    """The source series context a DICOM output (.dcm) needs, else None."""
    from workstation.io.dicom.source_context import source_context
    from workstation.io.writers import writer_for

    if not writer_for("segmentation", output).needs_source:
        return None

    return source_context(stack, volume)


def _format_warnings(name: str, affine: Any) -> list[str]:
    """What a reader of this file should know about the format and the grid."""
    from workstation.core.geometry import is_sheared

    if name.lower().endswith((".nii", ".nii.gz")) and is_sheared(affine):
        return [
            "the grid is sheared (gantry tilt): the NIfTI file holds it exactly, but readers "
            "built on ITK (3D Slicer, ITK-SNAP) refuse sheared NIfTI; write .nrrd for them"
        ]
    return []


def _print_summary(summary: dict[str, Any]) -> None:
    lines = [f"Wrote {summary['output']} ({len(summary['segments'])} segment(s))"]
    for segment in summary["segments"]:
        stats = segment["statistics"]
        lines.append(
            f"  {segment['name']}: {stats['voxels']:,} voxels, {stats['volume_mm3']:,.1f} mm^3"
        )
    lines += [f"  warning: {line}" for line in summary["warnings"]]
    timing = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in summary["timings_s"].items())
    lines.append(f"  time: {timing}")
    print("\n".join(lines))
