"""The role policy file (TOML): roles with their permissions, users with their role.

::

    default_role = "student"          # the role of logins not listed (omitted: none)

    [roles.surgeon]
    permissions = ["view-identified", "export-identified", "send-to-pacs", "deidentify"]

    [roles.student]
    permissions = ["export-deidentified"]

    [users]
    alice = "surgeon"
    bob = "student"

Reading validates everything: a problem is a ``PolicyError`` naming the file, the line
and the setting, so that an administrator can fix it.  Writing is atomic and gives the
same layout back (comments are not kept).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import PermissionDenied
from workstation.core.permissions import Permission
from workstation.io.atomic_write import atomic_write

#: The setting names a policy file may hold at its top level.
TOP_LEVEL = ("default_role", "roles", "users")

_NAME = re.compile(r"^[A-Za-z0-9_.@-]+$")


class PolicyError(PermissionDenied):
    """The policy file cannot be read or is invalid: every guarded action is refused."""


@dataclass
class Policy:
    """Roles and the permissions they grant, users and their role, the unlisted users' role."""

    roles: dict[str, frozenset[Permission]] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    default_role: str | None = None

    def role_of(self, user: str) -> str | None:
        """The role of ``user``: listed, else the default role, else None (no role)."""
        return self.users.get(user, self.default_role)

    def permissions_of(self, role: str | None) -> frozenset[Permission]:
        """What ``role`` may do (nothing for None or an unknown role)."""
        return self.roles.get(role, frozenset()) if role else frozenset()


def _line_of(text: str, table: str, key: str | None) -> int:
    """The 1-based line of ``key`` under ``[table]`` ("" = top level), or of the table's
    header when ``key`` is None; the header's line (or 0) when the key is not found there."""
    current = ""
    header = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            current = line.strip("[] \t").replace('"', "").replace("'", "")
            if current == table:
                header = number
                if key is None:
                    return number
            continue
        name = line.split("=", 1)[0].strip().strip("\"'") if "=" in line else None
        if key is not None and current == table and name == key:
            return number
    return header


def _problem(path: Path, text: str, table: str, key: str | None, message: str) -> PolicyError:
    """A PolicyError: 'policy.toml line 4, setting roles.student.permissions: …'."""
    setting = ".".join(part for part in (table, key) if part) or "(file)"
    line = _line_of(text, table, key)
    where = f"{path} line {line}" if line else str(path)
    return PolicyError(
        f"The role policy {where}, setting {setting}: {message}; "
        "every protected action is refused until it is fixed."
    )


def _permission_names() -> str:
    return ", ".join(permission.value for permission in Permission)


def _roles(path: Path, text: str, value: Any) -> dict[str, frozenset[Permission]]:
    if not isinstance(value, dict):
        raise _problem(path, text, "", "roles", "must be a table of roles ([roles.NAME])")
    roles: dict[str, frozenset[Permission]] = {}
    for name, body in value.items():
        table = f"roles.{name}"
        if not _NAME.match(name):
            raise _problem(path, text, table, None, f"'{name}' is not a valid role name")
        if not isinstance(body, dict):
            raise _problem(path, text, "roles", name, "must be a table with 'permissions'")
        unknown = sorted(set(body) - {"permissions"})
        if unknown:
            raise _problem(
                path, text, table, unknown[0], "unknown setting (a role has only 'permissions')"
            )
        names = body.get("permissions", [])
        if not isinstance(names, list) or not all(isinstance(item, str) for item in names):
            raise _problem(path, text, table, "permissions", "must be a list of names")
        granted = set()
        for item in names:
            try:
                granted.add(Permission(item))
            except ValueError:
                raise _problem(
                    path,
                    text,
                    table,
                    "permissions",
                    f"unknown permission '{item}' (known: {_permission_names()})",
                ) from None
        roles[name] = frozenset(granted)
    return roles


def _users(
    path: Path, text: str, value: Any, roles: dict[str, frozenset[Permission]]
) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _problem(path, text, "", "users", "must be a table of login = \"role\"")
    users: dict[str, str] = {}
    for login, role in value.items():
        if not isinstance(role, str):
            raise _problem(path, text, "users", login, "must be a role name in quotes")
        if role not in roles:
            known = ", ".join(sorted(roles)) or "none defined"
            raise _problem(path, text, "users", login, f"unknown role '{role}' (roles: {known})")
        users[login] = role
    return users


def parse_policy(text: str, path: str | os.PathLike[str] = "policy.toml") -> Policy:
    """The policy in ``text``; PolicyError naming line and setting when it is invalid."""
    where = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(
            f"The role policy {where} is not valid TOML ({error}); every protected action "
            "is refused until it is fixed."
        ) from None
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        raise _problem(
            where, text, "", unknown[0], f"unknown setting (known: {', '.join(TOP_LEVEL)})"
        )
    roles = _roles(where, text, data.get("roles", {}))
    users = _users(where, text, data.get("users", {}), roles)
    default = data.get("default_role")
    if default is not None:
        if not isinstance(default, str):
            raise _problem(where, text, "", "default_role", "must be a role name in quotes")
        if default not in roles:
            known = ", ".join(sorted(roles)) or "none defined"
            raise _problem(
                where, text, "", "default_role", f"unknown role '{default}' (roles: {known})"
            )
    return Policy(roles=roles, users=users, default_role=default)


def read_policy(path: str | os.PathLike[str]) -> Policy | None:
    """The policy in the file ``path``; None when there is no such file (single user)."""
    target = Path(path)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise PolicyError(
            f"The role policy {target} cannot be read ({error.strerror or error}); every "
            "protected action is refused until it is fixed."
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(
            f"The role policy {target} is not UTF-8 text; every protected action is refused "
            "until it is fixed."
        ) from None
    return parse_policy(text, target)


def _quoted(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _key(text: str) -> str:
    return text if re.match(r"^[A-Za-z0-9_-]+$", text) else _quoted(text)


def policy_text(policy: Policy) -> str:
    """The TOML text of ``policy`` (roles and users sorted, permissions in their order)."""
    lines = ["# Role policy of the surgical planning workstation.", ""]
    if policy.default_role is not None:
        lines += [f"default_role = {_quoted(policy.default_role)}", ""]
    order = list(Permission)
    for role in sorted(policy.roles):
        granted = sorted(policy.roles[role], key=order.index)
        names = ", ".join(_quoted(permission.value) for permission in granted)
        lines += [f"[roles.{_key(role)}]", f"permissions = [{names}]", ""]
    lines.append("[users]")
    lines += [f"{_key(user)} = {_quoted(policy.users[user])}" for user in sorted(policy.users)]
    return "\n".join(lines) + "\n"


def write_policy(policy: Policy, path: str | os.PathLike[str]) -> Path:
    """Write ``policy`` to ``path`` atomically (validated by reading the text back)."""
    target = Path(path)
    text = policy_text(policy)
    parse_policy(text, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target) as handle:
        handle.write(text.encode("utf-8"))
    return target
