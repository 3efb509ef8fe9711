"""Per-image dose figures from image headers: CT CTDIvol, MR SAR and dB/dt, US MI and TI.

Only the few dose attributes are read (``specific_tags``), never past the header and never
the pixels, through the same bounded reader as the scan (a hostile length or an endless
header cannot stall it).  CT: CTDIvol (0018,9345) and the Irradiation Event UID
(0008,3010) that links an image to an event of a dose report, at the top level or in an
Enhanced image's functional groups.  MR: SAR (0018,1316) with its definition (0018,9179),
dB/dt (0018,1318), or the Enhanced MR Specific Absorption Rate Sequence.  US: Mechanical
Index (0018,5022), Bone (0018,5024), Cranial (0018,5026) and Soft Tissue (0018,5027)
Thermal Index.  A value that is absent or not a finite number reads as None.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from workstation.io.dicom.bounded_reader import BoundedReader
from workstation.io.dicom.detect import looks_like_dicom, read_head
from workstation.io.sources import open_binary

#: Header seconds allowed per file (a real header needs milliseconds).
FILE_TIME_LIMIT_SECONDS = 5.0

#: The attributes read; everything else in the header is skipped.
DOSE_TAGS = [
    Tag(keyword)
    for keyword in (
        "SOPClassUID",
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
        "StudyDate",
        "StudyDescription",
        "SeriesDescription",
        "ProtocolName",
        "BodyPartExamined",
        "CTDIvol",
        "IrradiationEventUID",
        "SAR",
        "dBdt",
        "SpecificAbsorptionRateDefinition",
        "SpecificAbsorptionRateSequence",
        "MechanicalIndex",
        "BoneThermalIndex",
        "CranialThermalIndex",
        "SoftTissueThermalIndex",
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
    )
]


@dataclass
class ImageDose:
    """The dose attributes of one image file (None / '' where the header has none)."""

    location: str
    study_uid: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    modality: str = ""
    study_date: str = ""
    study_description: str = ""
    series_description: str = ""
    protocol_name: str = ""
    body_part_examined: str = ""
    sop_class_uid: str = ""
    ctdivol_mgy: float | None = None
    irradiation_event_uids: tuple[str, ...] = ()
    sar_wkg: float | None = None
    sar_model: str = ""  # Specific Absorption Rate Definition, e.g. IEC_WHOLE_BODY
    dbdt_ts: float | None = None  # dB/dt, T/s
    mechanical_index: float | None = None
    bone_thermal_index: float | None = None
    cranial_thermal_index: float | None = None
    soft_tissue_thermal_index: float | None = None
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """The figures this image has, by the name the series record uses."""
        values = {
            "ctdivol_mgy": self.ctdivol_mgy,
            "sar_wkg": self.sar_wkg,
            "dbdt_ts": self.dbdt_ts,
            "mechanical_index": self.mechanical_index,
            "bone_thermal_index": self.bone_thermal_index,
            "cranial_thermal_index": self.cranial_thermal_index,
            "soft_tissue_thermal_index": self.soft_tissue_thermal_index,
        }
        return {name: value for name, value in values.items() if value is not None}


def _get(ds: Dataset | None, keyword: str) -> Any:
    if ds is None:
        return None
    try:
        return ds.get(keyword)
    except Exception:  # a malformed element reads as absent
        return None


def _text(ds: Dataset | None, keyword: str) -> str:
    value = _get(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else ""
    return " ".join(str(value).split())


def _number(ds: Dataset | None, keyword: str) -> float | None:
    value = _get(ds, keyword)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _items(ds: Dataset | None, keyword: str) -> list[Dataset]:
    value = _get(ds, keyword)
    try:
        return [item for item in value if isinstance(item, Dataset)] if value else []
    except TypeError:
        return []


def _groups(ds: Dataset) -> list[Dataset]:
    """The shared functional group item, then every per-frame one."""
    return _items(ds, "SharedFunctionalGroupsSequence") + _items(
        ds, "PerFrameFunctionalGroupsSequence"
    )


def _enhanced_ct(ds: Dataset, dose: ImageDose) -> None:
    """CTDIvol (largest over frames) and event UIDs from an Enhanced CT's functional groups."""
    ctdis: list[float] = []
    events: list[str] = []
    for group in _groups(ds):
        for exposure in _items(group, "CTExposureSequence"):
            value = _number(exposure, "CTDIvol")
            if value is not None:
                ctdis.append(value)
        for item in _items(group, "IrradiationEventIdentificationSequence"):
            uid = _text(item, "IrradiationEventUID")
            if uid:
                events.append(uid)
    if dose.ctdivol_mgy is None and ctdis:
        dose.ctdivol_mgy = max(ctdis)
    dose.irradiation_event_uids = tuple(dict.fromkeys((*dose.irradiation_event_uids, *events)))


def _enhanced_mr(ds: Dataset, dose: ImageDose) -> None:
    """SAR from an Enhanced MR's Specific Absorption Rate Sequence (the largest value): at
    the top level or in the MR Timing and Related Parameters of its functional groups."""
    best: tuple[float, str] | None = None
    holders = [ds] + [
        timing
        for group in _groups(ds)
        for timing in _items(group, "MRTimingAndRelatedParametersSequence")
    ]
    sar_items = [
        item for holder in holders for item in _items(holder, "SpecificAbsorptionRateSequence")
    ]
    for item in sar_items:
        value = _number(item, "SpecificAbsorptionRateValue")
        if value is not None and (best is None or value > best[0]):
            best = (value, _text(item, "SpecificAbsorptionRateDefinition"))
    if dose.sar_wkg is None and best is not None:
        dose.sar_wkg, dose.sar_model = best


def image_dose_from_dataset(ds: Dataset, location: str) -> ImageDose:
    """The dose attributes of a parsed (possibly partial) header."""
    event = _text(ds, "IrradiationEventUID")
    dose = ImageDose(
        location=location,
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        modality=_text(ds, "Modality").upper(),
        study_date=_text(ds, "StudyDate"),
        study_description=_text(ds, "StudyDescription"),
        series_description=_text(ds, "SeriesDescription"),
        protocol_name=_text(ds, "ProtocolName"),
        body_part_examined=_text(ds, "BodyPartExamined").upper(),
        sop_class_uid=_text(ds, "SOPClassUID"),
        ctdivol_mgy=_number(ds, "CTDIvol"),
        irradiation_event_uids=(event,) if event else (),
        sar_wkg=_number(ds, "SAR"),
        sar_model=_text(ds, "SpecificAbsorptionRateDefinition"),
        dbdt_ts=_number(ds, "dBdt"),
        mechanical_index=_number(ds, "MechanicalIndex"),
        bone_thermal_index=_number(ds, "BoneThermalIndex"),
        cranial_thermal_index=_number(ds, "CranialThermalIndex"),
        soft_tissue_thermal_index=_number(ds, "SoftTissueThermalIndex"),
    )
    _enhanced_ct(ds, dose)
    _enhanced_mr(ds, dose)
    return dose


def _parse(handle: Any, size: int | None) -> Dataset:
    reader = BoundedReader(handle, size, FILE_TIME_LIMIT_SECONDS) if size is not None else handle
    try:
        return pydicom.dcmread(reader, stop_before_pixels=True, specific_tags=DOSE_TAGS)
    except InvalidDicomError:
        handle.seek(0)
        return pydicom.dcmread(reader, stop_before_pixels=True, specific_tags=DOSE_TAGS, force=True)


def read_image_dose(location: str) -> ImageDose:
    """The dose attributes of the image at ``location``; a file that fails says why.

    Never raises: an unreadable file gives an ImageDose without figures and one problem.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_binary(location) as handle:
                head, size = read_head(handle)
                if not looks_like_dicom(head, size):
                    return ImageDose(location=location, problems=["not a DICOM file"])
                ds = _parse(handle, size)
                return image_dose_from_dataset(ds, location)
    except Exception as error:  # one odd file never stops a dose read
        return ImageDose(location=location, problems=[f"{type(error).__name__}: {error}"])


def spread_sample(items: Sequence[str], most: int) -> list[str]:
    """At most ``most`` items evenly spread over ``items``, first and last included."""
    count = len(items)
    if count <= most:
        return list(items)
    if most <= 1:
        return [items[0]]
    picks = sorted({round(index * (count - 1) / (most - 1)) for index in range(most)})
    return [items[index] for index in picks]
