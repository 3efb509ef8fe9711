"""``workstation guide PLAN.json -o GUIDE.stl``: a printable patient-specific guide from a plan."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.warning_report import (
    HELP_NOTE,
    add_to_record,
    add_verbose_argument,
    print_library_warnings,
)
from workstation.core.progress import CancelToken, sub_progress
from workstation.io.mesh_export import COORDINATE_SYSTEMS, SUPPORTED_EXTENSIONS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``guide`` subcommand."""
    parser = subparsers.add_parser(
        "guide",
        help=command_help("guide"),
        description=(
            "Build a patient-specific surgical guide from PLAN.json: a contact base on the "
            "bone under the plan's region (offset by the fit clearance, thickened to the "
            "wall thickness), drill sleeves along the planned lines and saw slots along the "
            "planned planes, checked for printability and for an undercut along the "
            "insertion direction. Writes the guide (format by extension: "
            + ", ".join(SUPPORTED_EXTENSIONS)
            + "), its provenance record beside it and, with --report, the printability "
            "report. Exit 12: the plan is malformed or cannot be built on its bone; on any "
            "error no guide and no report are written. " + HELP_NOTE
        ),
    )
    parser.add_argument("plan", metavar="PLAN.json", help="the guide plan (see the README)")
    parser.add_argument(
        "-o", "--output", required=True, help="the guide file (.stl .obj .ply .3mf)"
    )
    parser.add_argument(
        "--report", metavar="REPORT.json", help="write the printability report here as JSON"
    )
    parser.add_argument(
        "--coords",
        choices=COORDINATE_SYSTEMS,
        default="lps",
        help="coordinate system of the guide file (default lps, like the plan)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as one JSON object (no progress)"
    )
    add_verbose_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read the plan and its bone, build the guide, write it; print the report."""
    from workstation.services.guides import (
        check_guide_outputs,
        generate_guide,
        load_bone,
        load_plan,
        report_json,
        write_guide,
    )

    # a bad output name fails before the work, and no output may replace the plan
    check_guide_outputs(args.output, args.report, [args.plan])
    progress = progress_for(args.json)
    cancel = CancelToken()
    timings: dict[str, float] = {}
    try:
        began = time.perf_counter()
        progress(0.0, "Reading the plan")
        plan = load_plan(args.plan)
        progress(0.02, "Reading the bone")
        bone = load_bone(plan)
        timings["load"] = time.perf_counter() - began
        began = time.perf_counter()
        result = generate_guide(plan, bone, sub_progress(progress, 0.05, 0.95), cancel)
        timings["generate"] = time.perf_counter() - began
        began = time.perf_counter()
        progress(0.95, "Writing the guide")
        written = write_guide(result, args.output, args.report, plan, bone, coords=args.coords)
        timings["write"] = time.perf_counter() - began
        progress(1.0, "Done")
    finally:
        finish_progress(progress)
    if args.json:
        record = json.loads(report_json(result.report))
        sys.stdout.write(json.dumps(add_to_record(record, args)) + "\n")
    else:
        print("\n".join(summary_lines(result.report, written, timings)))
        print_library_warnings(args)
    return 0


def _yes(value: Any) -> str:
    return "yes" if value else "NO"


def _number(value: Any, unit: str = "") -> str:
    return "?" if not isinstance(value, int | float) else f"{value:,.2f}{unit}"


def summary_lines(
    report: dict[str, Any], written: dict[str, Any], timings: dict[str, float]
) -> list[str]:
    """The report in words: files, printability, clearance, sleeves, slots, undercut."""
    lines = [f"Wrote {written['guide']}"]
    lines.append(f"  provenance: {written['provenance']}")
    if written.get("report"):
        lines.append(f"  report: {written['report']}")
    triangles = report.get("triangles")
    count = f"{triangles:,}" if isinstance(triangles, int) else "?"
    lines.append(
        f"  watertight {_yes(report.get('watertight'))}, manifold {_yes(report.get('manifold'))}"
        f", pieces {report.get('components', '?')}, triangles {count}"
    )
    lines.append(f"  volume {_number(report.get('volume_mm3'), ' mm^3')}")
    bounds = report.get("bounds_lps")
    if isinstance(bounds, list | tuple) and len(bounds) == 2:
        low, high = (", ".join(f"{v:.1f}" for v in corner) for corner in bounds)
        lines.append(f"  bounds LPS min ({low}) max ({high}) mm")
    lines.append(f"  minimum wall {_number(report.get('min_wall_mm'), ' mm')}")
    clearance = report.get("clearance_mm") or {}
    if isinstance(clearance, dict):
        lines.append(
            "  seating clearance min {} median {} max {}".format(
                *(_number(clearance.get(key), " mm") for key in ("min", "median", "max"))
            )
        )
    for kind in ("sleeves", "slots"):
        for number, item in enumerate(report.get(kind) or [], start=1):
            name = item.get("name") or f"{kind[:-1]} {number}"
            lines.append(f"  {kind[:-1]} {name!r}: {'open' if item.get('open') else 'BLOCKED'}")
    undercut = report.get("undercut") or {}
    if isinstance(undercut, dict) and undercut.get("direction_lps") is not None:
        along = "the insertion direction"
        if undercut.get("assumed"):
            along = "the assumed insertion direction (none planned)"
        if undercut.get("found"):
            where = undercut.get("where_lps") or []
            lines.append(f"  UNDERCUT along {along}: {len(where)} place(s)")
            lines += [f"    near LPS ({', '.join(f'{v:.1f}' for v in p)})" for p in where[:3]]
        else:
            lines.append(f"  no undercut along {along}")
    lines += [f"  warning: {text}" for text in report.get("warnings") or []]
    lines.append("  time: " + ", ".join(f"{name} {s:.2f}s" for name, s in timings.items()))
    return lines
