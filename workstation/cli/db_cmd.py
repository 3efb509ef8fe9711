"""``workstation db init|import|list|delete|verify``: the local DICOM database from the shell.

A thin front over ``services.dicom_database``.  Every subcommand takes ``--database
DIR`` (default: ``WORKSTATION_DATABASE``, else the user's data folder) and the key of an
encrypted database (``--passphrase-file FILE`` or ``WORKSTATION_PASSPHRASE_FILE``,
``--keyring NAME``), shows progress on a terminal and prints a table or summary, or one
JSON object with ``--json`` (then quiet).  Errors are one line on stderr; exit 15 for a
database problem (verify exits 15 when a file is missing or changed), 19 for a missing
or wrong key.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.keys_cmd import add_opening_options, add_saving_options
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.query_table import add_query_arguments, format_matches, query_from_args
from workstation.core.errors import DatabaseError
from workstation.core.progress import CancelToken
from workstation.io.sources import printable

EXIT_NOTE = (
    "Exit 15: the database cannot be opened, read or changed as asked; exit 19: it is "
    "encrypted and no key or a wrong one was given."
)


def _common(parser: argparse.ArgumentParser, key_options: bool = True) -> None:
    parser.add_argument(
        "--database",
        metavar="DIR",
        default=None,
        help="the database folder (default: WORKSTATION_DATABASE, else "
        "~/.local/share/surgical-planning-workstation/dicom-database)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (quiet)")
    if key_options:
        add_opening_options(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``db`` command and its subcommands."""
    parser = subparsers.add_parser(
        "db",
        help=command_help("db"),
        description="Keep DICOM studies in a local database: files are stored once by "
        "the SHA-256 of their content and indexed in SQLite. " + EXIT_NOTE,
    )
    commands = parser.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    made = commands.add_parser(
        "init",
        help="create a database, optionally encrypted",
        description="Create the database folder.  With --encrypt every stored file and "
        "the index are encrypted (AES-256-GCM) under a data key wrapped with the "
        "passphrase or keyring key given; opening the database later needs that key. " + EXIT_NOTE,
    )
    _common(made, key_options=False)
    add_saving_options(made)
    made.set_defaults(func=run_init)

    imported = commands.add_parser(
        "import",
        help="import a folder, file, zip or DICOMDIR tree",
        description="Copy every DICOM file under PATH into the database (files already "
        "there are counted, not stored again); non-DICOM files are skipped with a reason. "
        + EXIT_NOTE,
    )
    imported.add_argument("path", metavar="PATH", help="folder, DICOM file, DICOMDIR or .zip")
    imported.add_argument(
        "--in-place",
        action="store_true",
        help="index the files where they are instead of copying them (zip members are "
        "always copied); the database never deletes such files",
    )
    _common(imported)
    imported.set_defaults(func=run_import)

    listed = commands.add_parser(
        "list",
        help="list the studies (series, patients) in the database",
        description="Search the database; every given filter must match. " + EXIT_NOTE,
    )
    add_query_arguments(listed)
    _common(listed)
    listed.set_defaults(func=run_list)

    deleted = commands.add_parser(
        "delete",
        help="delete a study from the database",
        description="Remove a study's index rows and every stored file no other row uses; "
        "files indexed in place are left where they are. " + EXIT_NOTE,
    )
    deleted.add_argument("study_uid", metavar="STUDY_UID")
    _common(deleted)
    deleted.set_defaults(func=run_delete)

    verified = commands.add_parser(
        "verify",
        help="check that every stored file still has its SHA-256",
        description="Re-hash every file the database indexes and name those missing or "
        "changed; exit 15 when there is any. " + EXIT_NOTE,
    )
    _common(verified)
    verified.set_defaults(func=run_verify)


def _folder(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from workstation.core.user_dirs import database_dir

    return Path(args.database).expanduser() if args.database else database_dir()


def _open(args: argparse.Namespace) -> Any:
    from workstation.cli.keys_cmd import opening_key_from
    from workstation.io.database_encryption import is_encrypted_database
    from workstation.services.dicom_database import DicomDatabase

    folder = _folder(args)
    key = opening_key_from(args) if is_encrypted_database(folder) else None
    return DicomDatabase.open(folder, key)


def run_init(args: argparse.Namespace) -> int:
    """Create the database (encrypted with ``--encrypt``); print where it is."""
    from workstation.cli.keys_cmd import saving_key_from
    from workstation.services.dicom_database import DicomDatabase

    key = saving_key_from(args)
    with DicomDatabase.create(_folder(args), key) as database:
        location, encrypted = database.location, database.encrypted
    if args.json:
        _print_json({"database": str(location), "encrypted": encrypted})
    else:
        kind = "an encrypted" if encrypted else "a"
        print(f"Created {kind} database at {printable(str(location))}")
    return 0


def _print_json(record: Any) -> None:
    json.dump(record, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def run_import(args: argparse.Namespace) -> int:
    """Import ``args.path``; print the summary."""
    progress = progress_for(args.json)
    try:
        with _open(args) as database:
            report = database.import_path(
                args.path, copy=not args.in_place, progress=progress, cancel=CancelToken()
            )
            location = database.location
    finally:
        finish_progress(progress)
    if args.json:
        _print_json({"database": str(location), **report.as_json()})
        return 0
    studies = len(report.study_uids)
    parts = [f"{report.added} added"]
    if report.in_place:
        parts.append(f"{report.in_place} of them in place")
    parts.append(f"{report.duplicates} already there")
    parts.append(f"{len(report.skipped)} skipped")
    print(
        f"Imported {printable(str(args.path))} into {printable(str(location))}: "
        f"{', '.join(parts)} ({studies} stud{'y' if studies == 1 else 'ies'}, "
        f"{report.seconds:.1f} s)"
    )
    for path, reason in report.skipped[:20]:
        print(f"    skipped {printable(path)}: {reason}")
    if len(report.skipped) > 20:
        print(f"    ... and {len(report.skipped) - 20} more (use --json to list them all)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Search the database and print the table or the JSON list."""
    query = query_from_args(args, DatabaseError)
    with _open(args) as database:
        matches = database.search(query)
        location = database.location
    if args.json:
        _print_json({"database": str(location), "matches": [m.as_json() for m in matches]})
        return 0
    noun = {"patient": "patient", "study": "stud", "series": "series"}[args.level]
    plural = {"patient": "s", "stud": "ies", "series": ""}[noun]
    singular = {"patient": "", "stud": "y", "series": ""}[noun]
    count = len(matches)
    print(f"{printable(str(location))}: {count} {noun}{singular if count == 1 else plural}")
    if matches:
        print(format_matches(matches, args.level))
    return 0


def run_delete(args: argparse.Namespace) -> int:
    """Delete one study; print what went."""
    with _open(args) as database:
        report = database.delete_study(args.study_uid)
    if args.json:
        _print_json(report.as_json())
        return 0
    kept = (
        f"; {report.in_place_kept} files indexed in place were left" if report.in_place_kept else ""
    )
    print(
        f"Deleted study {report.study_uid}: {report.series} series, {report.instances} "
        f"instances, {report.blobs_removed} stored files ({report.bytes_freed / 1e6:.1f} MB) "
        f"removed{kept}"
    )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Re-hash every indexed file; exit 15 naming what is missing or changed."""
    progress = progress_for(args.json)
    try:
        with _open(args) as database:
            report = database.verify(progress=progress, cancel=CancelToken())
            location = database.location
    finally:
        finish_progress(progress)
    if args.json:
        _print_json({"database": str(location), **report.as_json()})
    else:
        print(
            f"{printable(str(location))}: {report.checked} files checked, "
            f"{len(report.missing)} missing, {len(report.changed)} changed"
            + (
                f", {len(report.unindexed)} stored files not in the index"
                if report.unindexed
                else ""
            )
        )
        for problem in report.problems:
            print(
                f"    {problem.problem}: {printable(problem.path)} (SOP {problem.sop_instance_uid})"
            )
        if report.index_problem:
            print(f"    index: {report.index_problem}")
    if report.ok:
        return 0
    if args.json:
        return DatabaseError.exit_code
    raise DatabaseError(_verify_failure(report))


def _verify_failure(report: Any) -> str:
    """The one-line error of a failed verify, naming the first bad file."""
    if report.index_problem and not report.problems:
        return f"The database index is damaged: {report.index_problem}"
    first = report.problems[0]
    return (
        f"{len(report.missing)} files missing and {len(report.changed)} changed in the "
        f"database (first: {first.problem} {printable(first.path)})"
    )
