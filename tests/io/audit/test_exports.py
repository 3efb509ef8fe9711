"""DICOM Audit Messages (PS3.15 A.5) and FHIR R4 AuditEvents made from records."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.io.audit.dicom_audit_message import audit_messages_xml
from workstation.io.audit.fhir_audit_event import audit_bundle
from workstation.io.audit.records import GENESIS, new_fields, seal

STUDY = "1.2.826.0.1.3680043.8.498.1"


def _records() -> list[dict]:
    export = seal(
        new_fields(
            AuditAction.EXPORT,
            user="alice",
            role="surgeon",
            objects=[
                AuditObject("patient", "PAT-7", "Doe Jane"),
                AuditObject("study", STUDY, "20240102 CT head"),
                AuditObject("file", "ab" * 32, "skull.stl"),
            ],
            detail="skull.stl",
        ),
        1,
        GENESIS,
    )
    refused = seal(
        new_fields(
            AuditAction.REFUSED,
            user="bob",
            role="student",
            outcome="refused",
            detail="export needs export-identified",
        ),
        2,
        export["hash"],
    )
    failed = seal(
        new_fields(
            AuditAction.SEND,
            user="alice",
            role="surgeon",
            outcome="failure",
            objects=[AuditObject("server", "PACS1")],
            detail="connection refused",
        ),
        3,
        refused["hash"],
    )
    return [export, refused, failed]


def _code(element: ET.Element, tag: str) -> tuple[str, str, str]:
    found = element.find(tag)
    assert found is not None, tag
    return found.get("csd-code"), found.get("codeSystemName"), found.get("originalText")


def test_dicom_audit_messages() -> None:
    root = ET.fromstring(audit_messages_xml(_records()))
    messages = root.findall("AuditMessage")
    assert len(messages) == 3
    export, refused, failed = messages
    event = export.find("EventIdentification")
    assert event.get("EventActionCode") == "R"
    assert event.get("EventOutcomeIndicator") == "0"
    assert event.get("EventDateTime").endswith("Z")
    assert _code(event, "EventID") == ("110106", "DCM", "Export")
    participants = export.findall("ActiveParticipant")
    assert participants[0].get("UserID") == "alice"
    assert participants[0].get("UserIsRequestor") == "true"
    assert _code(participants[0], "RoleIDCode")[2] == "surgeon"
    assert participants[1].get("UserIsRequestor") == "false"
    assert _code(participants[1], "RoleIDCode") == ("110150", "DCM", "Application")
    assert export.find("AuditSourceIdentification").get("AuditSourceID")
    objects = export.findall("ParticipantObjectIdentification")
    by_id = {item.get("ParticipantObjectID"): item for item in objects}
    study = by_id[STUDY]
    assert study.get("ParticipantObjectTypeCode") == "2"
    assert study.get("ParticipantObjectTypeCodeRole") == "3"
    assert _code(study, "ParticipantObjectIDTypeCode") == ("110180", "DCM", "Study Instance UID")
    patient = by_id["PAT-7"]
    assert patient.get("ParticipantObjectTypeCode") == "1"
    assert patient.get("ParticipantObjectTypeCodeRole") == "1"
    assert patient.find("ParticipantObjectName").text == "Doe Jane"
    # element order of the A.5 schema
    assert [child.tag for child in export] == [
        "EventIdentification",
        "ActiveParticipant",
        "ActiveParticipant",
        "AuditSourceIdentification",
        "ParticipantObjectIdentification",
        "ParticipantObjectIdentification",
        "ParticipantObjectIdentification",
    ]
    refusal = refused.find("EventIdentification")
    assert _code(refusal, "EventID") == ("110113", "DCM", "Security Alert")
    assert _code(refusal, "EventTypeCode") == ("110132", "DCM", "Use of Restricted Function")
    assert refusal.get("EventOutcomeIndicator") == "4"
    assert refusal.find("EventOutcomeDescription").text == "export needs export-identified"
    assert failed.find("EventIdentification").get("EventOutcomeIndicator") == "8"
    assert _code(failed.find("EventIdentification"), "EventID")[0] == "110104"


def test_fhir_bundle_of_audit_events_validates() -> None:
    from fhir.resources.R4B.bundle import Bundle

    bundle = audit_bundle(_records())
    Bundle.model_validate(bundle)  # what we return parses again
    assert bundle["type"] == "collection"
    events = [entry["resource"] for entry in bundle["entry"]]
    assert [event["resourceType"] for event in events] == ["AuditEvent"] * 3
    export, refused, failed = events
    assert export["type"]["code"] == "110106"
    assert export["type"]["system"] == "http://dicom.nema.org/resources/ontology/DCM"
    assert export["action"] == "R" and export["outcome"] == "0"
    assert export["agent"][0]["who"]["identifier"]["value"] == "alice"
    assert export["agent"][0]["requestor"] is True
    assert export["agent"][0]["role"][0]["text"] == "surgeon"
    study = next(e for e in export["entity"] if e["description"] == "study")
    assert study["what"]["identifier"] == {"system": "urn:dicom:uid", "value": f"urn:oid:{STUDY}"}
    assert study["type"]["code"] == "2" and study["role"]["code"] == "3"
    assert refused["subtype"][0]["code"] == "110132" and refused["outcome"] == "4"
    assert refused["outcomeDesc"] == "export needs export-identified"
    assert failed["outcome"] == "8"
    assert export["recorded"].startswith(_records()[0]["time"][:10])
