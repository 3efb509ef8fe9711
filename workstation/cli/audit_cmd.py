"""``workstation audit verify|show|export|init-key|sign``: the audit trail from the shell.

``verify`` checks every record's hash, MAC and link across the rotated segments and the
signed head (exit 17 with the first problem; ``--json`` lists them all); ``show`` prints
records as a table; ``export`` writes them as DICOM Audit Messages or a FHIR Bundle;
``init-key`` creates the chain key (or with ``--signing`` the head signing key);
``sign`` signs the head now.  The log is the configured one (``--audit-log``,
``WORKSTATION_AUDIT_LOG``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from workstation.cli.commands import command_help
from workstation.core.audit_actions import OUTCOMES, AuditAction
from workstation.core.errors import AuditLogError
from workstation.io.sources import printable
from workstation.services import audit
from workstation.services.audit_query import (
    EXPORT_FORMATS,
    RecordFilter,
    export_records,
    parse_when,
    select_records,
)

EXIT_NOTE = "Exit 17: the audit log cannot be read or written, or it fails verification."

#: Table columns: (title, maximum width).
COLUMNS = (
    ("TIME", 20),
    ("USER", 16),
    ("ROLE", 12),
    ("ACTION", 14),
    ("OUTCOME", 9),
    ("OBJECTS", 100),
    ("DETAIL", 60),
)


def _when(text: str) -> str:
    try:
        return parse_when(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _until(text: str) -> str:
    try:
        return parse_when(text, end_of_day=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", metavar="U", default="", help="only this user's records")
    parser.add_argument(
        "--action",
        choices=[action.value for action in AuditAction],
        default="",
        metavar="A",
        help="only this action (open-study, export, send, deidentify, refused, ...)",
    )
    parser.add_argument(
        "--outcome",
        choices=OUTCOMES,
        default="",
        metavar="O",
        help="success, failure, cancelled or refused",
    )
    parser.add_argument(
        "--since",
        type=_when,
        default=None,
        metavar="DATE",
        help="from this date or time (UTC), e.g. 2026-05-01",
    )
    parser.add_argument(
        "--until",
        type=_until,
        default=None,
        metavar="DATE",
        help="up to this date (the whole day) or time (UTC)",
    )
    parser.add_argument("--study", metavar="UID", default="", help="only records of this study")
    parser.add_argument("--limit", type=_limit, metavar="N", help="only the last N records")


def _selection(args: argparse.Namespace) -> RecordFilter:
    return RecordFilter(
        args.user,
        args.action,
        args.outcome,
        args.since or "",
        args.until or "",
        args.study,
        args.limit,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``audit`` command and its subcommands."""
    parser = subparsers.add_parser(
        "audit",
        help=command_help("audit"),
        description="Every access to patient data, export, transfer, de-identification and "
        "security change is recorded in a hash-chained log. " + EXIT_NOTE,
    )
    commands = parser.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)

    verified = commands.add_parser(
        "verify",
        help="check that no record was changed, removed, inserted or reordered",
        description="Check every record's hash, MAC (with a chain key) and link, across "
        "rotated segments, and the signed head. " + EXIT_NOTE,
    )
    verified.add_argument("log", nargs="?", metavar="LOG", help="the log (default: configured)")
    verified.add_argument("--json", action="store_true", help="print the result as JSON")
    verified.set_defaults(func=run_verify)

    shown = commands.add_parser("show", help="list records", description=EXIT_NOTE)
    _filters(shown)
    shown.add_argument("--json", action="store_true", help="print the records as JSON")
    shown.set_defaults(func=run_show)

    exported = commands.add_parser(
        "export",
        help="write records as DICOM Audit Messages or FHIR AuditEvents",
        description="DICOM: PS3.15 A.5 XML, one AuditMessage per record; FHIR: a Bundle of "
        "R4 AuditEvent resources. " + EXIT_NOTE,
    )
    exported.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    exported.add_argument("-o", "--output", required=True, metavar="FILE")
    _filters(exported)
    exported.set_defaults(func=run_export)

    keyed = commands.add_parser(
        "init-key",
        help="create the chain key (every record gets a MAC) or the head signing key",
        description="Needs the permission manage-keys. The key file is created beside the "
        "log with mode 0600 and never replaced. " + EXIT_NOTE,
    )
    keyed.add_argument(
        "--signing",
        action="store_true",
        help="create the Ed25519 key that signs the head after every record",
    )
    keyed.set_defaults(func=run_init_key)

    signed = commands.add_parser(
        "sign", help="sign the head (the last record) now", description=EXIT_NOTE
    )
    signed.set_defaults(func=run_sign)


def _short(text: str, width: int) -> str:
    text = printable(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _objects_text(record: dict[str, Any]) -> str:
    parts = []
    for item in record.get("objects") or []:
        if isinstance(item, dict):
            label = f" ({item['label']})" if item.get("label") else ""
            parts.append(f"{item.get('kind', '')} {item.get('identifier', '')}{label}")
    if len(parts) > 3:
        parts = [*parts[:3], f"+{len(parts) - 3} more"]
    return ", ".join(parts)


def _row(record: dict[str, Any]) -> list[str]:
    time = str(record.get("time", ""))[:19].replace("T", " ")
    return [
        time,
        str(record.get("user", "")),
        str(record.get("role", "")),
        str(record.get("action", "")),
        str(record.get("outcome", "")),
        _objects_text(record),
        str(record.get("detail", "")),
    ]


def format_table(records: list[dict[str, Any]]) -> str:
    """The records as a fixed-width table."""
    rows = [
        [_short(cell, width) for cell, (_, width) in zip(_row(r), COLUMNS, strict=True)]
        for r in records
    ]
    widths = [
        max([len(title), *(len(row[index]) for row in rows)])
        for index, (title, _) in enumerate(COLUMNS)
    ]
    lines = ["  ".join(title.ljust(w) for (title, _), w in zip(COLUMNS, widths, strict=True))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _note_use(detail: str, outcome: str = "success") -> None:
    """Record that the trail was used; a failure to record is said, not fatal here."""
    try:
        audit.record(AuditAction.AUDIT_VERIFY, outcome=outcome, detail=detail)
    except AuditLogError as error:
        print(f"workstation: warning: {printable(str(error))}", file=sys.stderr)


def run_verify(args: argparse.Namespace) -> int:
    """Check the log; exit 17 with the first problem."""
    log = Path(args.log).expanduser() if args.log else None
    result = audit.verify(log)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    checks = []
    if result.macs_checked:
        checks.append(f"{result.macs_checked} MACs")
    if result.head_checked:
        checks.append("the signed head")
    checked = f"; checked {' and '.join(checks)}" if checks else ""
    if result.ok:
        if not args.json:
            print(
                f"Audit log {result.log}: {result.records} records in {len(result.segments)} "
                f"file(s), intact{checked}; head: record {result.last_seq} "
                f"(hash {result.last_hash[:16]}…)."
            )
        _note_use(f"verified {result.log}: {result.records} records, intact")
        return 0
    first = result.problems[0].message
    more = len(result.problems) - 1
    _note_use(
        f"verified {result.log}: {len(result.problems)} problem(s): {first}", outcome="failure"
    )
    extra = f" ({more} more problem(s); --json lists them)" if more else ""
    raise AuditLogError(f"The audit log fails verification: {first}{extra}.")


def run_show(args: argparse.Namespace) -> int:
    """Print the matching records."""
    records = select_records(_selection(args))
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif records:
        print(format_table(records))
    else:
        print("No audit records match.")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the matching records as DICOM Audit Messages or a FHIR Bundle."""
    records = select_records(_selection(args))
    target = export_records(records, args.output, args.format)
    _note_use(f"exported {len(records)} record(s) as {args.format} to {target}")
    name = "DICOM Audit Messages" if args.format == "dicom" else "a FHIR Bundle of AuditEvents"
    print(f"Wrote {target} ({len(records)} record(s) as {name}).")
    return 0


def run_init_key(args: argparse.Namespace) -> int:
    """Create the chain key or the head signing key."""
    if args.signing:
        path = audit.init_signing_key()
        print(
            f"Created the audit head signing key {path} (mode 0600); the head is signed "
            "after every record."
        )
    else:
        path = audit.init_chain_key()
        print(f"Created the audit chain key {path} (mode 0600); every new record gets a MAC.")
    return 0


def run_sign(args: argparse.Namespace) -> int:
    """Sign the head now."""
    head = audit.sign_head()
    print(
        f"Signed the audit head: record {head['seq']} (hash {head['hash'][:16]}…), "
        f"public key {head['public_key']}."
    )
    return 0
