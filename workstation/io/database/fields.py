"""The index attributes of one DICOM header, read tolerantly; why a file cannot be indexed.

Any DICOM object with Study, Series and SOP Instance UIDs is kept (images, SEG,
Encapsulated STL, structured reports...): the database is a store of instances, not
only of images.  A DICOMDIR is an index of a medium, never an instance, and is skipped.
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from workstation.io.database.records import InstanceFields
from workstation.io.dicom.headers import MEDIA_STORAGE_DIRECTORY, sop_class_of, transfer_syntax_of

DICOMDIR_REASON = "DICOMDIR index"

#: Value representations whose stored bytes are the text itself.
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI"})
#: Attributes read through the fast path (all of them have one of TEXT_VRS).
TEXT_KEYWORDS = frozenset(
    {
        "SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID",
        "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyDate",
        "StudyTime", "StudyDescription", "AccessionNumber", "StudyID", "SeriesNumber",
        "SeriesDescription", "ProtocolName", "Modality", "BodyPartExamined",
        "FrameOfReferenceUID", "InstanceNumber", "NumberOfFrames",
    }
)  # fmt: skip


def _value(ds: Dataset, keyword: str) -> Any:
    try:
        return ds.get(keyword)
    except Exception:  # a raw element that cannot be converted
        return None


def _plain_bytes(ds: Dataset, keyword: str) -> bytes | None:
    """The undecoded value of a not yet converted text element when it is plain ASCII.

    pydicom converts an element on first access, which costs more than parsing the
    header did; ASCII without escape sequences reads the same in every character set.
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    try:
        raw = ds.get_item(tag)
    except Exception:
        return None
    if raw is None:
        return b""  # absent
    if not isinstance(raw, RawDataElement) or raw.VR not in (None, *TEXT_VRS):
        return None
    value = raw.value
    if not isinstance(value, bytes) or not value.isascii() or b"\x1b" in value:
        return None
    return value


def text(ds: Dataset | None, keyword: str) -> str:
    """A text value as a stripped one-line string ('' when absent or unreadable)."""
    if ds is None:
        return ""
    if keyword in TEXT_KEYWORDS:
        plain = _plain_bytes(ds, keyword)
        if plain is not None:
            return plain.decode("ascii").replace("\x00", "").strip()
    value = _value(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1", errors="replace")
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(item) for item in value)
    return str(value).replace("\x00", "").strip()


def integer(ds: Dataset, keyword: str) -> int | None:
    """The first value of an integer attribute, or None when absent or malformed."""
    value = text(ds, keyword).split("\\")[0].strip()
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number == int(number) and abs(number) < 2**62 else None


def _uid(ds: Dataset, keyword: str, meta_keyword: str = "") -> str:
    uid = text(ds, keyword)
    if not uid and meta_keyword:
        uid = text(getattr(ds, "file_meta", None), meta_keyword)
    return uid


def instance_fields(ds: Dataset) -> InstanceFields | str:
    """The index fields of a parsed header, or the reason it cannot be indexed."""
    sop_class = sop_class_of(ds)
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        return DICOMDIR_REASON
    sop_instance = _uid(ds, "SOPInstanceUID", "MediaStorageSOPInstanceUID")
    study_uid = _uid(ds, "StudyInstanceUID")
    series_uid = _uid(ds, "SeriesInstanceUID")
    for value, name in (
        (sop_instance, "SOP Instance UID"),
        (study_uid, "Study Instance UID"),
        (series_uid, "Series Instance UID"),
    ):
        if not value:
            return f"no {name}"
    return InstanceFields(
        sop_instance_uid=sop_instance,
        sop_class_uid=sop_class,
        study_uid=study_uid,
        series_uid=series_uid,
        transfer_syntax_uid=transfer_syntax_of(ds),
        patient_id=text(ds, "PatientID"),
        patient_name=text(ds, "PatientName"),
        patient_birth_date=text(ds, "PatientBirthDate"),
        patient_sex=text(ds, "PatientSex").upper(),
        study_date=text(ds, "StudyDate"),
        study_time=text(ds, "StudyTime"),
        study_description=text(ds, "StudyDescription"),
        accession_number=text(ds, "AccessionNumber"),
        study_id=text(ds, "StudyID"),
        series_number=text(ds, "SeriesNumber"),
        series_description=text(ds, "SeriesDescription") or text(ds, "ProtocolName"),
        modality=text(ds, "Modality").upper(),
        body_part=text(ds, "BodyPartExamined"),
        frame_of_reference_uid=text(ds, "FrameOfReferenceUID"),
        instance_number=integer(ds, "InstanceNumber"),
        rows=integer(ds, "Rows"),
        columns=integer(ds, "Columns"),
        number_of_frames=integer(ds, "NumberOfFrames"),
    )
