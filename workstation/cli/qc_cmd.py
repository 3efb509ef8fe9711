"""``workstation qc PATH --rules RULES.toml [--json]``: does each series follow its protocol?"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.warning_report import (
    HELP_NOTE,
    add_to_record,
    add_verbose_argument,
    print_library_warnings,
)
from workstation.core.errors import QcFailed
from workstation.core.progress import CancelToken
from workstation.io.sources import printable

if TYPE_CHECKING:
    from workstation.services.qc import SeriesQc

#: The statuses in order, as services.qc.STATUSES (kept here so --help imports no scan code).
STATUSES = ("pass", "warn", "fail")

#: Exit status when a series fails its rule (0: every series passed or only warned).
EXIT_QC_FAILED = QcFailed.exit_code
#: Table columns: (title, maximum width).
COLUMNS = (("STATUS", 6), ("SERIES", 6), ("DESCRIPTION", 32), ("RULE", 24), ("WHY", 0))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``qc`` subcommand."""
    parser = subparsers.add_parser(
        "qc",
        help=command_help("qc"),
        description=(
            "Check every series under PATH (folder, file or zip) against the protocol rules "
            "of RULES.toml: the first rule whose match keys all fit a series applies. Each "
            "series is listed with PASS, WARN or FAIL and why (expected against found). A "
            "value a check needs that the images do not record warns; a series no rule "
            "matches warns. Localizers and secondary captures are not listed. Exit 0: no "
            "series failed (some may have warned); 23: at least one failed; 20: the rule "
            "file cannot be used. " + HELP_NOTE
        ),
    )
    parser.add_argument("path", metavar="PATH", help="folder, DICOM file, DICOMDIR or .zip")
    parser.add_argument(
        "--rules", metavar="RULES.toml", required=True, help="the protocol QC rule file"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_verbose_argument(parser)
    parser.set_defaults(func=run)


def counts(results: list[SeriesQc]) -> dict[str, int]:
    """How many series passed, warned and failed."""
    return {status: sum(1 for item in results if item.status == status) for status in STATUSES}


def overall(results: list[SeriesQc]) -> str:
    """'fail' when any series failed, else 'warn' when any warned, else 'pass'."""
    states = {item.status for item in results}
    return "fail" if "fail" in states else "warn" if "warn" in states else "pass"


def qc_record(source: str, rules: str, results: list[SeriesQc]) -> dict[str, Any]:
    """The whole check as one JSON-ready object."""
    return {
        "source": source,
        "rules": rules,
        "status": overall(results),
        "counts": counts(results),
        "series": [item.to_json() for item in results],
    }


def _cell(text: str, width: int) -> str:
    if not width:
        return text
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.ljust(width)


def format_table(source: str, rules: str, results: list[SeriesQc]) -> str:
    """One row per series (status, number, description, rule, first reason), further
    reasons under the WHY column, and a summary line."""
    rows = []
    for item in results:
        number = item.facts.series_number if item.facts is not None else ""
        reasons = item.reasons() or ["all checks met"]
        cells = [item.status.upper(), number, item.description or "(no description)"]
        rows.append(([*cells, item.rule or "-"], reasons))
    widths = [
        min(limit, max([len(title)] + [len(printable(row[index])) for row, _ in rows]))
        if limit
        else 0
        for index, (title, limit) in enumerate(COLUMNS)
    ]
    indent = sum(width + 2 for width in widths[:-1])
    lines = [f"{printable(source)}: {len(results)} series checked against {printable(rules)}"]
    lines.append(
        "  ".join(_cell(title, w) for (title, _), w in zip(COLUMNS, widths, strict=True)).rstrip()
    )
    for row, reasons in rows:
        cells = [
            _cell(printable(text), width) for text, width in zip(row, widths[:-1], strict=True)
        ]
        lines.append("  ".join([*cells, reasons[0]]))
        lines.extend(" " * indent + reason for reason in reasons[1:])
    tally = counts(results)
    lines.append(", ".join(f"{tally[status]} {status}" for status in STATUSES) + ".")
    return "\n".join(lines)


def _failure(results: list[SeriesQc]) -> str:
    """The one-line error when series fail: how many, and the first one's first reason."""
    failed = [item for item in results if item.status == "fail"]
    first = failed[0]
    reason = next(f.reason for f in first.findings if f.status == "fail")
    name = first.description or first.series_uid
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return (
        f"{len(failed)} of {len(results)} series fail their protocol QC rule: "
        f"{printable(name)} ({first.rule}): {reason}{more}."
    )


def run(args: argparse.Namespace) -> int:
    """Check ``args.path`` against ``args.rules``; print the table or the JSON object."""
    from workstation.services.qc import check_source, load_rules

    rules = load_rules(args.rules)
    progress = progress_for(args.json)
    try:
        results = check_source(args.path, rules, progress, CancelToken())
    finally:
        finish_progress(progress)
    if args.json:
        record = add_to_record(qc_record(str(args.path), rules.source, results), args)
        json.dump(record, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(format_table(str(args.path), args.rules, results))
        print_library_warnings(args)
    sys.stdout.flush()
    if overall(results) != "fail":
        return 0
    if args.json:
        return EXIT_QC_FAILED
    raise QcFailed(_failure(results))
