"""``workstation policy show|set-role|grant|revoke``: who you are and what your role may do.

A thin front over ``services.access``.  ``show`` prints the active policy file, the
acting user, their role and permissions (and the roles and users of the file); the
changes need the permission ``manage-policy``, are written atomically and are recorded
in the audit trail.  Exit 18 when the policy refuses (or is broken).
"""

from __future__ import annotations

import argparse
import json
import sys

from workstation.cli.commands import command_help
from workstation.core.permissions import Permission

EXIT_NOTE = "Exit 18: the policy refuses the change, or the policy file is broken."


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``policy`` command and its subcommands."""
    parser = subparsers.add_parser(
        "policy",
        help=command_help("policy"),
        description="The role policy (WORKSTATION_POLICY, else "
        "/etc/surgical-planning-workstation/policy.toml, else "
        "~/.config/surgical-planning-workstation/policy.toml). Without a policy file the "
        "single user may do everything. Permissions: "
        + ", ".join(permission.value for permission in Permission)
        + ". "
        + EXIT_NOTE,
    )
    commands = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)

    shown = commands.add_parser(
        "show",
        help="the active policy file, your user, role and permissions",
        description="Print the active policy file, the acting user (WORKSTATION_USER, else "
        "the login), their role and permissions, and the file's roles and users.",
    )
    shown.add_argument("--json", action="store_true", help="print one JSON object")
    shown.set_defaults(func=run_show)

    role = commands.add_parser(
        "set-role",
        help="give a user a role (needs manage-policy)",
        description="Give USER the role ROLE (a role of the policy). The first change "
        "creates the policy file, where you keep every permission as role 'owner'. "
        + EXIT_NOTE,
    )
    role.add_argument("user", metavar="USER")
    role.add_argument("role", metavar="ROLE")
    role.set_defaults(func=run_set_role)

    for name, verb in (("grant", "let a role do"), ("revoke", "take from a role")):
        changed = commands.add_parser(
            name,
            help=f"{verb} a permission (needs manage-policy)",
            description=f"{verb.capitalize()} PERMISSION"
            + (" (the role is created when new). " if name == "grant" else ". ")
            + EXIT_NOTE,
        )
        changed.add_argument("role", metavar="ROLE")
        changed.add_argument(
            "permission", metavar="PERMISSION", choices=[p.value for p in Permission]
        )
        changed.set_defaults(func=run_grant if name == "grant" else run_revoke)


def show_lines(facts: dict) -> list[str]:
    """The text of ``policy show``."""
    if facts["policy_exists"]:
        state = "broken" if facts["error"] else "in force"
        where = f"{facts['policy_file']} ({state})"
    else:
        where = f"none ({facts['policy_file']} does not exist: single user, every permission)"
    lines = [
        f"Policy file: {where}",
        f"User: {facts['user']}",
        f"Role: {facts['role']}",
        "Permissions: " + (", ".join(facts["permissions"]) or "none"),
    ]
    if facts["error"]:
        lines.append(f"Problem: {facts['error']}")
    if facts["default_role"]:
        lines.append(f"Default role (logins not listed): {facts['default_role']}")
    for name, granted in facts["roles"].items():
        lines.append(f"  role {name}: " + (", ".join(granted) or "no permission"))
    for user, role in facts["users"].items():
        lines.append(f"  user {user}: {role}")
    return lines


def run_show(args: argparse.Namespace) -> int:
    """Print the active policy, user, role and permissions."""
    from workstation.services.access import describe_access

    facts = describe_access()
    if args.json:
        json.dump(facts, sys.stdout)
        sys.stdout.write("\n")
    else:
        print("\n".join(show_lines(facts)))
    return 0


def run_set_role(args: argparse.Namespace) -> int:
    """Give a user a role."""
    from workstation.services.access import set_role

    path = set_role(args.user, args.role)
    print(f"User {args.user} now has the role {args.role} ({path}).")
    return 0


def run_grant(args: argparse.Namespace) -> int:
    """Grant a permission to a role."""
    from workstation.services.access import grant

    path = grant(args.role, args.permission)
    print(f"Role {args.role} may now {args.permission} ({path}).")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    """Revoke a permission from a role."""
    from workstation.services.access import revoke

    path = revoke(args.role, args.permission)
    print(f"Role {args.role} no longer has {args.permission} ({path}).")
    return 0
