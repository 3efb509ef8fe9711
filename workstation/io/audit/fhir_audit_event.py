"""Audit records as HL7 FHIR R4 AuditEvent resources in a Bundle of type collection.

Each record becomes one AuditEvent with the DICOM event code as ``type`` (and the
security alert's type as ``subtype``), the action and outcome codes, the user as the
requesting agent with the role, the workstation as the source, and one entity per
object.  The bundle is validated with fhir.resources (its R4B models, the same
resources as R4) before it is returned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from workstation.core.audit_actions import EVENT_CODES, OUTCOME_INDICATORS, parse_action
from workstation.core.errors import AuditLogError

DICOM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/security-source-type"
LOCAL_SYSTEM = "urn:surgical-planning-workstation:audit"

#: Entity type (1 person, 2 system object) and role (1 patient, 3 report, 4 resource,
#: 13 security resource) of each object kind.
ENTITY_CODES = {
    "patient": ("1", "1"),
    "study": ("2", "3"),
    "series": ("2", "3"),
    "file": ("2", "3"),
    "project": ("2", "3"),
    "policy": ("2", "13"),
    "server": ("2", "4"),
    "key": ("2", "13"),
}


def _what(kind: str, identifier: str) -> dict[str, Any]:
    if kind in ("study", "series"):
        return {"identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{identifier}"}}
    return {"identifier": {"system": f"{LOCAL_SYSTEM}:{kind or 'object'}", "value": identifier}}


def audit_event(record: dict[str, Any]) -> dict[str, Any]:
    """The AuditEvent (R4, as a JSON object) of one record."""
    event = EVENT_CODES[parse_action(str(record.get("action", "")))]
    seq = record.get("seq", 0)
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"audit-{seq}",
        "type": {"system": DICOM_SYSTEM, "code": event.code, "display": event.meaning},
        "action": event.action_code,
        "recorded": str(record.get("time", "")),
        "outcome": OUTCOME_INDICATORS.get(str(record.get("outcome")), "8"),
        "agent": [
            {
                "who": {"identifier": {"value": str(record.get("user", ""))}},
                "name": str(record.get("user", "")),
                "requestor": True,
                "network": {"address": str(record.get("host", "")), "type": "1"},
            },
            {
                "type": {
                    "coding": [{"system": DICOM_SYSTEM, "code": "110150", "display": "Application"}]
                },
                "who": {"display": str(record.get("software", ""))},
                "altId": str(record.get("pid", "")),
                "requestor": False,
            },
        ],
        "source": {
            "site": str(record.get("host", "")),
            "observer": {"display": str(record.get("software", ""))},
            "type": [{"system": SOURCE_TYPE_SYSTEM, "code": "1", "display": "User Device"}],
        },
    }
    role = str(record.get("role", ""))
    if role:
        resource["agent"][0]["role"] = [{"text": role}]
    if event.type_code:
        resource["subtype"] = [
            {"system": DICOM_SYSTEM, "code": event.type_code, "display": event.type_meaning}
        ]
    detail = str(record.get("detail", ""))
    if detail:
        resource["outcomeDesc"] = detail
    entities = []
    for item in record.get("objects", []) or []:
        kind = str(item.get("kind", ""))
        entity_type, entity_role = ENTITY_CODES.get(kind, ("2", "3"))
        entity: dict[str, Any] = {
            "what": _what(kind, str(item.get("identifier", ""))),
            "type": {"system": ENTITY_TYPE_SYSTEM, "code": entity_type},
            "role": {"system": OBJECT_ROLE_SYSTEM, "code": entity_role},
            "description": kind,
        }
        if item.get("label"):
            entity["name"] = str(item["label"])
        entities.append(entity)
    if entities:
        resource["entity"] = entities
    return resource


def audit_bundle(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A validated Bundle (type collection) of one AuditEvent per record."""
    from fhir.resources.R4B.bundle import Bundle

    entries = []
    for record in records:
        resource = audit_event(record)
        entries.append({"fullUrl": f"urn:audit:{record.get('hash', '')}", "resource": resource})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    try:
        model = Bundle.model_validate(bundle)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        lines = str(error).splitlines()
        raise AuditLogError(
            "The audit events are not valid FHIR R4: " + " ".join(x.strip() for x in lines[:3])
        ) from None
    result: dict[str, Any] = json.loads(model.model_dump_json(exclude_none=True))
    return result
