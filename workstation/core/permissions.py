"""What a role may do: the permissions a policy grants, and the acting user's resolved role."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    """One thing a role may be allowed to do; the values are the policy file's names."""

    VIEW_IDENTIFIED = "view-identified"
    EXPORT_IDENTIFIED = "export-identified"
    EXPORT_DEIDENTIFIED = "export-deidentified"
    SEND_TO_PACS = "send-to-pacs"
    DEIDENTIFY = "deidentify"
    MANAGE_KEYS = "manage-keys"
    MANAGE_POLICY = "manage-policy"


#: What a single-user installation (no policy file) may do: everything.
ALL_PERMISSIONS = frozenset(Permission)

#: The role of a single-user installation.
DEFAULT_ROLE = "owner"


@dataclass(frozen=True)
class Actor:
    """Who acts: the login (or configured identity), the role and what that role may do."""

    user: str
    role: str
    permissions: frozenset[Permission] = ALL_PERMISSIONS

    def may(self, permission: Permission) -> bool:
        """True when the role grants ``permission``."""
        return permission in self.permissions
