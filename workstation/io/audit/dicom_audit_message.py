"""Audit records as DICOM Audit Messages (PS3.15 A.5): one <AuditMessage> per record.

Each message has the Event Identification (action code, time, outcome, the DCM Event
ID and, for security alerts, the Event Type Code), the user as the requesting Active
Participant with the role, the workstation as a second participant, the Audit Source
(this host) and one Participant Object per object the record names (a study with ID
type 110180 Study Instance UID, a patient with RFC 3881 type 2, and so on).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from workstation.core.audit_actions import EVENT_CODES, OUTCOME_INDICATORS, parse_action

#: Private coding scheme of our own codes (roles, object identifier types without a DCM code).
LOCAL_SCHEME = "99SPW"

#: Participant object kinds: (type code, type code role, ID type (code, scheme, meaning)).
OBJECT_CODES: dict[str, tuple[str, str, tuple[str, str, str]]] = {
    "patient": ("1", "1", ("2", "RFC-3881", "Patient Number")),
    "study": ("2", "3", ("110180", "DCM", "Study Instance UID")),
    "series": ("2", "3", ("series-uid", LOCAL_SCHEME, "Series Instance UID")),
    "file": ("2", "3", ("sha-256", LOCAL_SCHEME, "SHA-256 of a file")),
    "project": ("2", "3", ("project", LOCAL_SCHEME, "Project file")),
    "policy": ("2", "13", ("policy", LOCAL_SCHEME, "Role policy file")),
    "server": ("2", "4", ("110182", "DCM", "Node ID")),
    "key": ("2", "13", ("key", LOCAL_SCHEME, "Key")),
}


def _code(parent: ET.Element, tag: str, code: str, scheme: str, meaning: str) -> ET.Element:
    return ET.SubElement(
        parent, tag, {"csd-code": code, "codeSystemName": scheme, "originalText": meaning}
    )


def audit_message(record: dict[str, Any]) -> ET.Element:
    """The <AuditMessage> of one record."""
    action = parse_action(str(record.get("action", "")))
    event = EVENT_CODES[action]
    message = ET.Element("AuditMessage")
    identification = ET.SubElement(
        message,
        "EventIdentification",
        {
            "EventActionCode": event.action_code,
            "EventDateTime": str(record.get("time", "")),
            "EventOutcomeIndicator": OUTCOME_INDICATORS.get(str(record.get("outcome")), "8"),
        },
    )
    _code(identification, "EventID", event.code, "DCM", event.meaning)
    if event.type_code:
        _code(identification, "EventTypeCode", event.type_code, "DCM", event.type_meaning)
    detail = str(record.get("detail", ""))
    if detail:
        ET.SubElement(identification, "EventOutcomeDescription").text = detail
    host = str(record.get("host", ""))
    user = ET.SubElement(
        message,
        "ActiveParticipant",
        {
            "UserID": str(record.get("user", "")),
            "UserIsRequestor": "true",
            "NetworkAccessPointID": host,
            "NetworkAccessPointTypeCode": "1",
        },
    )
    role = str(record.get("role", ""))
    _code(user, "RoleIDCode", role, LOCAL_SCHEME, role)
    application = ET.SubElement(
        message,
        "ActiveParticipant",
        {
            "UserID": str(record.get("software", "")),
            "AlternativeUserID": str(record.get("pid", "")),
            "UserIsRequestor": "false",
            "NetworkAccessPointID": host,
            "NetworkAccessPointTypeCode": "1",
        },
    )
    _code(application, "RoleIDCode", "110150", "DCM", "Application")
    source = ET.SubElement(message, "AuditSourceIdentification", {"AuditSourceID": host})
    _code(source, "AuditSourceTypeCode", "1", "DCM", "End-user display device")
    for item in record.get("objects", []) or []:
        kind = str(item.get("kind", ""))
        type_code, type_role, (id_code, id_scheme, id_meaning) = OBJECT_CODES.get(
            kind, ("2", "3", (kind or "object", LOCAL_SCHEME, kind or "object"))
        )
        participant = ET.SubElement(
            message,
            "ParticipantObjectIdentification",
            {
                "ParticipantObjectID": str(item.get("identifier", "")),
                "ParticipantObjectTypeCode": type_code,
                "ParticipantObjectTypeCodeRole": type_role,
            },
        )
        _code(participant, "ParticipantObjectIDTypeCode", id_code, id_scheme, id_meaning)
        label = str(item.get("label", ""))
        if label:
            ET.SubElement(participant, "ParticipantObjectName").text = label
    return message


def audit_messages_xml(records: Iterable[dict[str, Any]]) -> bytes:
    """Every record as an <AuditMessage> inside one <AuditMessages> root, UTF-8 XML."""
    root = ET.Element("AuditMessages")
    for record in records:
        root.append(audit_message(record))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
