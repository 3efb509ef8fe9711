"""``workstation keys create|info``: OS keyring keys, and whether a file is encrypted.

Also the key options the commands that save or open projects share: ``--encrypt``,
``--passphrase-file FILE`` (or ``WORKSTATION_PASSPHRASE_FILE``) and ``--keyring NAME``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from workstation.cli.commands import command_help

PASSPHRASE_HELP = (
    "file whose first line is the passphrase (default: $WORKSTATION_PASSPHRASE_FILE); "
    "never give a passphrase on the command line"
)
KEYRING_HELP = "name of a key in the OS keyring (made with `workstation keys create NAME`)"


def add_opening_options(parser: argparse.ArgumentParser) -> None:
    """``--passphrase-file`` / ``--keyring``: the key of an encrypted project to open."""
    parser.add_argument("--passphrase-file", metavar="FILE", help=PASSPHRASE_HELP)
    parser.add_argument("--keyring", metavar="NAME", help=KEYRING_HELP)


def add_saving_options(parser: argparse.ArgumentParser) -> None:
    """``--encrypt`` with ``--passphrase-file`` / ``--keyring``: save a project encrypted."""
    parser.add_argument(
        "--encrypt",
        action="store_true",
        help="write the project encrypted (AES-256-GCM) with the key given below",
    )
    add_opening_options(parser)


def opening_key_from(args: argparse.Namespace) -> Any:
    """The KeySource given to open an encrypted file, or None."""
    from workstation.services.keys import key_source

    return key_source(getattr(args, "passphrase_file", None), getattr(args, "keyring", None))


def saving_key_from(args: argparse.Namespace) -> Any:
    """The KeySource to save with when ``--encrypt`` was given, else None."""
    from workstation.services.keys import encryption_key

    return encryption_key(
        bool(getattr(args, "encrypt", False)),
        getattr(args, "passphrase_file", None),
        getattr(args, "keyring", None),
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``keys`` subcommand with its ``create`` and ``info`` actions."""
    parser = subparsers.add_parser(
        "keys",
        help=command_help("keys"),
        description=(
            "Encrypted projects and databases take their key from a passphrase file or "
            "from an entry in the OS keyring; `keys create NAME` stores a new random key "
            "there (needs the permission manage-keys; audited)."
        ),
    )
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="store a new random key in the OS keyring")
    create.add_argument("name", help="the entry's name, given later as --keyring NAME")
    create.add_argument(
        "--replace",
        action="store_true",
        help="replace an existing entry (files encrypted with it can no longer be opened)",
    )
    create.set_defaults(func=run_create)
    info = actions.add_parser("info", help="whether a file is encrypted, and with what key")
    info.add_argument("path", help="a project (.wsproj) or other file")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)


def run_create(args: argparse.Namespace) -> int:
    """Store a new key."""
    from workstation.services.keys import create_keyring_key

    create_keyring_key(args.name, replace=args.replace)
    print(f"Stored a new key {args.name!r} in the OS keyring.")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print the encryption header of a file (no key needed)."""
    from workstation.core.errors import InputPathError
    from workstation.io.encryption import header_of, is_encrypted

    try:
        with open(args.path, "rb"):
            pass
    except OSError as error:
        raise InputPathError(f"Cannot read {args.path}: {error.strerror}") from None
    summary: dict[str, Any] = {"path": args.path, "encrypted": is_encrypted(args.path)}
    if summary["encrypted"]:
        header = header_of(args.path)
        kdf = dict(header["kdf"])
        kdf.pop("salt", None)
        summary.update(cipher=header["cipher"], key=kdf, chunk_size=header["chunk_size"])
    if args.json:
        print(json.dumps(summary, indent=1))
    elif not summary["encrypted"]:
        print(f"{args.path}: not encrypted")
    else:
        key = summary["key"]
        where = (
            f"keyring entry {key.get('entry')!r}"
            if key.get("name") == "keyring"
            else f"passphrase (scrypt n={key.get('n')} r={key.get('r')} p={key.get('p')})"
        )
        print(f"{args.path}: encrypted with {summary['cipher']}, key from a {where}")
    return 0
