"""``workstation mesh-tool TOOL IN... -o OUT``: cut, boolean, offset, hollow, mirror, transform.

Each result is a closed, manifold solid (or a warning says why not), written atomically
with its provenance record beside it: the tool, its parameters and the SHA-256 of each
input file and mesh.  Several results (a cut's pieces) go to OUT's name numbered:
``OUT_1.stl``, ``OUT_2.stl``, ... largest first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.warning_report import (
    HELP_NOTE,
    add_to_record,
    add_verbose_argument,
    print_library_warnings,
)
from workstation.core.errors import InputPathError, MeshToolError, WorkstationError
from workstation.core.progress import CancelToken, sub_progress
from workstation.io.atomic_write import check_writable_path
from workstation.io.mesh_export import COORDINATE_SYSTEMS, SUPPORTED_EXTENSIONS, check_output_path

TOOLS_HELP = {
    "cut": "cut a model by one or more planes into closed, capped pieces (OUT_1, OUT_2, ...)",
    "boolean": "union, subtract or intersect models (the first op the others)",
    "offset": "grow (+) or shrink (-) a model's surface by millimetres",
    "hollow": "hollow a model to a wall thickness, with optional drain holes",
    "mirror": "mirror a model across a plane (e.g. the mid-sagittal plane)",
    "transform": "move and rotate models rigidly; the matrix is recorded",
}

NAMING = (
    "Several results (a cut's pieces, or transform with several inputs) are written as "
    "OUT's name with _1, _2, ... before the extension, largest piece first."
)


def _numbers(count: int, form: str) -> Any:
    """An argparse type: ``count`` comma-separated numbers (as ``form`` shows them)."""

    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(part) for part in text.replace(";", ",").split(","))
        except ValueError:
            values = ()
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"needs {form} ({count} numbers), got '{text}'")
        return values

    return parse


def _rotation(text: str) -> tuple[str | tuple[float, float, float], float]:
    """``AXIS,DEG`` (AXIS: L, P, S, x, y, z, optionally -L...) or ``AX,AY,AZ,DEG``."""
    parts = [part.strip() for part in text.split(",")]
    try:
        if len(parts) == 2:
            return parts[0], float(parts[1])
        if len(parts) == 4:
            return (float(parts[0]), float(parts[1]), float(parts[2])), float(parts[3])
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"needs AXIS,DEG or AX,AY,AZ,DEG, got '{text}'")


def _common(parser: argparse.ArgumentParser, inputs: str) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IN", help=inputs)
    parser.add_argument(
        "-o", "--output", required=True, help="output file (" + " ".join(SUPPORTED_EXTENSIONS) + ")"
    )
    parser.add_argument(
        "--coords", choices=COORDINATE_SYSTEMS, default="lps", help="output coordinates (lps)"
    )
    parser.add_argument("--ascii", action="store_true", help="ASCII STL instead of binary")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_verbose_argument(parser)


def _spacing(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spacing",
        type=float,
        metavar="MM",
        help="distance-field grid spacing in mm (default: from the model's edge length, "
        "0.2-1 mm); the surface is accurate to about a tenth of it",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``mesh-tool`` subcommand with one sub-command per tool."""
    parser = subparsers.add_parser(
        "mesh-tool",
        help=command_help("mesh-tool"),
        description=(
            "Model tools on mesh files in LPS millimetres (a file declaring SPACE=RAS is "
            "converted). Each result is checked watertight and manifold; outputs are written "
            "whole or not at all, each with OUT.provenance.json beside it. "
            + NAMING
            + " Exit codes: 0 done, 2 an input file is missing, 8 an output cannot be written "
            "or an input read, 13 the tool cannot give a closed solid (the message says why)."
        ),
    )
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    cut = tools.add_parser(
        "cut", help=TOOLS_HELP["cut"], description=TOOLS_HELP["cut"] + ". " + NAMING
    )
    _common(cut, "the closed model to cut")
    cut.add_argument(
        "--plane",
        action="append",
        required=True,
        type=_numbers(6, "X,Y,Z,NX,NY,NZ"),
        metavar="X,Y,Z,NX,NY,NZ",
        help="a cutting plane: a point and its normal, LPS mm (repeat for several planes)",
    )
    boolean = tools.add_parser(
        "boolean", help=TOOLS_HELP["boolean"], description=TOOLS_HELP["boolean"]
    )
    _common(boolean, "two or more closed models: the first, then the others")
    boolean.add_argument(
        "--operation", required=True, choices=("union", "subtract", "intersect"), help="the boolean"
    )
    offset = tools.add_parser("offset", help=TOOLS_HELP["offset"], description=TOOLS_HELP["offset"])
    _common(offset, "the closed model to offset")
    offset.add_argument(
        "--distance", required=True, type=float, metavar="MM", help="mm; > 0 grows, < 0 shrinks"
    )
    _spacing(offset)
    hollow = tools.add_parser("hollow", help=TOOLS_HELP["hollow"], description=TOOLS_HELP["hollow"])
    _common(hollow, "the closed model to hollow")
    hollow.add_argument("--wall", required=True, type=float, metavar="MM", help="wall thickness")
    hollow.add_argument(
        "--drain",
        action="append",
        default=[],
        type=_numbers(7, "X,Y,Z,DX,DY,DZ,DIAMETER"),
        metavar="X,Y,Z,DX,DY,DZ,DIAMETER",
        help="a drain hole from the point X,Y,Z along DX,DY,DZ (into the model) of DIAMETER mm "
        "through the wall into the cavity (repeatable); each is checked to open the cavity",
    )
    _spacing(hollow)
    mirror = tools.add_parser("mirror", help=TOOLS_HELP["mirror"], description=TOOLS_HELP["mirror"])
    _common(mirror, "the model to mirror")
    plane = mirror.add_mutually_exclusive_group(required=True)
    plane.add_argument(
        "--plane",
        type=_numbers(6, "X,Y,Z,NX,NY,NZ"),
        metavar="X,Y,Z,NX,NY,NZ",
        help="the mirror plane: a point and its normal, LPS mm",
    )
    plane.add_argument(
        "--mid-sagittal",
        type=_numbers(3, "X,Y,Z"),
        metavar="X,Y,Z",
        help="the sagittal plane through this point (normal L = 1,0,0)",
    )
    transform = tools.add_parser(
        "transform",
        help=TOOLS_HELP["transform"],
        description=TOOLS_HELP["transform"] + ". " + NAMING,
    )
    _common(transform, "the model(s) to move")
    transform.add_argument(
        "--matrix",
        metavar="M",
        help="a 4x4 rigid matrix: 16 numbers row by row (comma-separated) or a JSON file "
        'holding [[...], ...] or {"matrix": [[...], ...]}; not with --rotate/--translate',
    )
    transform.add_argument(
        "--rotate",
        type=_rotation,
        metavar="AXIS,DEG",
        help="rotate by DEG degrees (right hand) about AXIS: L, P, S (or x, y, z, -L...) or "
        "AX,AY,AZ,DEG; applied before --translate",
    )
    transform.add_argument(
        "--about",
        type=_numbers(3, "X,Y,Z"),
        metavar="X,Y,Z",
        help="the point the rotation turns about (default the origin)",
    )
    transform.add_argument(
        "--translate", type=_numbers(3, "X,Y,Z"), metavar="X,Y,Z", help="move by X,Y,Z mm"
    )
    for sub in (cut, boolean, offset, hollow, mirror, transform):
        sub.epilog = HELP_NOTE
        sub.set_defaults(func=run)


# -- parameters -----------------------------------------------------------------------------
def _plane(values: tuple[float, ...]) -> dict[str, list[float]]:
    return {"point_lps": list(values[:3]), "normal_lps": list(values[3:])}


def _matrix(text: str) -> Any:
    """The --matrix value: 16 numbers, or a JSON file holding the matrix."""
    source = Path(text)
    if source.suffix.lower() == ".json" or source.is_file():
        try:
            value = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputPathError(f"Cannot read the matrix file {source}: {error}") from None
        return value.get("matrix") if isinstance(value, dict) else value
    try:
        numbers = [
            float(part) for part in text.replace(";", ",").replace(" ", ",").split(",") if part
        ]
    except ValueError:
        numbers = []
    if len(numbers) != 16:
        raise MeshToolError(f"--matrix needs 16 numbers (row by row) or a JSON file, got '{text}'.")
    return [numbers[row * 4 : row * 4 + 4] for row in range(4)]


def tool_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The mesh tool's parameters from the command line."""
    from workstation.processing.guides import rigid_transform

    tool = args.tool
    if tool == "cut":
        return {"planes": [_plane(values) for values in args.plane]}
    if tool == "boolean":
        return {"operation": args.operation}
    spacing = {} if getattr(args, "spacing", None) is None else {"spacing_mm": args.spacing}
    if tool == "offset":
        return {"distance_mm": args.distance, **spacing}
    if tool == "hollow":
        holes = [
            {"point_lps": list(v[:3]), "direction_lps": list(v[3:6]), "diameter_mm": v[6]}
            for v in args.drain
        ]
        return {"wall_mm": args.wall, "drain_holes": holes, **spacing}
    if tool == "mirror":
        if args.mid_sagittal is not None:
            return {"point_lps": list(args.mid_sagittal), "normal_lps": [1.0, 0.0, 0.0]}
        return _plane(args.plane)
    if args.matrix is not None:
        if args.rotate or args.translate or args.about:
            raise MeshToolError("--matrix goes alone, without --rotate, --about or --translate.")
        return {"matrix": _matrix(args.matrix)}
    if args.about and not args.rotate:
        raise MeshToolError("--about goes with --rotate.")
    if not (args.rotate or args.translate):
        raise MeshToolError("transform needs --matrix, --rotate or --translate.")
    steps = []
    if args.rotate:
        steps.append(rigid_transform.rotation_matrix(args.rotate[0], args.rotate[1], args.about))
    if args.translate:
        steps.append(rigid_transform.translation_matrix(args.translate))
    return {"matrix": rigid_transform.compose(*steps).tolist()}


def output_paths(output: Path, count: int, numbered: bool) -> list[Path]:
    """Where the results go: OUT itself, or OUT_1, OUT_2, ... for several (or a cut's)."""
    if not numbered:
        return [output]
    return [
        output.with_name(f"{output.stem}_{number}{output.suffix}") for number in range(1, count + 1)
    ]


# -- running --------------------------------------------------------------------------------
def _read_inputs(paths: list[str]) -> list[Any]:
    from workstation.io.mesh_export import read_mesh

    meshes = []
    for path in paths:
        if not Path(path).is_file():
            raise InputPathError(f"No such mesh file: {path}")
        meshes.append(read_mesh(path))
    return meshes


def _input_files(paths: list[str], meshes: list[Any]) -> list[dict[str, Any]]:
    """What a record says of each input: its path, file SHA-256 and size, mesh SHA-256."""
    from workstation.io.mesh_export import file_coordinate_system
    from workstation.io.source_files import file_sha256
    from workstation.services.mesh_tools import mesh_sha256

    described = []
    for path, mesh in zip(paths, meshes, strict=True):
        digest, size = file_sha256(str(path))
        described.append(
            {
                "name": mesh.name,
                "path": str(Path(path).absolute()),
                "sha256": digest,
                "size": size,
                "coords": file_coordinate_system(path),
                "mesh_sha256": mesh_sha256(mesh),
            }
        )
    return described


def _input_sources(paths: list[str]) -> list[Any]:
    """The source images the inputs' own provenance records name (each series once)."""
    from workstation.io.source_files import SourceSeries
    from workstation.services.provenance import provenance_path, read_provenance

    found: dict[str, Any] = {}
    for path in paths:
        with contextlib.suppress(WorkstationError, OSError):
            for item in read_provenance(provenance_path(path)).get("sources", []):
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    series = SourceSeries.from_dict(item)
                    found.setdefault(json.dumps(item, sort_keys=True), series)
    return list(found.values())


def run(args: argparse.Namespace) -> int:
    """Read the inputs, run the tool, write every result with its record; print a summary."""
    from workstation.processing.mesh_statistics import mesh_statistics
    from workstation.services.mesh_tools import run_mesh_tool
    from workstation.services.provenance import model_record, provenance_path
    from workstation.services.provenance_export import write_model

    output = check_output_path(args.output)
    check_writable_path(provenance_path(output))
    parameters = tool_parameters(args)
    progress = progress_for(args.json)
    cancel = CancelToken()
    timings: dict[str, float] = {}
    written: list[Path] = []
    try:
        began = time.perf_counter()
        progress(0.0, "Reading the models")
        meshes = _read_inputs(args.inputs)
        timings["read"] = round(time.perf_counter() - began, 4)
        began = time.perf_counter()
        result = run_mesh_tool(
            args.tool, meshes, parameters, sub_progress(progress, 0.05, 0.9), cancel
        )
        timings[args.tool] = round(time.perf_counter() - began, 4)
        began = time.perf_counter()
        numbered = args.tool == "cut" or len(result.meshes) > 1
        targets = output_paths(output, len(result.meshes), numbered)
        for target in targets:
            check_writable_path(provenance_path(check_output_path(target)))
        inputs = _input_files(args.inputs, meshes)
        sources = _input_sources(args.inputs)
        outputs = []
        for number, (mesh, check, target) in enumerate(
            zip(result.meshes, result.checks, targets, strict=True)
        ):
            progress(0.9 + 0.1 * number / len(targets), f"Writing {target.name}")
            mesh.name = target.stem
            statistics = mesh_statistics(mesh).as_dict()
            record = model_record(
                sources=sources,
                operations=[],
                segment_name=None,
                segment_id=None,
                parameters=result.operation,
                statistics=statistics,
                model_name=mesh.name,
            )
            record["inputs"] = inputs
            write_model(mesh, target, record, coords=args.coords, binary=not args.ascii)
            written.append(target)
            entry = {
                "output": str(target),
                "provenance": str(provenance_path(target)),
                "statistics": statistics,
                **check.to_dict(),
                "report": list(mesh.report),
            }
            if args.tool == "cut":
                entry["sides"] = result.details["pieces"][number]["sides"]
            outputs.append(entry)
        timings["export"] = round(time.perf_counter() - began, 4)
        progress(1.0, "Done")
    except BaseException:
        _remove(written)
        raise
    finally:
        finish_progress(progress)
    timings["total"] = round(sum(timings.values()), 4)
    summary = {
        "tool": args.tool,
        "coords": args.coords,
        "units": "mm",
        "outputs": outputs,
        "operation": result.operation,
        "warnings": list(result.warnings),
        "timings_s": timings,
    }
    if args.tool == "hollow":
        summary["drain_holes"] = result.details.get("drain_holes", [])
    if args.json:
        json.dump(add_to_record(summary, args), sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_summary(summary)
        print_library_warnings(args)
    return 0


def _remove(paths: list[Path]) -> None:
    """Remove what this run wrote before it failed (a result set is written whole or not)."""
    from workstation.services.provenance import provenance_path

    for path in paths:
        for item in (path, provenance_path(path)):
            with contextlib.suppress(OSError):
                item.unlink()


def _print_summary(summary: dict[str, Any]) -> None:
    space = summary["coords"].upper()
    lines = []
    for entry in summary["outputs"]:
        stats = entry["statistics"]
        solid = (
            "closed solid" if entry["watertight"] and entry["manifold"] else "NOT a closed solid"
        )
        sides = f", sides {' '.join(entry['sides'])}" if "sides" in entry else ""
        lines.append(
            f"Wrote {entry['output']} ({space} mm): {stats['triangles']:,} triangles, "
            f"volume {entry['volume_mm3']:,.2f} mm^3, {entry['components']} piece(s), "
            f"{solid}{sides}"
        )
    for hole in summary.get("drain_holes", []):
        state = (
            "opens the cavity"
            if hole["opens"]
            else f"does NOT open the cavity ({hole.get('reason')})"
        )
        lines.append(f"  drain hole {hole['number']} {state}")
    lines += [f"  warning: {line}" for line in summary["warnings"]]
    timing = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in summary["timings_s"].items())
    lines.append(f"  time: {timing}")
    print("\n".join(lines))
