"""Record who did what to which data: the audited actions of every service, GUI and CLI.

``record`` appends one record for the current actor; ``audited`` wraps an action: it
checks first that the log can be written (refusing the action otherwise), then records
its outcome (success, failure with the error's message, or cancelled).  A record that
cannot be written after the action is kept in ``audit.pending`` beside the log (or in
memory) and written first by the next successful append, and AuditLogError is raised.

The log is ``WORKSTATION_AUDIT_LOG`` (see ``core.user_dirs``); its chain key is
``audit.key`` beside it or ``WORKSTATION_AUDIT_KEY``; its head signing key is
``audit-signing.key`` beside it or ``WORKSTATION_AUDIT_SIGNING_KEY``; it is rotated at
``WORKSTATION_AUDIT_MAX_SIZE`` (default 16M).
"""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.core.audit_actions import OUTCOMES, AuditAction, AuditObject, parse_action
from workstation.core.errors import AuditLogError, Cancelled, PermissionDenied, WorkstationError
from workstation.core.memory_budget import parse_size
from workstation.core.permissions import DEFAULT_ROLE, Actor, Permission
from workstation.core.provenance import SeriesIdentity
from workstation.core.user_dirs import audit_log_file
from workstation.io.atomic_write import shown_path
from workstation.io.audit import pending
from workstation.io.audit.chain_log import (
    DEFAULT_MAX_BYTES,
    LogFiles,
    append_records,
    chain_end,
    locked,
)
from workstation.io.audit.records import new_fields
from workstation.io.audit.signing import (
    new_chain_key,
    new_signing_key,
    public_key_text,
    read_chain_key,
    read_head,
    read_signing_key,
    signed_head,
    write_head,
)
from workstation.io.audit.verify import VerifyResult, verify_log

if TYPE_CHECKING:  # cryptography is imported only when a signing key is used
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "AuditObject",
    "AuditScope",
    "AuditSettings",
    "audited",
    "check_writable",
    "init_chain_key",
    "init_signing_key",
    "record",
    "require_permission",
    "settings",
    "sign_head",
    "study_objects",
    "verify",
]

CHAIN_KEY_VARIABLE = "WORKSTATION_AUDIT_KEY"
SIGNING_KEY_VARIABLE = "WORKSTATION_AUDIT_SIGNING_KEY"
MAX_SIZE_VARIABLE = "WORKSTATION_AUDIT_MAX_SIZE"


@dataclass(frozen=True)
class AuditSettings:
    """Where the log is, its keys (when configured) and its rotation size."""

    log: Path
    chain_key_file: Path
    signing_key_file: Path
    chain_key: bytes | None
    signing_key: Ed25519PrivateKey | None
    max_bytes: int

    @property
    def files(self) -> LogFiles:
        """The log and the files beside it."""
        return LogFiles(self.log)


_key_cache: dict[tuple[str, str, int, int], Any] = {}


def _cached_key(path: Path, kind: str) -> Any:
    """A key file's content, read again only when the file changes."""
    try:
        stat = path.stat()
    except OSError:
        return None
    token = (kind, str(path), stat.st_mtime_ns, stat.st_size)
    if token not in _key_cache:
        if len(_key_cache) > 16:
            _key_cache.clear()
        _key_cache[token] = read_chain_key(path) if kind == "chain" else read_signing_key(path)
    return _key_cache[token]


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable, "").strip()
    return Path(value).expanduser() if value else None


def settings(log: Path | None = None) -> AuditSettings:
    """The audit settings of this process (``log`` overrides the configured log)."""
    target = (log or audit_log_file()).absolute()
    files = LogFiles(target)
    chain_file = _env_path(CHAIN_KEY_VARIABLE) or files.chain_key
    signing_file = _env_path(SIGNING_KEY_VARIABLE) or files.signing_key
    size_text = os.environ.get(MAX_SIZE_VARIABLE, "").strip()
    try:
        max_bytes = parse_size(size_text) if size_text else DEFAULT_MAX_BYTES
    except ValueError as error:
        raise AuditLogError(f"{MAX_SIZE_VARIABLE}: {error}.") from None
    return AuditSettings(
        target,
        chain_file,
        signing_file,
        _cached_key(chain_file, "chain"),
        _cached_key(signing_file, "signing"),
        max(max_bytes, 1),
    )


def _fallback_actor() -> Actor:
    user = os.environ.get("WORKSTATION_USER", "").strip()
    if not user:
        try:
            user = getpass.getuser()
        except (OSError, KeyError):
            user = f"uid {os.getuid()}"
    return Actor(user, DEFAULT_ROLE)


def _actor() -> Actor:
    """The acting user from the access service (the single-user default until it exists)."""
    try:
        from workstation.services.access import current_actor
    except ImportError:
        return _fallback_actor()
    return current_actor()


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError):
        return str(error.strerror or error)
    return str(error).rstrip(".")


def _action(action: AuditAction | str) -> AuditAction:
    try:
        return action if isinstance(action, AuditAction) else parse_action(action)
    except ValueError as error:
        raise AuditLogError(f"Cannot audit: {error}.") from None


def check_writable(log: Path | None = None) -> None:
    """Refuse (AuditLogError) when the log cannot be written, before an action runs."""
    target = (log or audit_log_file()).absolute()
    try:
        current = settings(target)
        current.log.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        os.close(os.open(current.log, flags, 0o600))
        os.close(os.open(current.files.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        chain_end(current.log)
    except (OSError, AuditLogError) as error:
        raise AuditLogError(
            f"The audit log {shown_path(target)} cannot be written: {_reason(error)}; "
            "the action was not done."
        ) from None


def _write(fields: dict[str, Any], log: Path | None = None) -> dict[str, Any]:
    """Append ``fields`` (after any waiting records); spool it and raise when that fails."""
    target = (log or audit_log_file()).absolute()
    files = LogFiles(target)
    try:
        current = settings(target)  # a damaged key file fails here: the record is kept too
        target.parent.mkdir(parents=True, exist_ok=True)
        with locked(current.log):
            waiting, claimed, from_memory = pending.take(files.pending)
            try:
                written = append_records(
                    current.log,
                    [*waiting, fields],
                    key=current.chain_key,
                    max_bytes=current.max_bytes,
                )
            except BaseException:
                pending.restore(claimed, files.pending)
                raise
            pending.written(from_memory, claimed)
            last = written[-1]
            if current.signing_key is not None:
                write_head(files.head, signed_head(current.signing_key, last["seq"], last["hash"]))
    except (OSError, AuditLogError) as error:
        where = (
            f"in {shown_path(files.pending)}"
            if pending.spool(files.pending, fields)
            else "in memory"
        )
        raise AuditLogError(
            f"The audit log {shown_path(target)} cannot be written: {_reason(error)}; "
            f"the record was kept {where} and is written first next time."
        ) from None
    except WorkstationError as error:  # the head could not be replaced
        raise AuditLogError(
            f"The audit record was written but the head could not be signed: {error}"
        ) from None
    return last


def record(
    action: AuditAction | str,
    *,
    objects: Sequence[AuditObject] = (),
    outcome: str = "success",
    detail: str = "",
    actor: Actor | None = None,
) -> None:
    """Append one record for the current actor (AuditLogError when it cannot be written)."""
    if outcome not in OUTCOMES:
        raise AuditLogError(f"Cannot audit the outcome {outcome!r} (use {', '.join(OUTCOMES)}).")
    who = actor or _actor()
    fields = new_fields(
        _action(action),
        user=who.user,
        role=who.role,
        objects=objects,
        outcome=outcome,
        detail=detail,
    )
    _write(fields)


@dataclass
class AuditScope:
    """An audited action in progress: objects found during the work can be added."""

    action: AuditAction
    objects: list[AuditObject] = field(default_factory=list)
    detail: str = ""

    def add(self, obj: AuditObject) -> None:
        """Name one more object in the action's record (once)."""
        if obj not in self.objects:
            self.objects.append(obj)

    def extend(self, objects: Sequence[AuditObject]) -> None:
        """Name several more objects."""
        for obj in objects:
            self.add(obj)


def _failure_text(error: BaseException) -> str:
    if isinstance(error, WorkstationError):
        return error.message
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextlib.contextmanager
def audited(
    action: AuditAction | str, objects: Sequence[AuditObject] = (), detail: str = ""
) -> Iterator[AuditScope]:
    """Run the block as an audited action (refused up front when the log is unwritable).

    Success is recorded on exit (AuditLogError if that record cannot be written); when an
    exception leaves the block its outcome is recorded (failure, or cancelled) and the
    exception goes on; a record that cannot be written then is kept for the next write.
    """
    scope = AuditScope(_action(action), list(objects), detail)
    check_writable()
    actor = _actor()
    try:
        yield scope
    except BaseException as error:
        cancelled = isinstance(error, Cancelled | KeyboardInterrupt) or not isinstance(
            error, Exception
        )
        outcome = "cancelled" if cancelled else "failure"
        if isinstance(error, PermissionDenied):
            outcome = "refused"
        message = _failure_text(error)
        text = f"{scope.detail}: {message}" if scope.detail else message
        with contextlib.suppress(AuditLogError):  # kept for later; the action's error wins
            record(scope.action, objects=scope.objects, outcome=outcome, detail=text, actor=actor)
        raise
    record(scope.action, objects=scope.objects, detail=scope.detail, actor=actor)


def study_objects(identity: SeriesIdentity) -> list[AuditObject]:
    """The patient, study and series of ``identity`` as audit objects (known ones only)."""
    objects: list[AuditObject] = []
    if identity.patient_id:
        objects.append(AuditObject("patient", identity.patient_id, identity.patient_name))
    if identity.study_uid:
        label = " ".join(part for part in (identity.study_date, identity.study_description) if part)
        objects.append(AuditObject("study", identity.study_uid, label))
    if identity.series_uid:
        label = " ".join(
            part
            for part in (identity.modality, identity.series_number, identity.series_description)
            if part
        )
        objects.append(AuditObject("series", identity.series_uid, label))
    return objects


def require_permission(permission: Permission, action: AuditAction) -> Actor:
    """The actor, when its role grants ``permission``; else audited PermissionDenied."""
    try:
        from workstation.services.access import require
    except ImportError:
        actor = _actor()
        if actor.may(permission):
            return actor
        record(AuditAction.REFUSED, outcome="refused", detail=f"{action.value} needs {permission}")
        raise PermissionDenied(
            f"{action.value} needs the permission '{permission}', which role "
            f"'{actor.role}' does not have."
        ) from None
    return require(permission, action)


def verify(log: Path | None = None) -> VerifyResult:
    """Check the (configured) log with its chain key and signed head."""
    current = settings(log)
    if not current.log.exists() and not current.log.parent.is_dir():
        raise AuditLogError(f"There is no audit log at {shown_path(current.log)}.")
    expected = public_key_text(current.signing_key) if current.signing_key else None
    return verify_log(
        current.log,
        key=current.chain_key,
        head=read_head(current.files.head),
        signing_public_key=expected,
    )


def sign_head(log: Path | None = None) -> dict[str, Any]:
    """Write the signed head for the log's last record now; returns the head."""
    current = settings(log)
    if current.signing_key is None:
        raise AuditLogError(
            f"No audit signing key at {shown_path(current.signing_key_file)}; create one with "
            "'workstation audit init-key --signing'."
        )
    with locked(current.log):
        seq, last_hash = chain_end(current.log)
        head = signed_head(current.signing_key, seq, last_hash)
        try:
            write_head(current.files.head, head)
        except WorkstationError as error:
            raise AuditLogError(f"The audit head cannot be written: {error}") from None
    return head


def init_chain_key(log: Path | None = None) -> Path:
    """Create the chain key (needs MANAGE_KEYS; audited as key-change); returns its path."""
    current = settings(log)
    require_permission(Permission.MANAGE_KEYS, AuditAction.KEY_CHANGE)
    key_object = [AuditObject("key", str(current.chain_key_file), "audit chain key")]
    with audited(AuditAction.KEY_CHANGE, key_object, "created the audit chain key"):
        new_chain_key(current.chain_key_file)
    return current.chain_key_file


def init_signing_key(log: Path | None = None) -> Path:
    """Create the head signing key and sign the head (needs MANAGE_KEYS; audited)."""
    current = settings(log)
    require_permission(Permission.MANAGE_KEYS, AuditAction.KEY_CHANGE)
    key_object = [AuditObject("key", str(current.signing_key_file), "audit head signing key")]
    with audited(AuditAction.KEY_CHANGE, key_object, "created the audit head signing key"):
        new_signing_key(current.signing_key_file)
    sign_head(log)
    return current.signing_key_file
