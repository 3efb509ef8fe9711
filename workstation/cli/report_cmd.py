"""``workstation report INPUT -o OUT.pdf|OUT.html``: a case report, pictures first.

INPUT is a project (.wsproj: its segments, models, measurements, planning objects, a
guide's printability report and provenance) or a DICOM folder, file or zip (its series,
and a bone model with ``--mesh-preset``).  The study's radiation dose is read from its
dose reports and images and compared with the reference levels (``--reference-levels``,
default the bundled example table); ``--qc-rules`` checks the series against a protocol
rule file.  ``--json`` prints one JSON object describing what was written.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.keys_cmd import add_opening_options, opening_key_from
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.project_cmd import is_project_path
from workstation.core.errors import ReportError
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    from workstation.processing.presets import THRESHOLD_PRESETS

    parser = subparsers.add_parser(
        "report",
        help=command_help("report"),
        description=(
            "Write a case report: the patient and study header (or the de-identified one), "
            "the three slice views and the 3D view of the models, model and segment "
            "statistics, measurements, planning objects, the guide's printability report, "
            "radiation dose against reference levels, protocol QC and provenance. The "
            "format follows the extension (.pdf or .html); the file is replaced only when "
            "complete."
        ),
    )
    parser.add_argument("path", help="project (.wsproj), or DICOM folder, file or .zip")
    parser.add_argument("-o", "--output", required=True, help="report file (.pdf or .html)")
    parser.add_argument(
        "--series", help="with DICOM: series or stack UID (default: the best 3D series)"
    )
    parser.add_argument(
        "--mesh-preset",
        metavar="PRESET",
        help="with DICOM: add a model made with this threshold preset ("
        + ", ".join(THRESHOLD_PRESETS)
        + ")",
    )
    parser.add_argument("--qc-rules", metavar="RULES.toml", help="protocol QC rule file")
    parser.add_argument(
        "--reference-levels",
        metavar="TABLE.toml",
        help="diagnostic reference levels to compare the dose with (default: the bundled "
        "example table)",
    )
    parser.add_argument(
        "--source",
        metavar="DIR",
        help="with a project: the folder holding its source DICOM when it is no longer "
        "where it was read",
    )
    add_opening_options(parser)
    parser.add_argument(
        "--json", action="store_true", help="print what was written as one JSON object"
    )
    parser.set_defaults(func=run)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _check_flags(args: argparse.Namespace) -> bool:
    """True for a project; flags that do not go with the input refused (ReportError)."""
    project = is_project_path(args.path)
    if project and (args.series or args.mesh_preset):
        raise ReportError(
            "A project's report shows its own series and models: drop --series and "
            "--mesh-preset."
        )
    if not project and args.source:
        raise ReportError("--source goes with a project (.wsproj).")
    if args.mesh_preset:
        from workstation.processing.presets import THRESHOLD_PRESETS

        if args.mesh_preset not in THRESHOLD_PRESETS:
            raise ReportError(
                f"Unknown --mesh-preset '{args.mesh_preset}'; use one of "
                f"{', '.join(THRESHOLD_PRESETS)}."
            )
    return project


def _project_content(
    args: argparse.Namespace, created: str, progress: ProgressCallback, cancel: CancelToken
) -> Any:
    """The report content of a project, with its study's dose and the QC result."""
    from workstation.services.case_report import (
        content_from_project,
        dose_record,
        qc_record,
        qc_record_rules_check,
    )
    from workstation.services.project import open_project

    if args.qc_rules:
        qc_record_rules_check(args.qc_rules)
    opened = open_project(
        args.path, args.source, sub_progress(progress, 0.0, 0.5), cancel,
        key=opening_key_from(args),
    )
    warnings: list[str] = []
    dose, study = dose_record(
        opened.source_root, opened.volume.source.identity.study_uid, args.reference_levels,
        warnings, sub_progress(progress, 0.5, 0.6), cancel,
    )
    qc = None
    if args.qc_rules:
        qc = qc_record(opened.stack, args.qc_rules, opened.volume, study)
    content = content_from_project(opened, dose=dose, qc=qc, created=created)
    content.warnings += warnings
    return content


def run(args: argparse.Namespace) -> int:
    """Gather the case, write the report, print what was written (JSON with --json)."""
    from workstation.services.case_report import (
        check_report_path,
        content_from_source,
        write_report,
    )

    project = _check_flags(args)
    output = check_report_path(args.output)
    progress = progress_for(args.json)
    cancel = CancelToken()
    created = _now()
    try:
        if project:
            content = _project_content(args, created, sub_progress(progress, 0.0, 0.7), cancel)
        else:
            content = content_from_source(
                args.path,
                series=args.series,
                mesh_preset=args.mesh_preset,
                qc_rules=args.qc_rules,
                reference_levels=args.reference_levels,
                created=created,
                progress=sub_progress(progress, 0.0, 0.7),
                cancel=cancel,
            )
        written = write_report(content, output, sub_progress(progress, 0.7, 1.0), cancel)
        progress(1.0, "Done")
    finally:
        finish_progress(progress)
    summary = _summary(content, written)
    if args.json:
        json.dump(summary, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_summary(summary)
    return 0


def _summary(content: Any, written: Path) -> dict[str, Any]:
    identity = content.identity
    dose = content.dose
    qc = content.qc
    return {
        "output": str(written),
        "format": written.suffix.lower().lstrip("."),
        "bytes": written.stat().st_size,
        "series_uid": identity.series_uid,
        "study_uid": identity.study_uid,
        "deidentified": bool(identity.identity_removed),
        "models": [
            {"name": model.name, **{k: model.statistics.get(k) for k in
                                    ("volume_mm3", "area_mm2", "triangles", "watertight")}}
            for model in content.models
        ],
        "segments": len(content.segment_statistics),
        "measurements": len(content.measurements),
        "planning_objects": len(content.planning),
        "dose": None if dose is None else {"exceeded": list(dose.get("exceeded") or [])},
        "qc": None if qc is None else {"status": qc.get("status"), "rule": qc.get("rule")},
        "warnings": list(content.warnings),
        "created": content.created,
    }


def _print_summary(summary: dict[str, Any]) -> None:
    lines = [f"Wrote {summary['output']} ({summary['format'].upper()} report)"]
    for model in summary["models"]:
        volume = model.get("volume_mm3")
        shown = "" if volume is None else f", volume {volume:,.1f} mm^3"
        lines.append(f"  model {model['name']}{shown}")
    dose = summary["dose"]
    if dose is None:
        lines.append("  dose: not available")
    else:
        exceeded = dose["exceeded"]
        lines.append("  dose: " + ("; ".join(exceeded) if exceeded else "within reference levels"))
    if summary["qc"] is not None:
        lines.append(f"  QC: {summary['qc']['status']} ({summary['qc']['rule'] or 'no rule'})")
    lines += [f"  warning: {line}" for line in summary["warnings"]]
    print("\n".join(lines))
