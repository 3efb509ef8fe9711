"""Names of de-identified files: built from the new identifiers only, never from the input.

``<patient pseudonym>/study-<h>/series-<NNN>-<MODALITY>-<h>/IM-<NNNN>-<h>.dcm``, where each
``<h>`` is a short hash of the new (de-identified) UID: stable across runs with the same
key, so a later run adds studies of the same patient into the same folders, and free of
original names, descriptions and folder names.
"""

from __future__ import annotations

import hashlib
import re

import pydicom

#: Characters allowed in a name part; everything else becomes '_'.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_PART = 48


def short_hash(text: str, length: int = 8) -> str:
    """The first ``length`` hex digits of SHA-256 of ``text``."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:length]


def safe_part(text: str, fallback: str) -> str:
    """``text`` as one safe path component (letters, digits, '.', '_', '-'), or ``fallback``."""
    cleaned = _UNSAFE.sub("_", text.strip()).strip("._-")[:MAX_PART]
    return cleaned or fallback


def _value(ds: pydicom.Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element names nothing
        return ""
    return "" if value is None else str(value).strip()


def _number(ds: pydicom.Dataset, keyword: str) -> int | None:
    try:
        return int(float(_value(ds, keyword)))
    except ValueError:
        return None


def output_name(ds: pydicom.Dataset) -> str:
    """The relative output path (with '/') of a de-identified data set."""
    study = _value(ds, "StudyInstanceUID")
    series = _value(ds, "SeriesInstanceUID")
    instance = _value(ds, "SOPInstanceUID")
    patient_id = _value(ds, "PatientID")
    patient = safe_part(patient_id, f"patient-{short_hash(study or instance)}")
    modality = safe_part(_value(ds, "Modality").upper(), "OT")[:8]
    series_number = _number(ds, "SeriesNumber")
    instance_number = _number(ds, "InstanceNumber")
    series_text = f"{series_number:03d}" if series_number is not None else "000"
    instance_text = f"{instance_number:04d}" if instance_number is not None else "0000"
    return (
        f"{patient}/study-{short_hash(study)}/"
        f"series-{series_text}-{modality}-{short_hash(series, 6)}/"
        f"IM-{instance_text}-{short_hash(instance)}.dcm"
    )
