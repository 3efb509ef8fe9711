"""``workstation dose PATH``: radiation dose per study, compared with reference levels.

A thin front over ``services.dose``: per study the events of its CT dose reports
(protocol, target region, CTDIvol, DLP, phantom, scanning length), the accumulated DLP,
the per-series figures the images carry (CTDIvol, SAR, dB/dt, MI, TI) and one line per
reference level checked, ``EXCEEDED`` where a level is exceeded.  Exit 0 either way
(a level exceeded is a finding, not a failure); ``--json`` prints one object.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.core.progress import CancelToken


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dose`` command."""
    parser = subparsers.add_parser(
        "dose",
        help=command_help("dose"),
        description="Read the radiation dose of every study under PATH (folder, file or .zip): "
        "CT Radiation Dose SR events and accumulated DLP, per-image CTDIvol, MR SAR and "
        "dB/dt, ultrasound mechanical and thermal indices; compare with a table of "
        "diagnostic reference levels (default: the bundled UK national adult CT levels, an "
        "example to replace with your own). Exit 0 also when a level is exceeded.",
    )
    parser.add_argument("path", metavar="PATH", help="folder, DICOM file or .zip")
    parser.add_argument(
        "--reference-levels",
        metavar="TABLE.toml",
        help="the table of diagnostic reference levels to compare with",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (quiet)")
    parser.set_defaults(func=run)


def _number(value: float | None, unit: str = "", digits: int = 4) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}g}"
    return f"{text} {unit}" if unit else text


def _table(rows: list[list[str]], indent: str = "    ") -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]


def _event_lines(study: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for report in study["reports"]:
        lines.append(f"  Dose report {report['file']}: {len(report['events'])} event(s)")
        rows = [["#", "Protocol", "Target", "CTDIvol mGy", "DLP mGy·cm", "Phantom", "Length mm"]]
        for number, event in enumerate(report["events"], start=1):
            rows.append(
                [
                    str(number),
                    event["protocol"] or "-",
                    event["target_region"] or "-",
                    _number(event["ctdivol_mgy"]),
                    _number(event["dlp_mgycm"]),
                    event["phantom"] or "-",
                    _number(event["scanning_length_mm"]),
                ]
            )
        if len(rows) > 1:
            lines += _table(rows)
    if study["reports"]:
        lines.append(f"  Accumulated DLP: {_number(study['total_dlp_mgycm'], 'mGy·cm')}")
    return lines


def _series_lines(study: dict[str, Any]) -> list[str]:
    from workstation.services.dose import series_figures_text

    lines: list[str] = []
    without = 0
    for series in study["series"]:
        figures = series_figures_text(series)
        if not figures:
            without += 1
            continue
        name = series["description"] or series["series_uid"]
        counted = (
            f"max of {series['images_read']} image(s)"
            if series["images_read"] == series["images"]
            else f"max of {series['images_read']} of {series['images']} images"
        )
        from_images = any(
            series.get(key) is not None
            for key in FIGURE_KEYS
            if key != "ctdivol_mgy" or series.get("ctdivol_from") == "images"
        )
        suffix = f" [{counted}]" if from_images else ""
        lines.append(f"  Series {series['modality']} {name}: {figures}{suffix}")
    if without:
        lines.append(f"  {without} series without dose attributes")
    return lines


FIGURE_KEYS = (
    "ctdivol_mgy",
    "sar_wkg",
    "dbdt_ts",
    "mechanical_index",
    "bone_thermal_index",
    "cranial_thermal_index",
    "soft_tissue_thermal_index",
)


def _level_lines(study: dict[str, Any]) -> list[str]:
    levels = study["reference_levels"]
    checks = levels["checks"]
    has_dose = bool(study["reports"]) or any(
        series.get("ctdivol_mgy") is not None for series in study["series"]
    )
    if not has_dose:
        return []
    if levels["exam"] is None:
        return [f"  Reference levels ({levels['table']}): no exam of the table matches this study"]
    lines = [f"  Reference levels ({levels['table']}), exam {levels['exam']}:"]
    for check in checks:
        unit = check["unit"]
        if check["value"] is None:
            verdict = f"{check['quantity']} not known"
        else:
            verdict = f"{check['quantity']} {_number(check['value'], unit)}"
        state = "EXCEEDED" if check["exceeded"] else "within"
        if check["value"] is None:
            state = "not compared"
        lines.append(f"    {verdict}, level {check['level']:g} {unit}: {state}")
    return lines


def study_text(study: dict[str, Any]) -> str:
    """The readable block of one study record (``StudyDose.to_json()``)."""
    title = " ".join(p for p in (study["study_date"], study["study_description"]) if p)
    lines = [f"Study {title or '(no description)'}  [{study['study_uid']}]"]
    lines += _event_lines(study)
    lines += _series_lines(study)
    if not study["reports"] and not any(
        series.get(key) is not None for series in study["series"] for key in FIGURE_KEYS
    ):
        lines.append("  No dose report and no dose attributes in this study")
    lines += _level_lines(study)
    if study["exceeded"]:
        lines.append(f"  EXCEEDED: {len(study['exceeded'])} reference level(s) exceeded")
    lines += [f"  warning: {warning}" for warning in study["warnings"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Read the dose of ``args.path`` and print it; exit 0 even when a level is exceeded."""
    from workstation.services.dose import read_study_doses

    progress = progress_for(args.json)
    try:
        studies = read_study_doses(
            args.path, args.reference_levels, progress=progress, cancel=CancelToken()
        )
    finally:
        finish_progress(progress)
    records = [study.to_json() for study in studies]
    exceeded = sum(len(record["exceeded"]) for record in records)
    if args.json:
        document = {"path": str(args.path), "studies": records, "exceeded": exceeded}
        json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not records:
        print(f"No DICOM study found in {args.path}")
        return 0
    print("\n\n".join(study_text(record) for record in records))
    if exceeded:
        print(f"\n{exceeded} reference level(s) EXCEEDED (see above)")
    return 0
