"""An HL7 FHIR ImagingStudy (R4 or R5) for a DICOM study, from files or the local database.

The facts come from the headers of every file of the study (each series with its
instances and SOP classes); the resource is validated with the models of
``fhir.resources`` (R4B's ImagingStudy for R4, which is the same resource, or R5) before
it is returned, so what is written always parses.  Times without a Timezone Offset From
UTC are taken as this computer's local time, since a FHIR dateTime with a time needs an
offset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from workstation.core.errors import (
    DatabaseError,
    DicomReadError,
    ExportError,
    SeriesNotFoundError,
)
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.provenance import SeriesIdentity
from workstation.io.atomic_write import atomic_write, check_writable_path
from workstation.io.dicom.headers import read_header
from workstation.io.sources import display_name, iter_locations
from workstation.services.access import exporting, file_object

FHIR_VERSIONS = ("R4", "R5")
DICOM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED_SYSTEM = "http://snomed.info/sct"
URI_SYSTEM = "urn:ietf:rfc:3986"
DICOM_UID_SYSTEM = "urn:dicom:uid"
CONNECTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"

#: Body Part Examined (0018,0015) defined terms and their SNOMED CT codes, as DICOM
#: PS3.16 Annex L relates them (the common ones; other terms are written as text).
BODY_PARTS: dict[str, tuple[str, str]] = {
    "ABDOMEN": ("818981001", "Abdomen"),
    "ABDOMENPELVIS": ("818982008", "Abdomen and Pelvis"),
    "ANKLE": ("70258002", "Ankle joint"),
    "BRAIN": ("12738006", "Brain"),
    "BREAST": ("76752008", "Breast"),
    "CHEST": ("816094009", "Chest"),
    "CHESTABDOMEN": ("416550000", "Chest and Abdomen"),
    "CHESTABDPELVIS": ("416775004", "Chest, Abdomen and Pelvis"),
    "CSPINE": ("122494005", "Cervical spine"),
    "ELBOW": ("16953009", "Elbow joint"),
    "EXTREMITY": ("66019005", "Extremity"),
    "FEMUR": ("71341001", "Femur"),
    "FOOT": ("56459004", "Foot"),
    "HAND": ("85562004", "Hand"),
    "HEAD": ("69536005", "Head"),
    "HEADNECK": ("774007", "Head and Neck"),
    "HEART": ("80891009", "Heart"),
    "HIP": ("29836001", "Hip"),
    "HUMERUS": ("85050009", "Humerus"),
    "JAW": ("661005", "Jaw region"),
    "KIDNEY": ("64033007", "Kidney"),
    "KNEE": ("72696002", "Knee"),
    "LIVER": ("10200004", "Liver"),
    "LSPINE": ("122496007", "Lumbar spine"),
    "MANDIBLE": ("91609006", "Mandible"),
    "MAXILLA": ("70925003", "Maxilla"),
    "NECK": ("45048000", "Neck"),
    "ORBIT": ("363654007", "Orbital structure"),
    "PELVIS": ("816092008", "Pelvis"),
    "SACRUM": ("54735007", "Sacrum"),
    "SHOULDER": ("16982005", "Shoulder"),
    "SKULL": ("89546000", "Skull"),
    "SPINE": ("421060004", "Spine"),
    "TIBIA": ("12611008", "Tibia"),
    "TSPINE": ("122495006", "Thoracic spine"),
    "WHOLEBODY": ("38266002", "Entire body"),
    "WRIST": ("74670003", "Wrist joint"),
}


@dataclass
class SeriesFacts:
    """One series of a study: its header facts and its instances (UID → SOP class, number)."""

    uid: str
    number: int | None = None
    modality: str = ""
    description: str = ""
    body_part: str = ""
    instances: dict[str, tuple[str, int | None]] = field(default_factory=dict)


@dataclass
class StudyFacts:
    """What the headers of one study's files say, for an ImagingStudy."""

    uid: str
    patient_id: str = ""
    patient_name: str = ""
    date: str = ""
    time: str = ""
    timezone_offset: str = ""
    description: str = ""
    accession_number: str = ""
    series: dict[str, SeriesFacts] = field(default_factory=dict)

    @property
    def number_of_instances(self) -> int:
        """Distinct instances over every series."""
        return sum(len(series.instances) for series in self.series.values())


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword, "")
    return "" if value is None else str(value).strip()


def _number(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _add_header(studies: dict[str, StudyFacts], ds: Any) -> None:
    """Add one file's header to the facts of its study and series."""
    study_uid, series_uid = _text(ds, "StudyInstanceUID"), _text(ds, "SeriesInstanceUID")
    sop_uid = _text(ds, "SOPInstanceUID")
    if not (study_uid and series_uid and sop_uid):
        return
    study = studies.setdefault(study_uid, StudyFacts(study_uid))
    for attribute, keyword in (
        ("patient_id", "PatientID"),
        ("patient_name", "PatientName"),
        ("date", "StudyDate"),
        ("time", "StudyTime"),
        ("timezone_offset", "TimezoneOffsetFromUTC"),
        ("description", "StudyDescription"),
        ("accession_number", "AccessionNumber"),
    ):
        if not getattr(study, attribute):
            setattr(study, attribute, _text(ds, keyword))
    series = study.series.setdefault(series_uid, SeriesFacts(series_uid))
    if series.number is None:
        series.number = _number(ds, "SeriesNumber")
    for attribute, keyword in (
        ("modality", "Modality"),
        ("description", "SeriesDescription"),
        ("body_part", "BodyPartExamined"),
    ):
        if not getattr(series, attribute):
            setattr(series, attribute, _text(ds, keyword))
    series.instances.setdefault(sop_uid, (_text(ds, "SOPClassUID"), _number(ds, "InstanceNumber")))


def study_facts(
    locations: Iterable[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict[str, StudyFacts]:
    """The facts of every study among ``locations`` (non-DICOM files are passed over)."""
    token = cancel or CancelToken()
    items = list(locations)
    studies: dict[str, StudyFacts] = {}
    for number, location in enumerate(items):
        if number % 50 == 0:
            token.raise_if_cancelled()
            progress(number / max(len(items), 1), f"Reading {display_name(location)}")
        try:
            header = read_header(location)
        except DicomReadError:
            continue
        _add_header(studies, header)
    progress(1.0, "Read the headers")
    return studies


def choose_study(studies: dict[str, StudyFacts], study_uid: str | None, where: str) -> StudyFacts:
    """The study ``study_uid`` (or the only one) of ``studies``; a clear error otherwise."""
    if not studies:
        raise DicomReadError(f"No DICOM study found in {where}.")
    if study_uid:
        if study_uid not in studies:
            raise SeriesNotFoundError(
                f"Study {study_uid} is not in {where}; it holds {', '.join(sorted(studies))}."
            )
        return studies[study_uid]
    if len(studies) > 1:
        listed = "; ".join(
            f"{uid} ({facts.patient_id or 'no ID'}, {facts.date or 'no date'}, "
            f"{facts.description or 'no description'})"
            for uid, facts in sorted(studies.items())
        )
        raise SeriesNotFoundError(
            f"{where} holds {len(studies)} studies; choose one with --study UID: {listed}"
        )
    return next(iter(studies.values()))


def facts_from_path(
    path: str | os.PathLike[str],
    study_uid: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> StudyFacts:
    """The facts of the study under ``path`` (a folder, file or .zip)."""
    studies = study_facts(iter_locations(path), progress, cancel)
    return choose_study(studies, study_uid, str(path))


def facts_from_database(
    study_uid: str,
    database: str | os.PathLike[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> StudyFacts:
    """The facts of study ``study_uid`` in the local DICOM database (default or ``database``)."""
    from workstation.services.dicom_database import DicomDatabase

    with DicomDatabase.open(None if database is None else Path(database)) as store:
        files = store.study_files(study_uid)
        where = f"the DICOM database {store.location}"
    if not files:
        raise DatabaseError(f"Study {study_uid} is not in {where}.")
    studies = study_facts((str(path) for path in files), progress, cancel)
    return choose_study(studies, study_uid, where)


# -- the resource ---------------------------------------------------------------------------
def started_text(date: str, time: str, offset: str = "", default_offset: str | None = None) -> str:
    """A FHIR dateTime from DICOM DA, TM and a ±HHMM offset ("" without a valid date).

    A time needs an offset in FHIR: without one the time is read in ``default_offset``
    (±HHMM), or this computer's local zone when that is None.
    """
    if len(date) != 8 or not date.isdigit():
        return ""
    day = f"{date[:4]}-{date[4:6]}-{date[6:8]}"
    digits = time.split(".")[0].replace(":", "")
    if len(digits) < 4 or not digits.isdigit():
        return day
    clock = f"{digits[:2]}:{digits[2:4]}:{(digits[4:6] or '00').ljust(2, '0')}"
    zone = offset.strip() or default_offset
    if not zone:
        moment = datetime.strptime(f"{date}{digits[:6].ljust(6, '0')}", "%Y%m%d%H%M%S")
        zone = moment.astimezone().strftime("%z")
    if len(zone) != 5 or zone[0] not in "+-" or not zone[1:].isdigit():
        return day
    return f"{day}T{clock}{zone[:3]}:{zone[3:]}"


def person_name(dicom_name: str) -> str:
    """A DICOM PN ("Family^Given^Middle^...") as people write it: "Family, Given Middle"."""
    parts = [part.strip() for part in dicom_name.split("=")[0].split("^")]
    family, rest = (parts[0] if parts else ""), " ".join(part for part in parts[1:3] if part)
    return ", ".join(part for part in (family, rest) if part)


def _coding(system: str, code: str, display: str = "") -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _modality(code: str, version: str) -> dict[str, Any]:
    coding = _coding(DICOM_SYSTEM, code)
    return coding if version == "R4" else {"coding": [coding]}


def _body_site(term: str, version: str) -> dict[str, Any]:
    known = BODY_PARTS.get(term.upper().replace(" ", ""))
    if version == "R4":
        if known:
            return _coding(SNOMED_SYSTEM, known[0], known[1])
        return {"display": term}
    concept = {"coding": [_coding(SNOMED_SYSTEM, *known)]} if known else {"text": term}
    return {"concept": concept}


def _endpoint(address: str, version: str) -> dict[str, Any]:
    connection = _coding(CONNECTION_SYSTEM, "dicom-wado-rs", "DICOM WADO-RS")
    endpoint: dict[str, Any] = {
        "resourceType": "Endpoint",
        "id": "wado",
        "status": "active",
        "address": address,
    }
    if version == "R4":
        endpoint["connectionType"] = connection
        endpoint["payloadType"] = [{"text": "DICOM"}]
        endpoint["payloadMimeType"] = ["application/dicom"]
    else:
        endpoint["connectionType"] = [{"coding": [connection]}]
        endpoint["payload"] = [{"type": [{"text": "DICOM"}], "mimeType": ["application/dicom"]}]
    return endpoint


def _series(facts: SeriesFacts, version: str, endpoint: bool) -> dict[str, Any]:
    series: dict[str, Any] = {"uid": facts.uid}
    if facts.number is not None and facts.number >= 0:
        series["number"] = facts.number
    series["modality"] = _modality(facts.modality or "OT", version)
    if facts.description:
        series["description"] = facts.description
    series["numberOfInstances"] = len(facts.instances)
    if endpoint:
        series["endpoint"] = [{"reference": "#wado"}]
    if facts.body_part:
        series["bodySite"] = _body_site(facts.body_part, version)
    instances = []
    ordered = sorted(facts.instances.items(), key=lambda item: (item[1][1] is None, item[1][1]))
    for uid, (sop_class, number) in ordered:
        instance: dict[str, Any] = {
            "uid": uid,
            "sopClass": _coding(URI_SYSTEM, f"urn:oid:{sop_class}"),
        }
        if number is not None and number >= 0:
            instance["number"] = number
        instances.append(instance)
    series["instance"] = instances
    return series


def imaging_study(
    facts: StudyFacts,
    fhir_version: str = "R4",
    wado_base: str | None = None,
    default_offset: str | None = None,
) -> dict[str, Any]:
    """The ImagingStudy of ``facts`` as JSON-ready data, validated by fhir.resources.

    ``wado_base``: a contained Endpoint (dicom-wado-rs) at that address, referenced by
    the study and every series.  ExportError for an unknown version or invalid result.
    """
    version = fhir_version.upper()
    if version not in FHIR_VERSIONS:
        raise ExportError(f"Unknown FHIR version '{fhir_version}'; use R4 or R5.")
    identifiers: list[dict[str, Any]] = [
        {"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{facts.uid}"}
    ]
    if facts.accession_number:
        identifiers.append(
            {
                "type": {"coding": [_coding(IDENTIFIER_TYPE_SYSTEM, "ACSN")]},
                "value": facts.accession_number,
            }
        )
    subject: dict[str, Any] = {"type": "Patient"}
    if facts.patient_id:
        subject["identifier"] = {"value": facts.patient_id}
    subject["display"] = person_name(facts.patient_name) or facts.patient_id or "unknown patient"
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "id": facts.uid[:64],
        "identifier": identifiers,
        "status": "available",
        "subject": subject,
    }
    started = started_text(facts.date, facts.time, facts.timezone_offset, default_offset)
    if started:
        resource["started"] = started
    modalities = sorted({series.modality for series in facts.series.values() if series.modality})
    if modalities:
        resource["modality"] = [_modality(code, version) for code in modalities]
    if facts.description:
        resource["description"] = facts.description
    resource["numberOfSeries"] = len(facts.series)
    resource["numberOfInstances"] = facts.number_of_instances
    if wado_base:
        resource["contained"] = [_endpoint(wado_base, version)]
        resource["endpoint"] = [{"reference": "#wado"}]
    ordered = sorted(facts.series.values(), key=lambda s: (s.number is None, s.number, s.uid))
    resource["series"] = [_series(series, version, bool(wado_base)) for series in ordered]
    return validated(resource, version)


def validated(resource: dict[str, Any], version: str = "R4") -> dict[str, Any]:
    """``resource`` as fhir.resources parses and writes it back; ExportError if invalid."""
    if version.upper() == "R4":
        from fhir.resources.R4B.imagingstudy import ImagingStudy
    else:
        from fhir.resources.imagingstudy import ImagingStudy  # type: ignore[assignment]
    try:
        model = ImagingStudy.model_validate(resource)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        first = str(error).splitlines()
        raise ExportError(
            f"The ImagingStudy is not valid FHIR {version}: "
            + " ".join(line.strip() for line in first[:3])
        ) from None
    result: dict[str, Any] = json.loads(model.model_dump_json(exclude_none=True))
    return result


def write_imaging_study(
    resource: dict[str, Any],
    path: str | os.PathLike[str],
    identities: Iterable[SeriesIdentity | None] | None = None,
) -> Path:
    """Write the resource as indented JSON, atomically; returns the path.

    An export: it needs export-identified, or export-deidentified when ``identities``
    (the study's series; unknown counts as identified) are all de-identified; audited.
    """
    target = check_writable_path(path)
    with exporting([None] if identities is None else identities) as scope:
        with atomic_write(target) as handle:
            handle.write((json.dumps(resource, indent=2) + "\n").encode("utf-8"))
        scope.add(file_object(target))
    return target
