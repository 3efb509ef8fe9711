"""``workstation pacs echo|find|retrieve|send|servers|add-server|remove-server``.

A thin front over ``services.pacs`` and ``services.pacs_servers``: choose a server
(``--server NAME``, ``--dicomweb URL`` or ``--dimse AET@HOST:PORT``), talk to it, print a
table, a summary or JSON.  Every fault is one line on stderr and exit code 14.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.query_table import add_query_arguments, format_matches, query_from_args
from workstation.core.errors import PacsError
from workstation.io.pacs.client import DEFAULT_CALLING_AET, DEFAULT_TIMEOUT_S
from workstation.io.sources import printable


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError("the time-out must be a positive number of seconds")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)



def _servers_option(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--servers",
        metavar="FILE",
        type=Path,
        help="the server list to use (default: servers.toml in the configuration folder, "
        "or WORKSTATION_SERVERS)",
    )


def _security_options(parser: argparse._ActionsContainer, with_secrets: bool) -> None:
    """Options saying how to authenticate; ``with_secrets`` adds --password and --token."""
    parser.add_argument("--user", metavar="USER", help="DICOMweb user (HTTP basic)")
    if with_secrets:
        parser.add_argument("--password", metavar="PASS", help="the user's password")
    else:  # accepted only to refuse it with a clear message
        parser.add_argument("--password", help=argparse.SUPPRESS)
    parser.add_argument("--password-file", metavar="FILE", help="file holding the password")
    if with_secrets:
        parser.add_argument("--token", metavar="TOKEN", help="DICOMweb bearer token")
    else:
        parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--token-file", metavar="FILE", help="file holding a bearer token")
    parser.add_argument(
        "--ca-bundle", metavar="PEM", help="CA certificates that verify the server (HTTPS, TLS)"
    )
    parser.add_argument("--tls", action="store_true", default=None, help="DIMSE over TLS")
    parser.add_argument("--tls-cert", metavar="PEM", help="our TLS certificate (DIMSE)")
    parser.add_argument("--tls-key", metavar="PEM", help="the key of --tls-cert (DIMSE)")
    parser.add_argument(
        "--calling-aet",
        metavar="AET",
        help=f"our AE title (DIMSE; default {DEFAULT_CALLING_AET})",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=_timeout,
        help=f"seconds to wait for the server (default {DEFAULT_TIMEOUT_S:g})",
    )


def _connection_parent() -> argparse.ArgumentParser:
    """The options every network command shares."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("server")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--server", metavar="NAME", help="a configured server")
    where.add_argument("--dicomweb", metavar="URL", help="a DICOMweb service root")
    where.add_argument("--dimse", metavar="AET@HOST:PORT", help="a DIMSE peer")
    _security_options(group, with_secrets=True)
    _servers_option(group)
    return parent


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``pacs`` command and its subcommands."""
    parser = subparsers.add_parser(
        "pacs",
        help=command_help("pacs"),
        description="Talk to a PACS or VNA: echo, find, retrieve into the local database "
        "or a folder, send; and configure the server list. Errors are one line on stderr "
        "and exit code 14.",
    )
    commands = parser.add_subparsers(dest="pacs_command", metavar="SUBCOMMAND")
    commands.required = True
    parent = _connection_parent()

    echo = commands.add_parser("echo", parents=[parent], help="check that a server answers")
    echo.add_argument("--json", action="store_true", help="print a JSON object")
    echo.set_defaults(func=run_echo)

    find = commands.add_parser("find", parents=[parent], help="search a server")
    add_query_arguments(find)
    find.add_argument("--json", action="store_true", help="print a JSON list of matches")
    find.set_defaults(func=run_find)

    retrieve = commands.add_parser(
        "retrieve",
        parents=[parent],
        help="retrieve a study or series into the local database or a folder",
        description="Retrieve a study (or one series). By default it goes into the local "
        "database; with -o DIR into DIR/<study>/<series>/<instance>.dcm. DIMSE uses C-GET "
        "unless --move --port P asks for C-MOVE to our own storage SCP on port P. A "
        "retrieve that stops half-way keeps what arrived and says what is missing.",
    )
    retrieve.add_argument("--study", metavar="UID", required=True)
    retrieve.add_argument("--series", metavar="UID", default=None)
    retrieve.add_argument("-o", "--output", metavar="DIR", help="a folder instead of the database")
    retrieve.add_argument("--database", metavar="DIR", help="the local database folder to use")
    retrieve.add_argument("--move", action="store_true", help="DIMSE: C-MOVE instead of C-GET")
    retrieve.add_argument(
        "--port", metavar="P", type=_port, help="with --move: the port our storage SCP uses"
    )
    retrieve.add_argument("--json", action="store_true", help="quiet; print a JSON summary")
    retrieve.set_defaults(func=run_retrieve)

    send = commands.add_parser("send", parents=[parent], help="send DICOM files to a server")
    send.add_argument("paths", nargs="+", metavar="FILE|DIR", help="files, folders or zips")
    send.add_argument("--json", action="store_true", help="quiet; print a JSON summary")
    send.set_defaults(func=run_send)

    servers = commands.add_parser("servers", help="list the configured servers")
    _servers_option(servers)
    servers.add_argument("--json", action="store_true", help="print a JSON list")
    servers.set_defaults(func=run_servers)

    add = commands.add_parser(
        "add-server",
        help="add a server to the list",
        description="Add a server to the server list (passwords are never stored: give "
        "--password-file or --token-file).",
    )
    add.add_argument("name", metavar="NAME")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--dimse", metavar="AET@HOST:PORT")
    where.add_argument("--dicomweb", metavar="URL")
    _security_options(add, with_secrets=False)
    add.add_argument("--move-port", metavar="P", type=_port, help="retrieve by C-MOVE to port P")
    add.add_argument("--replace", action="store_true", help="replace a server of that name")
    _servers_option(add)
    add.add_argument("--json", action="store_true", help="print the saved server as JSON")
    add.set_defaults(func=run_add_server)

    remove = commands.add_parser("remove-server", help="remove a server from the list")
    remove.add_argument("name", metavar="NAME")
    _servers_option(remove)
    remove.set_defaults(func=run_remove_server)


# ---------------------------------------------------------------- helpers


def _server(args: argparse.Namespace, move_port: int | None = None) -> Any:
    from workstation.services.pacs import server_from_options

    server = server_from_options(
        name=args.server,
        dicomweb=args.dicomweb,
        dimse=args.dimse,
        user=args.user,
        password=args.password,
        password_file=args.password_file,
        token=args.token,
        calling_aet=args.calling_aet,
        timeout_s=args.timeout,
        move_port=move_port,
        ca_bundle=args.ca_bundle,
        token_file=args.token_file,
        tls=args.tls,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        servers_path=args.servers,
    )
    needs_password = server.protocol == "dicomweb" and server.user
    if needs_password and not (server.password or server.password_file) and sys.stdin.isatty():
        server.password = getpass.getpass(f"Password for {server.user} at {server.label}: ")
    return server


def _print_json(record: Any) -> None:
    print(json.dumps(record, indent=2, sort_keys=False))






def _megabytes(count: int) -> str:
    if count < 100_000:
        return f"{count / 1e3:.1f} kB"
    return f"{count / 1e6:.1f} MB"


def _rate(count: int, seconds: float) -> str:
    rate = count / 1e6 / seconds if seconds > 0 else 0.0
    return f"{rate:.2f} MB/s" if rate < 10 else f"{rate:.0f} MB/s"


# ---------------------------------------------------------------- commands


def run_echo(args: argparse.Namespace) -> int:
    """``pacs echo``: the round trip to the server."""
    from workstation.services.pacs import echo

    server = _server(args)
    seconds = echo(server)
    if args.json:
        _print_json({"server": server.label, "address": server.address, "seconds": seconds})
    else:
        how = "C-ECHO" if server.protocol == "dimse" else "QIDO-RS"
        print(f"{server.label} answered in {seconds * 1000:.1f} ms ({how})")
    return 0


def run_find(args: argparse.Namespace) -> int:
    """``pacs find``: matches as a table or JSON."""
    from workstation.services.pacs import find

    query = query_from_args(args, PacsError)
    server = _server(args)
    matches = find(server, query)
    if args.json:
        _print_json([match.as_json() for match in matches])
        return 0
    if not matches:
        print(f"No {args.level} matches on {server.label}.")
        return 0
    print(format_matches(matches, args.level))
    noun = {"patient": "patients", "study": "studies", "series": "series"}[args.level]
    print(f"{len(matches)} {noun if len(matches) != 1 else args.level} on {server.label}.")
    return 0


def run_retrieve(args: argparse.Namespace) -> int:
    """``pacs retrieve``: into the database (default) or a folder, with progress."""
    from workstation.services.pacs import PartialTransfer, retrieve_to_folder

    if args.port is not None and not args.move:
        raise PacsError("--port is the C-MOVE destination port; use it with --move")
    server = _server(args, move_port=args.port)
    if args.move and server.protocol != "dimse":
        raise PacsError("--move is a DIMSE retrieve; DICOMweb servers retrieve by WADO-RS")
    if args.move and server.move_port is None:
        raise PacsError("--move needs --port P: the port of our storage SCP the PACS knows")
    if args.output and args.database:
        raise PacsError("Give -o DIR or --database DIR, not both")
    progress = progress_for(args.json)
    try:
        if args.output:
            report = retrieve_to_folder(
                server, args.study, args.series, args.output, progress=progress
            )
        else:
            report = _retrieve_into_database(server, args, progress)
    except PartialTransfer as error:
        if args.json:  # with --json there is no progress line to finish first
            _print_json(error.report.as_json())
        raise
    finally:
        finish_progress(progress)
    if args.json:
        _print_json(report.as_json())
        return 0
    print(
        f"Retrieved {len(report.stored)} instances ({_megabytes(report.bytes_received)}) "
        f"from {server.label} by {report.method} in {report.seconds:.2f} s "
        f"({_rate(report.bytes_received, report.seconds)}); stored in {report.destination}"
    )
    return 0


def _retrieve_into_database(server: Any, args: argparse.Namespace, progress: Any) -> Any:
    from workstation.services.dicom_database import DicomDatabase
    from workstation.services.pacs import retrieve_to_database

    with DicomDatabase.open(args.database) as database:
        return retrieve_to_database(
            server, args.study, args.series, database=database, progress=progress
        )


def run_send(args: argparse.Namespace) -> int:
    """``pacs send``: files and folders to the server."""
    from workstation.services.pacs import PartialTransfer, send

    server = _server(args)
    progress = progress_for(args.json)
    try:
        report = send(server, args.paths, progress=progress)
    except PartialTransfer as error:
        if args.json:  # with --json there is no progress line to finish first
            _print_json(error.report.as_json())
        raise
    finally:
        finish_progress(progress)
    if args.json:
        _print_json(report.as_json())
        return 0
    skipped = f"; {len(report.skipped)} skipped (not DICOM)" if report.skipped else ""
    print(
        f"Sent {len(report.sent)} files ({_megabytes(report.bytes_sent)}) to {server.label} "
        f"in {report.seconds:.2f} s ({_rate(report.bytes_sent, report.seconds)}){skipped}"
    )
    return 0


def run_servers(args: argparse.Namespace) -> int:
    """``pacs servers``: the configured servers."""
    from workstation.core.user_dirs import servers_file
    from workstation.services.pacs_servers import load_servers

    servers = load_servers(args.servers)
    if args.json:
        _print_json([server.as_json() for server in servers])
        return 0
    where = args.servers or servers_file()
    if not servers:
        print(f"No servers configured in {where}; add one with `workstation pacs add-server`.")
        return 0
    rows = [("NAME", "PROTOCOL", "ADDRESS", "RETRIEVE", "LOGIN")]
    for server in servers:
        login = server.user or ("token" if server.token_file else "")
        method = "WADO-RS" if server.protocol == "dicomweb" else "C-GET"
        if server.protocol == "dimse" and server.move_port is not None:
            method = f"C-MOVE:{server.move_port}"
        rows.append((server.name, server.protocol, server.address, method, login))
    widths = [max(len(printable(row[index])) for row in rows) for index in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                printable(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
    print(f"({len(servers)} in {where})")
    return 0


def run_add_server(args: argparse.Namespace) -> int:
    """``pacs add-server NAME``: add (or with --replace change) a configured server."""
    from workstation.services.pacs import server_from_options
    from workstation.services.pacs_servers import add_server

    if args.password is not None or args.token is not None:
        raise PacsError(
            "Passwords and tokens are never stored; put it in a file readable only by you "
            "and give --password-file FILE or --token-file FILE"
        )
    server = server_from_options(
        dicomweb=args.dicomweb,
        dimse=args.dimse,
        user=args.user,
        password_file=args.password_file,
        calling_aet=args.calling_aet,
        timeout_s=args.timeout,
        move_port=args.move_port,
        ca_bundle=args.ca_bundle,
        token_file=args.token_file,
        tls=args.tls,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    server.name = args.name
    path = add_server(server, args.servers, replace_existing=args.replace)
    if args.json:
        _print_json(server.as_json())
    else:
        print(f"Saved server {args.name!r} ({server.address}) in {path}")
    return 0


def run_remove_server(args: argparse.Namespace) -> int:
    """``pacs remove-server NAME``."""
    from workstation.services.pacs_servers import remove_server

    path = remove_server(args.name, args.servers)
    print(f"Removed server {args.name!r} from {path}")
    return 0
