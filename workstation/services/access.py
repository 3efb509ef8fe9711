"""Who acts and what they may do: the acting user, their role from the policy, the checks.

Without a policy file the workstation is a single-user installation: the user has the
role ``owner`` with every permission.  With one, the login (``WORKSTATION_USER``, else
the operating system's) has the role the file gives it (or its ``default_role``; a login
with neither has no permission at all).  While the file is broken every protected action
is refused with the file's problem (fail closed).  A refusal is recorded in the audit
trail before it is raised.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.errors import PermissionDenied, WorkstationError
from workstation.core.permissions import ALL_PERMISSIONS, DEFAULT_ROLE, Actor, Permission
from workstation.core.provenance import SeriesIdentity
from workstation.core.user_dirs import policy_file
from workstation.io.policy_file import Policy, PolicyError, read_policy

if TYPE_CHECKING:
    from workstation.services.audit import AuditScope

USER_VARIABLE = "WORKSTATION_USER"

#: The role shown for a user while the policy file is broken (no permission at all).
BROKEN_POLICY_ROLE = "(policy error)"

#: The role shown for a login the policy neither lists nor gives a default role.
NO_ROLE = "(none)"

#: How each audited action reads at the start of a refusal.
ACTION_WORDS = {
    "open-study": "Opening identified images",
    "export": "Exporting",
    "send": "Sending to a PACS",
    "retrieve": "Retrieving from a PACS",
    "deidentify": "De-identifying",
    "save-project": "Saving a project",
    "open-project": "Opening a project",
    "import": "Importing into the database",
    "delete": "Deleting from the database",
    "query": "Querying a PACS",
    "role-change": "Changing a user's role",
    "policy-change": "Changing the role policy",
    "key-change": "Changing a key",
}


@dataclass(frozen=True)
class AccessState:
    """The active policy file, the policy it holds (None: no file) or its problem, the actor."""

    path: Path
    policy: Policy | None
    error: PolicyError | None
    actor: Actor

    @property
    def single_user(self) -> bool:
        """True when there is no policy file (every permission)."""
        return self.policy is None and self.error is None


def current_login() -> str:
    """The acting login: ``WORKSTATION_USER``, else the operating system's login name."""
    configured = os.environ.get(USER_VARIABLE, "").strip()
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (a container)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def access_state() -> AccessState:
    """The policy in force and the actor it makes of the current login (never raises)."""
    path = policy_file()
    user = current_login()
    try:
        policy = read_policy(path)
    except PolicyError as error:
        return AccessState(path, None, error, Actor(user, BROKEN_POLICY_ROLE, frozenset()))
    if policy is None:
        return AccessState(path, None, None, Actor(user, DEFAULT_ROLE, ALL_PERMISSIONS))
    role = policy.role_of(user)
    actor = Actor(user, role or NO_ROLE, policy.permissions_of(role))
    return AccessState(path, policy, None, actor)


def current_actor() -> Actor:
    """The acting user, their role and permissions (none while the policy is broken)."""
    return access_state().actor


def _action_words(action: AuditAction | str) -> str:
    return ACTION_WORDS.get(str(action), str(action).replace("-", " ").capitalize())


def _refusal(state: AccessState, needed: Sequence[Permission], action: AuditAction | str) -> str:
    """The one-line reason: the policy's problem, or the permission the role lacks."""
    if state.error is not None:
        return state.error.message
    names = " or ".join(f"'{permission.value}'" for permission in needed)
    noun = "permission" if len(needed) == 1 else "permissions"
    words = _action_words(action)
    actor = state.actor
    if actor.role == NO_ROLE:
        return (
            f"{words} needs the {noun} {names}; user '{actor.user}' has no role in the "
            f"policy {state.path} (list them under [users] or set default_role)."
        )
    return f"{words} needs the {noun} {names}, which role '{actor.role}' does not have."


def _refuse(
    state: AccessState,
    needed: Sequence[Permission],
    action: AuditAction | str,
    objects: Sequence[AuditObject],
) -> PermissionDenied:
    """Record the refusal in the audit trail and return the error to raise."""
    from workstation.services.audit import record

    message = _refusal(state, needed, action)
    missing = ",".join(permission.value for permission in needed) or "a valid policy"
    detail = f"{action} refused: needs {missing}; role {state.actor.role}: {message}"
    try:
        record(
            AuditAction.REFUSED,
            objects=objects,
            outcome="refused",
            detail=detail,
            actor=state.actor,
        )
    except WorkstationError as error:
        message = f"{message} (the refusal could not be audited: {error.message})"
    error_type = PolicyError if state.error is not None else PermissionDenied
    return error_type(message)


def require(
    permission: Permission,
    action: AuditAction | str,
    objects: Sequence[AuditObject] = (),
) -> Actor:
    """The actor when their role grants ``permission``; else PermissionDenied (audited)."""
    return require_any((permission,), action, objects)


def require_any(
    permissions: Sequence[Permission],
    action: AuditAction | str,
    objects: Sequence[AuditObject] = (),
) -> Actor:
    """The actor when their role grants one of ``permissions``; else PermissionDenied."""
    state = access_state()
    if state.error is None and any(state.actor.may(item) for item in permissions):
        return state.actor
    raise _refuse(state, permissions, action, objects)


def require_active(action: AuditAction | str, objects: Sequence[AuditObject] = ()) -> Actor:
    """The actor, unless the policy is broken (then every protected action is refused)."""
    state = access_state()
    if state.error is not None:
        raise _refuse(state, (), action, objects)
    return state.actor


def is_deidentified(identities: Iterable[SeriesIdentity | None]) -> bool:
    """True when there is at least one identity and every one says Patient Identity Removed."""
    known = list(identities)
    return bool(known) and all(item is not None and item.identity_removed for item in known)


def require_view(
    identities: Iterable[SeriesIdentity | None],
    action: AuditAction | str,
    objects: Sequence[AuditObject] = (),
) -> Actor:
    """Viewing images: identified ones need view-identified; de-identified ones need none.

    A refusal names ``objects``, by default the patient, study and series of ``identities``.
    """
    known = list(identities)
    found = list(objects) or study_audit_objects(known)
    if is_deidentified(known):
        return require_active(action, found)
    return require(Permission.VIEW_IDENTIFIED, action, found)


def require_export(
    identities: Iterable[SeriesIdentity | None],
    action: AuditAction | str,
    objects: Sequence[AuditObject] = (),
) -> Actor:
    """Exporting data: export-identified, or for de-identified sources also export-deidentified.

    Sources that are not known (no identity) count as identified.  A refusal names
    ``objects``, by default the patient, study and series of ``identities``.
    """
    known = list(identities)
    found = list(objects) or study_audit_objects(known)
    if is_deidentified(known):
        permissions = (Permission.EXPORT_IDENTIFIED, Permission.EXPORT_DEIDENTIFIED)
        return require_any(permissions, action, found)
    return require(Permission.EXPORT_IDENTIFIED, action, found)


def identities_of(source: object | None) -> list[SeriesIdentity | None]:
    """The identity of a writer's source (a ``DicomSourceContext``): [None] when unknown.

    Used by exports whose caller did not say where the data came from: the header's
    Patient Identity Removed decides; without a header the data counts as identified.
    """
    header = getattr(source, "header", None)
    if header is None or not hasattr(header, "get"):
        return [None]
    removed = str(header.get("PatientIdentityRemoved", "") or "").strip().upper() == "YES"
    return [
        SeriesIdentity(
            study_uid=str(header.get("StudyInstanceUID", "") or ""),
            series_uid=str(header.get("SeriesInstanceUID", "") or ""),
            identity_removed=removed,
        )
    ]


def study_audit_objects(identities: Iterable[SeriesIdentity | None]) -> list[AuditObject]:
    """The patient, study and series objects of ``identities`` for a record (no repeats)."""
    from workstation.services.audit import study_objects

    found: list[AuditObject] = []
    for identity in identities:
        for item in study_objects(identity) if identity is not None else []:
            if item not in found:
                found.append(item)
    return found


# ---------------------------------------------------------------- guarded, audited work


def file_object(path: str | os.PathLike[str]) -> AuditObject:
    """The audit object of a written file: its SHA-256, labelled with its name."""

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return AuditObject("file", digest.hexdigest(), Path(path).name)


@contextmanager
def opening(
    identities: Iterable[SeriesIdentity | None], action: AuditAction | str | None = None
) -> Iterator[AuditScope]:
    """Guard and audit opening images: view-identified unless every source is de-identified."""
    from workstation.services.audit import audited

    known = list(identities)
    what = action or AuditAction.OPEN_STUDY
    objects = study_audit_objects(known)
    require_view(known, what, objects)
    with audited(what, objects) as scope:
        yield scope


@contextmanager
def exporting(
    identities: Iterable[SeriesIdentity | None],
    action: AuditAction | str | None = None,
    objects: Sequence[AuditObject] = (),
) -> Iterator[AuditScope]:
    """Guard and audit an export; add each written file with ``scope.add(file_object(p))``."""
    from workstation.services.audit import audited

    known = list(identities)
    what = action or AuditAction.EXPORT
    found = [*study_audit_objects(known), *objects]
    require_export(known, what, found)
    with audited(what, found) as scope:
        yield scope


@contextmanager
def guarded(
    permission: Permission | None,
    action: AuditAction | str,
    objects: Sequence[AuditObject] = (),
    detail: str = "",
) -> Iterator[AuditScope]:
    """Require ``permission`` (None: only a sound policy), then audit the work as ``action``."""
    from workstation.services.audit import audited

    if permission is None:
        require_active(action, objects)
    else:
        require(permission, action, objects)
    with audited(action, objects, detail=detail) as scope:
        yield scope


# ---------------------------------------------------------------- changing the policy


def _policy_object(path: Path) -> list[AuditObject]:

    return [AuditObject("policy", str(path))]


def _check_writable(path: Path) -> None:
    """Refuse a policy file (the system one included) this user cannot write."""
    target = path if path.exists() else path.parent
    while not target.exists() and target != target.parent:
        target = target.parent
    if not os.access(target, os.W_OK):
        raise PermissionDenied(
            f"The role policy {path} cannot be written by this user; an administrator "
            "changes it (or set WORKSTATION_POLICY to another file)."
        )


def _editable(state: AccessState) -> Policy:
    """The policy to change: the file's, or a new one keeping every permission for this user."""
    if state.policy is not None:
        return Policy(dict(state.policy.roles), dict(state.policy.users), state.policy.default_role)
    # the first change creates the file: the single user keeps every permission
    return Policy({DEFAULT_ROLE: ALL_PERMISSIONS}, {state.actor.user: DEFAULT_ROLE}, None)


def _save(state: AccessState, policy: Policy) -> Path:
    """Write the changed policy, unless it would take manage-policy from the acting user."""
    from workstation.io.policy_file import write_policy

    if Permission.MANAGE_POLICY not in policy.permissions_of(policy.role_of(state.actor.user)):
        raise PermissionDenied(
            f"This change would take '{Permission.MANAGE_POLICY.value}' from you (user "
            f"'{state.actor.user}'); give it to your role first, or edit {state.path} by hand."
        )
    return write_policy(policy, state.path)


def _change(action: AuditAction, detail: str, edit: Callable[[Policy], None]) -> Path:
    """Check manage-policy, apply ``edit(policy)`` and write the file atomically, audited."""
    from workstation.services.audit import audited

    state = access_state()
    objects = _policy_object(state.path)
    require(Permission.MANAGE_POLICY, action, objects)
    _check_writable(state.path)
    with audited(action, objects, detail=detail):
        policy = _editable(state)
        edit(policy)
        return _save(state, policy)


def set_role(user: str, role: str) -> Path:
    """Give ``user`` the role ``role`` (which the policy must define); audited ROLE_CHANGE."""

    def edit(policy: Policy) -> None:
        if role not in policy.roles:
            known = ", ".join(sorted(policy.roles)) or "none"
            raise PermissionDenied(
                f"The policy has no role '{role}' (roles: {known}); grant it a permission "
                "first (workstation policy grant ROLE PERMISSION)."
            )
        policy.users[user] = role

    return _change(AuditAction.ROLE_CHANGE, f"user {user} -> role {role}", edit)


def _permission(name: str) -> Permission:
    try:
        return Permission(name)
    except ValueError:
        known = ", ".join(permission.value for permission in Permission)
        raise PermissionDenied(f"Unknown permission '{name}' (known: {known}).") from None


def grant(role: str, permission: str) -> Path:
    """Let ``role`` (created when new) do ``permission``; audited POLICY_CHANGE."""

    granted = _permission(permission)

    def edit(policy: Policy) -> None:
        policy.roles[role] = policy.roles.get(role, frozenset()) | {granted}

    return _change(AuditAction.POLICY_CHANGE, f"grant {granted.value} to role {role}", edit)


def revoke(role: str, permission: str) -> Path:
    """Take ``permission`` from ``role``; audited POLICY_CHANGE."""

    taken = _permission(permission)

    def edit(policy: Policy) -> None:
        if role not in policy.roles:
            raise PermissionDenied(f"The policy has no role '{role}'.")
        policy.roles[role] = policy.roles[role] - {taken}

    return _change(AuditAction.POLICY_CHANGE, f"revoke {taken.value} from role {role}", edit)


def describe_access(state: AccessState | None = None) -> dict[str, object]:
    """What ``workstation policy show`` prints: file, user, role, permissions, roles, users."""
    state = state or access_state()
    order = list(Permission)
    policy = state.policy
    return {
        "policy_file": str(state.path),
        "policy_exists": state.path.is_file(),
        "single_user": state.single_user,
        "error": state.error.message if state.error else None,
        "user": state.actor.user,
        "role": state.actor.role,
        "permissions": [p.value for p in sorted(state.actor.permissions, key=order.index)],
        "default_role": policy.default_role if policy else None,
        "roles": {
            name: [p.value for p in sorted(granted, key=order.index)]
            for name, granted in sorted((policy.roles if policy else {}).items())
        },
        "users": dict(sorted((policy.users if policy else {}).items())),
    }
