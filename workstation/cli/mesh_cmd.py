"""``workstation mesh PATH -o OUT``: a DICOM folder to a printable, watertight model in mm."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.cli.commands import command_help
from workstation.cli.keys_cmd import add_opening_options, opening_key_from
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.project_cmd import is_project_path, open_for_mesh
from workstation.cli.warning_report import (
    HELP_NOTE,
    add_to_record,
    add_verbose_argument,
    print_library_warnings,
)
from workstation.core.audit_actions import AuditAction
from workstation.core.errors import NotAVolumeError, SegmentationError
from workstation.core.operations import Record, read_operations
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.core.segmentation import Segment
from workstation.core.volume import Volume
from workstation.io.atomic_write import check_writable_path
from workstation.io.mesh_export import COORDINATE_SYSTEMS, SUPPORTED_EXTENSIONS
from workstation.io.writers import writer_for
from workstation.processing.presets import THRESHOLD_PRESETS
from workstation.services.access import require_export
from workstation.services.modeling import (
    DEFAULT_PRESET,
    ModelOptions,
    ModelResult,
    make_model_from_volume,
    make_segment_model,
)
from workstation.services.provenance import provenance_path
from workstation.services.provenance_export import BackgroundSources, options_record, write_model

if TYPE_CHECKING:
    from workstation.services.segment_editor import SegmentEditor

_DEFAULTS = ModelOptions()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mesh`` subcommand."""
    parser = subparsers.add_parser(
        "mesh",
        help=command_help("mesh"),
        description=(
            "Segment a DICOM series by threshold and write a watertight surface model in "
            "patient millimetres. Defaults make a CT bone model. Formats by extension: "
            + ", ".join(SUPPORTED_EXTENSIONS)
            + ", and .dcm (DICOM Encapsulated STL in the source study)"
            + ". The output is replaced only when complete (a killed run leaves the previous "
            "file). " + HELP_NOTE
        ),
    )
    parser.add_argument("path", help="DICOM folder, file or .zip, or a project (.wsproj)")
    parser.add_argument(
        "-o", "--output", required=True, help="output file (.stl .obj .ply .3mf .dcm)"
    )
    parser.add_argument("--series", help="series or stack UID (default: the best 3D series)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--preset",
        help=f"threshold preset (default {DEFAULT_PRESET}): " + ", ".join(THRESHOLD_PRESETS),
    )
    group.add_argument("--threshold", type=float, metavar="LOW", help="lower intensity bound")
    group.add_argument(
        "--ops",
        metavar="OPS.json",
        help="segmentation operations to replay (as the window exports them); the model is "
        "made of the segment named by --segment",
    )
    parser.add_argument(
        "--segment",
        metavar="NAME",
        help="with --ops or a project: the segment to model (default: the only one)",
    )
    parser.add_argument(
        "--source",
        metavar="DIR",
        help="with a project: the folder holding its source DICOM when it is no longer where "
        "it was read",
    )
    parser.add_argument(
        "--allow-changed-sources",
        action="store_true",
        help="with a project: build the model even when its source files changed (warns)",
    )
    add_opening_options(parser)
    parser.add_argument(
        "--upper", type=float, metavar="HIGH", help="upper bound (with --threshold)"
    )
    islands = parser.add_mutually_exclusive_group()
    islands.add_argument("--largest", action="store_true", help="keep only the largest piece")
    islands.add_argument("--seed", metavar="X,Y,Z", help="keep the piece at this LPS point (mm)")
    parser.add_argument(
        "--min-island",
        type=float,
        default=_DEFAULTS.min_island_mm3,
        metavar="MM3",
        help=f"drop pieces smaller than this volume in mm^3 (default {_DEFAULTS.min_island_mm3:g};"
        " 0 keeps all)",
    )
    parser.add_argument(
        "--keep-table",
        action="store_true",
        help="keep pieces outside the patient's body (by default a CT model drops the "
        "scanner table and supports)",
    )
    parser.add_argument("--fill-holes", action="store_true", help="fill internal cavities")
    parser.add_argument(
        "--smooth",
        type=int,
        default=_DEFAULTS.smooth_iterations,
        metavar="ITER",
        help=f"windowed-sinc smoothing iterations (default {_DEFAULTS.smooth_iterations}; 0 = off)",
    )
    parser.add_argument(
        "--pass-band",
        type=float,
        default=_DEFAULTS.pass_band,
        help=f"smoothing pass band, lower is smoother (default {_DEFAULTS.pass_band:g})",
    )
    parser.add_argument(
        "--decimate",
        type=float,
        default=_DEFAULTS.decimate_fraction,
        metavar="FRACTION",
        help=f"share of triangles to remove, 0..0.99 (default {_DEFAULTS.decimate_fraction:g};"
        " 0 = off)",
    )
    parser.add_argument(
        "--coords",
        choices=COORDINATE_SYSTEMS,
        default="lps",
        help="coordinate system (default lps)",
    )
    parser.add_argument("--ascii", action="store_true", help="ASCII STL instead of binary")
    parser.add_argument(
        "--json", action="store_true", help="print statistics and timings as one JSON object"
    )
    add_verbose_argument(parser)
    parser.set_defaults(func=run)


def parse_seed(text: str) -> tuple[float, float, float]:
    """Parse "X,Y,Z" (LPS mm) into a tuple, or raise SegmentationError."""
    parts = [part.strip() for part in text.replace(";", ",").split(",")]
    try:
        values = tuple(float(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise SegmentationError(f"--seed needs three numbers X,Y,Z in mm, got '{text}'.")
    return values  # type: ignore[return-value]


def options_from_args(args: argparse.Namespace) -> ModelOptions:
    """ModelOptions from the parsed command line (validated)."""
    if args.upper is not None and args.threshold is None:
        raise SegmentationError("--upper needs --threshold LOW as well.")
    project = _check_project_flags(args)
    if args.segment and not (args.ops or project):
        raise SegmentationError("--segment names a segment of --ops OPS.json.")
    if (args.ops or project) and (args.largest or args.seed or args.fill_holes):
        raise SegmentationError(
            "--largest, --seed and --fill-holes go with a threshold; with --ops put islands "
            "and fill_holes operations in the operations file."
        )
    options = ModelOptions(
        preset=None if args.threshold is not None else (args.preset or DEFAULT_PRESET),
        lower=args.threshold,
        upper=args.upper,
        largest=args.largest,
        seed_lps=parse_seed(args.seed) if args.seed else None,
        min_island_mm3=args.min_island,
        remove_table=not args.keep_table,
        fill_holes=args.fill_holes,
        smooth_iterations=args.smooth,
        pass_band=args.pass_band,
        decimate_fraction=args.decimate,
        coords=args.coords,
        name=Path(args.output).stem,
    )
    options.validate()
    return options


def run(args: argparse.Namespace) -> int:
    """Load, segment, mesh and export; print statistics (JSON with --json)."""
    from workstation.io.dicom.source_context import source_context
    from workstation.services.export import check_export_path
    from workstation.services.loading import load_volume

    options = options_from_args(args)
    output = check_export_path("mesh", args.output)
    dicom_output = writer_for("mesh", output).needs_source
    if dicom_output and (args.ascii or options.coords != "lps"):
        raise SegmentationError(
            "A .dcm model (Encapsulated STL) is binary STL in the images' LPS coordinates: "
            "drop --ascii and --coords ras."
        )
    record_path = check_writable_path(provenance_path(output))
    operations = read_operations(args.ops) if args.ops else None
    progress = progress_for(args.json)
    cancel = CancelToken()
    timings: dict[str, float] = {}
    sources: BackgroundSources | None = None
    editor: SegmentEditor | None = None  # a project's segments
    project_warnings: list[str] = []
    source_root = str(args.path)
    hashed = None  # a project's sources, hashed while it was opened
    try:
        began = time.perf_counter()
        if is_project_path(args.path):
            loaded, editor, project_warnings, hashed = open_for_mesh(
                args.path,
                args.source,
                args.allow_changed_sources,
                sub_progress(progress, 0.0, 0.3),
                cancel,
                key=opening_key_from(args),
            )
            source_root = loaded.scan.root
            operations = ([], [dict(record) for record in editor.operations])
        else:
            loaded = load_volume(
                args.path, args.series, sub_progress(progress, 0.0, 0.3), cancel, purpose="model"
            )
        timings["load"] = round(time.perf_counter() - began, 4)
        # the source files are hashed for the model's provenance while it is being built
        sources = BackgroundSources(loaded.stack, loaded.volume, source_root, hashed)
        volume = loaded.volume
        require_export([volume.source.identity], AuditAction.EXPORT)  # refused before meshing
        if min(volume.shape) < 2:
            raise NotAVolumeError(
                f"The chosen series is a single image ({volume.dims[0]} x {volume.dims[1]}); "
                "a 3D model needs a stack of slices."
            )
        segment = None
        if editor is not None:
            result, segment = _model_of_segment(
                editor, volume, args.segment, options, sub_progress(progress, 0.3, 0.95), cancel
            )
        elif operations is None:
            result = make_model_from_volume(
                volume, options, sub_progress(progress, 0.3, 0.95), cancel
            )
        else:
            result, segment = _model_of_operations(
                volume, operations, args.segment, options, sub_progress(progress, 0.3, 0.95), cancel
            )
        timings.update(result.timings)
        began = time.perf_counter()
        progress(0.95, "Hashing the source files")
        source_series = sources.result()
        record = options_record(
            [source_series],
            options,
            result.statistics.as_dict(),
            result.mesh.name or options.name,
            None if operations is None else [*operations[0], *operations[1]],
            segment,
        )
        timings["provenance"] = round(time.perf_counter() - began, 4)
        began = time.perf_counter()
        progress(0.96, f"Writing {output.name}")
        source = source_context(loaded.stack, volume) if dicom_output else None
        write_model(
            result.mesh,
            output,
            record,
            coords=options.coords,
            binary=not args.ascii,
            source=source,
            identities=[volume.source.identity],
        )
        timings["export"] = round(time.perf_counter() - began, 4)
        progress(1.0, "Done")
    finally:
        if sources is not None:
            sources.stop()
        finish_progress(progress)
    timings["total"] = round(sum(timings.values()), 4)
    lower, upper = result.threshold or (None, None)
    summary = {
        "output": str(output),
        "format": output.suffix.lower().lstrip("."),
        "coords": options.coords,
        "units": "mm",
        "series_uid": volume.source.identity.series_uid,
        "stack_id": getattr(loaded.stack, "stack_id", ""),
        "stack_reason": loaded.reason,
        "threshold": {"lower": lower, "upper": upper, "units": volume.units},
        "statistics": result.statistics.as_dict(),
        "timings_s": timings,
        "report": result.report,
        "warnings": list(volume.warnings) + project_warnings,
        "provenance": {
            "record": str(record_path),
            "source_files": len(source_series.files),
            "source_bytes": source_series.total_bytes,
            "hashing_s": round(sources.seconds, 4),
        },
    }
    if args.json:
        json.dump(add_to_record(summary, args), sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_summary(summary)
        print_library_warnings(args)
    return 0


def _model_of_operations(
    volume: Volume,
    operations: tuple[list[Record], list[Record]],
    segment_name: str | None,
    options: ModelOptions,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> tuple[ModelResult, Segment]:
    """Replay the operations, then model one segment exactly as the window does."""
    from workstation.services.segmenting import replay, segment_to_model

    editor = replay(volume, *operations, sub_progress(progress, 0.0, 0.3), cancel)
    segment = segment_to_model(editor, segment_name)
    model = make_segment_model(volume, segment, options, sub_progress(progress, 0.3, 1.0), cancel)
    return model, segment


def _model_of_segment(
    editor: SegmentEditor,
    volume: Volume,
    segment_name: str | None,
    options: ModelOptions,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> tuple[ModelResult, Segment]:
    """Model one segment of a project's segmentation exactly as the window does."""
    from workstation.services.segmenting import segment_to_model

    segment = segment_to_model(editor, segment_name)
    return make_segment_model(volume, segment, options, progress, cancel), segment


def _check_project_flags(args: argparse.Namespace) -> bool:
    """True for a project path; its flags checked (a project records its series)."""
    project = is_project_path(args.path)
    if not project and (args.source or args.allow_changed_sources):
        raise SegmentationError("--source and --allow-changed-sources go with a project (.wsproj).")
    if project and (args.ops or args.series or args.preset or args.threshold is not None):
        raise SegmentationError(
            "A project's model is made of one of its segments: give --segment NAME "
            "(not --ops, --series, --preset or --threshold)."
        )
    return project


def _print_summary(summary: dict) -> None:
    stats = summary["statistics"]
    space = summary["coords"].upper()
    low = ", ".join(f"{v:.1f}" for v in stats["bounds_min"])
    high = ", ".join(f"{v:.1f}" for v in stats["bounds_max"])
    lines = [
        f"Wrote {summary['output']} ({summary['format'].upper()}, {space} millimetres)",
        f"  triangles {stats['triangles']:,}, vertices {stats['vertices']:,}",
        f"  volume {stats['volume_mm3']:,.1f} mm^3, area {stats['area_mm2']:,.1f} mm^2",
        f"  bounds LPS min ({low}) max ({high}) mm",
        f"  pieces {stats['components']}, watertight {'yes' if stats['watertight'] else 'NO'}, "
        f"manifold {'yes' if stats['manifold'] else 'NO'}",
    ]
    lines.append(f"  series: {summary['stack_reason']}")
    lines.append(f"  provenance: {summary['provenance']['record']}")
    lines += [f"  - {line}" for line in summary["report"]]
    lines += [f"  warning: {line}" for line in summary["warnings"]]
    timing = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in summary["timings_s"].items())
    lines.append(f"  time: {timing}")
    print("\n".join(lines))
