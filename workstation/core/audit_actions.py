"""What the audit trail records: the audited actions, their DICOM audit event codes, objects.

Each action maps to a DICOM audit event (PS3.15 A.5, coding scheme DCM): its Event ID,
for security alerts an Event Type Code, and the Event Action Code (C create, R read,
U update, D delete, E execute).  The codes go into every record and into the exported
DICOM Audit Messages and FHIR AuditEvents.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AuditAction(StrEnum):
    """One kind of audited user action; the values are the names the log and CLI use."""

    OPEN_STUDY = "open-study"
    EXPORT = "export"
    SEND = "send"
    RETRIEVE = "retrieve"
    DEIDENTIFY = "deidentify"
    SAVE_PROJECT = "save-project"
    OPEN_PROJECT = "open-project"
    IMPORT = "import"
    DELETE = "delete"
    QUERY = "query"
    ROLE_CHANGE = "role-change"
    POLICY_CHANGE = "policy-change"
    KEY_CHANGE = "key-change"
    REFUSED = "refused"
    AUDIT_VERIFY = "audit-verify"


@dataclass(frozen=True)
class AuditEventCode:
    """The DICOM audit event of an action: Event ID, optional Event Type Code, action code."""

    code: str
    meaning: str
    action_code: str
    type_code: str = ""
    type_meaning: str = ""


#: The DICOM audit event of each action (DCM codes of PS3.16 CID 400 and CID 401).
EVENT_CODES: dict[AuditAction, AuditEventCode] = {
    AuditAction.OPEN_STUDY: AuditEventCode("110103", "DICOM Instances Accessed", "R"),
    AuditAction.EXPORT: AuditEventCode("110106", "Export", "R"),
    AuditAction.SEND: AuditEventCode("110104", "DICOM Instances Transferred", "R"),
    AuditAction.RETRIEVE: AuditEventCode("110104", "DICOM Instances Transferred", "C"),
    AuditAction.DEIDENTIFY: AuditEventCode("110106", "Export", "R"),
    AuditAction.SAVE_PROJECT: AuditEventCode("110106", "Export", "R"),
    AuditAction.OPEN_PROJECT: AuditEventCode("110103", "DICOM Instances Accessed", "R"),
    AuditAction.IMPORT: AuditEventCode("110107", "Import", "C"),
    AuditAction.DELETE: AuditEventCode("110105", "DICOM Study Deleted", "D"),
    AuditAction.QUERY: AuditEventCode("110112", "Query", "E"),
    AuditAction.ROLE_CHANGE: AuditEventCode(
        "110113", "Security Alert", "E", "110136", "Security Roles Changed"
    ),
    AuditAction.POLICY_CHANGE: AuditEventCode(
        "110113", "Security Alert", "E", "110129", "Security Configuration"
    ),
    AuditAction.KEY_CHANGE: AuditEventCode(
        "110113", "Security Alert", "E", "110129", "Security Configuration"
    ),
    AuditAction.REFUSED: AuditEventCode(
        "110113", "Security Alert", "E", "110132", "Use of Restricted Function"
    ),
    AuditAction.AUDIT_VERIFY: AuditEventCode("110101", "Audit Log Used", "R"),
}

#: The outcomes a record may have.
OUTCOMES = ("success", "failure", "cancelled", "refused")

#: The kinds of object a record may name, and what their identifier is.
OBJECT_KINDS = {
    "patient": "Patient ID",
    "study": "Study Instance UID",
    "series": "Series Instance UID",
    "file": "SHA-256 of the file",
    "project": "project file path",
    "policy": "policy file path",
    "server": "PACS server name or address",
    "key": "key file path or key id",
}


@dataclass(frozen=True)
class AuditObject:
    """Something an action touched: a kind (see ``OBJECT_KINDS``), its identifier, a label."""

    kind: str
    identifier: str
    label: str = ""

    def as_dict(self) -> dict[str, str]:
        """The object as the log stores it."""
        return {"kind": self.kind, "identifier": self.identifier, "label": self.label}


def parse_action(name: str) -> AuditAction:
    """The action named ``name``; ValueError listing the valid names otherwise."""
    try:
        return AuditAction(name)
    except ValueError:
        valid = ", ".join(action.value for action in AuditAction)
        raise ValueError(f"unknown audit action {name!r} (valid: {valid})") from None


#: DICOM/FHIR Event Outcome Indicator of each outcome (0 success, 4 minor, 8 serious failure).
OUTCOME_INDICATORS = {"success": "0", "cancelled": "4", "refused": "4", "failure": "8"}
