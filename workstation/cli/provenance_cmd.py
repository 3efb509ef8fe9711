"""``workstation provenance OUT.stl``: check an exported model against its provenance record."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.core.errors import ProvenanceMismatch
from workstation.core.progress import CancelToken
from workstation.services.provenance import ProvenanceCheck, check_provenance


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``provenance`` subcommand."""
    parser = subparsers.add_parser(
        "provenance",
        help=command_help("provenance"),
        description=(
            "Check a model file written by the workstation against its provenance record "
            "(OUT.provenance.json beside it, or the record inside a 3MF file): the file's "
            "SHA-256, and that the source images it names still hash the same where they "
            "can be found. Exit 0: everything that could be checked matches; 11: something "
            "differs; 2: the file or its record is missing."
        ),
    )
    parser.add_argument("path", help="the model file (.stl .obj .ply .3mf)")
    parser.add_argument(
        "--source",
        metavar="DIR",
        help="look for the source images here (a folder, zip or file) when they moved",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the file and its sources; print what matches and what differs."""
    progress = progress_for(args.json)
    try:
        check = check_provenance(args.path, args.source, progress, CancelToken())
    finally:
        finish_progress(progress)
    if args.json:
        json.dump(check.to_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        print("\n".join(report_lines(check)))
    sys.stdout.flush()
    if not check.ok:
        first = check.differences[0]
        more = len(check.differences) - 1
        raise ProvenanceMismatch(
            f"{check.model_path.name} differs from its provenance record: {first}"
            + (f" (and {more} more difference{'s' if more > 1 else ''})" if more else "")
        )
    return 0


def _made(record: dict[str, Any]) -> str:
    software = record.get("software", {})
    return (
        f"made {record.get('created', '?')} by {record.get('user', '?')} on "
        f"{record.get('host', '?')} with {software.get('name', '?')} {software.get('version', '?')}"
    )


def report_lines(check: ProvenanceCheck) -> list[str]:
    """The check in words: the record, the file, each source series, what differs."""
    record = check.record
    model = record.get("model", {})
    segment = record.get("segment", {}) or {}
    where = check.record_path.name if check.record_path else "the record inside the file"
    of_segment = f", segment {segment['name']!r}" if segment.get("name") else ""
    lines = [
        f"{check.model_path.name}: provenance record {where}",
        f"  model {model.get('name', '?')!r}{of_segment}, {_made(record)}",
    ]
    if check.expected_sha256 is not None:
        state = "matches" if check.expected_sha256 == check.found_sha256 else "DIFFERS from"
        lines.append(
            f"  file: {state} its record (SHA-256 {check.found_sha256[:16]}…, "
            f"{check.found_size:,} bytes)"
        )
    if check.expected_content is not None:
        state = "matches" if check.expected_content == check.found_content else "DIFFERS from"
        lines.append(f"  3MF model content: {state} the record inside the file")
    for report in check.sources:
        name = f"  source series {report.series_uid}"
        if report.description:
            name += f" ({report.description})"
        if not report.found:
            continue  # said by its note
        if report.missing or report.changed:
            lines.append(
                f"{name} in {report.folder}: {len(report.changed)} changed, "
                f"{len(report.missing)} missing of {report.files} files"
            )
        else:
            lines.append(f"{name} in {report.folder}: all {report.files} files match")
    lines += [f"  differs: {text}" for text in check.differences]
    lines += [f"  note: {text}" for text in check.notes]
    unchecked = any(not report.found for report in check.sources)
    if unchecked:
        lines.append("  (give the folder that holds the source images: --source DIR)")
    if not check.ok:
        lines.append("Provenance DIFFERS.")
    else:
        lines.append("Provenance matches" + (" (sources not checked)." if unchecked else "."))
    return lines
