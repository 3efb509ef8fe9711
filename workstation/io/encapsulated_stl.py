"""DICOM Encapsulated STL: a model stored in the study of the images it was made from.

``write_encapsulated_stl`` wraps the binary STL that ``export_mesh`` writes for the same
mesh (byte for byte) in an Encapsulated STL instance (PS3.3 A.85.1): the source's
patient and study, a new M3D series, the source's Frame of Reference, millimetre units,
our equipment, and references to every source image.  ``read_encapsulated_stl`` gives
the STL back (padding removed) with its mesh and where it belongs.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workstation import __version__
from workstation.core.errors import DicomReadError, ExportError
from workstation.core.geometry import lps_to_ras_points
from workstation.core.mesh import Mesh
from workstation.io.atomic_write import atomic_write, check_writable_path
from workstation.io.dicom.derived import ENCAPSULATED_STL_SOP_CLASS
from workstation.io.dicom.source_context import DicomSourceContext
from workstation.io.mesh_export import binary_stl_bytes
from workstation.io.writers import register_writer

if TYPE_CHECKING:  # pydicom is imported when a model is written or read as DICOM
    from pydicom.dataset import Dataset

MIME_TYPE = "model/stl"
MODALITY = "M3D"
MANUFACTURER = "Surgical Planning Workstation project"
MODEL_NAME = "Surgical planning workstation"
#: Series number of a new model series (the source images' series keep theirs).
SERIES_NUMBER = 9001

#: Patient, General Study and Patient Study attributes copied from the source; type 2
#: ones (True) are written empty when the source lacks them.
_COPIED = (
    ("PatientName", True),
    ("PatientID", True),
    ("IssuerOfPatientID", False),
    ("PatientBirthDate", True),
    ("PatientSex", True),
    ("OtherPatientIDsSequence", False),
    ("EthnicGroup", False),
    ("PatientComments", False),
    ("StudyInstanceUID", True),
    ("StudyDate", True),
    ("StudyTime", True),
    ("ReferringPhysicianName", True),
    ("StudyID", True),
    ("AccessionNumber", True),
    ("StudyDescription", False),
    ("PatientAge", False),
    ("PatientSize", False),
    ("PatientWeight", False),
)


@dataclass(frozen=True)
class EncapsulatedModel:
    """What an Encapsulated STL holds: the STL file's bytes, its mesh (LPS mm) and context."""

    stl_bytes: bytes
    mesh: Mesh
    name: str
    frame_of_reference_uid: str
    referenced_series_uids: tuple[str, ...]
    study_uid: str
    series_uid: str
    sop_instance_uid: str


def device_serial_number() -> str:
    """A stable identifier of this installation (derived from the host name, not secret)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12].upper()


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _reference(sop_class: str, sop_instance: str) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


def _source_references(source: DicomSourceContext) -> list[tuple[str, str]]:
    """(SOP Class, SOP Instance) of every distinct source image, in frame order."""
    found: dict[str, str] = {}
    for frame in source.frames:
        found.setdefault(frame.sop_instance_uid, frame.sop_class_uid)
    return [(sop_class, uid) for uid, sop_class in found.items()]


def encapsulated_stl_dataset(
    stl: bytes,
    name: str,
    source: DicomSourceContext,
    series_description: str = "",
    now: datetime | None = None,
) -> Dataset:
    """The Encapsulated STL instance of ``stl`` in ``source``'s study (with file meta)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    if not source.frame_of_reference_uid:
        raise ExportError("The source images have no Frame of Reference UID for the model.")
    stamp = (now or datetime.now().astimezone()).replace(microsecond=0)
    sop_instance = generate_uid()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_STL_SOP_CLASS
    ds.SOPInstanceUID = sop_instance
    ds.InstanceCreationDate = stamp.strftime("%Y%m%d")
    ds.InstanceCreationTime = stamp.strftime("%H%M%S")
    header = source.header
    for keyword, type2 in _COPIED:  # Patient, General Study, Patient Study
        if keyword in header and header[keyword].value not in (None, ""):
            ds[keyword] = header[keyword]
        elif type2:
            setattr(ds, keyword, "")
    # Encapsulated Document Series
    ds.Modality = MODALITY
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = SERIES_NUMBER
    ds.SeriesDescription = (series_description or f"3D model {name}")[:64]
    # Frame of Reference
    ds.FrameOfReferenceUID = source.frame_of_reference_uid
    ds.PositionReferenceIndicator = header.get("PositionReferenceIndicator", "") or ""
    # Enhanced General Equipment
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MODEL_NAME
    ds.DeviceSerialNumber = device_serial_number()
    ds.SoftwareVersions = __version__
    # Encapsulated Document
    references = _source_references(source)
    ds.InstanceNumber = 1
    ds.ContentDate = stamp.strftime("%Y%m%d")
    ds.ContentTime = stamp.strftime("%H%M%S")
    ds.AcquisitionDateTime = stamp.strftime("%Y%m%d%H%M%S%z")
    ds.BurnedInAnnotation = "NO"
    ds.DocumentTitle = name[:64] or "Model"
    ds.ConceptNameCodeSequence = Sequence()
    ds.SourceInstanceSequence = Sequence(
        [_reference(sop_class, uid) for sop_class, uid in references]
    )
    ds.MIMETypeOfEncapsulatedDocument = MIME_TYPE
    ds.EncapsulatedDocumentLength = len(stl)
    ds.EncapsulatedDocument = stl + (b"\0" if len(stl) % 2 else b"")
    # Manufacturing 3D Model
    ds.MeasurementUnitsCodeSequence = Sequence([_code("mm", "UCUM", "millimeter")])
    # Common Instance Reference: the source series, in the same study
    series = Dataset()
    series.SeriesInstanceUID = source.series_uid
    series.ReferencedInstanceSequence = Sequence(
        [_reference(sop_class, uid) for sop_class, uid in references]
    )
    ds.ReferencedSeriesSequence = Sequence([series])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_STL_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def write_encapsulated_stl(
    mesh: Mesh,
    path: str | os.PathLike[str],
    source: DicomSourceContext | None = None,
    coords: str = "lps",
    **_: object,
) -> Path:
    """Write ``mesh`` as an Encapsulated STL in its source study; returns the path.

    The coordinates are always the Frame of Reference's (LPS), so ``coords`` must be
    "lps"; ExportError without a source series.
    """
    if source is None:
        raise ExportError(
            "An Encapsulated STL (.dcm) needs the DICOM series the model was made from."
        )
    if coords.lower() != "lps":
        raise ExportError(
            "An Encapsulated STL is in the images' patient coordinates (LPS); write .stl for RAS."
        )
    target = check_writable_path(path)
    stl = binary_stl_bytes(mesh, "lps")
    dataset = encapsulated_stl_dataset(stl, mesh.name or target.stem, source)
    with atomic_write(target) as handle:
        dataset.save_as(handle, enforce_file_format=True)
    return target


def _stl_mesh(stl: bytes, name: str) -> Mesh:
    """The mesh of STL bytes in LPS mm (an STL that says SPACE=RAS is converted)."""
    import trimesh

    try:
        loaded = trimesh.load(io.BytesIO(stl), file_type="stl", force="mesh", process=True)
    except Exception as error:
        raise DicomReadError(f"The STL inside the DICOM file is unreadable: {error}") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise DicomReadError("The STL inside the DICOM file holds no triangles.")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    if _declared_space(stl) == "ras":
        vertices = lps_to_ras_points(vertices)
    return Mesh(vertices, np.asarray(loaded.faces, dtype=np.int64), name=name)


def _declared_space(stl: bytes) -> str:
    """The system the STL's header declares, "lps" (also when it says none) or "ras"."""
    head = stl[:4096].upper()
    return "ras" if b"SPACE=RAS" in head else "lps"


def read_encapsulated_stl(path: str | os.PathLike[str]) -> EncapsulatedModel:
    """The STL, mesh and context of an Encapsulated STL file; DicomReadError for other files."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    source = Path(path)
    try:
        ds = dcmread(source)
    except (OSError, InvalidDicomError) as error:
        raise DicomReadError(f"Cannot read {source.name} as DICOM: {error}") from None
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class != ENCAPSULATED_STL_SOP_CLASS:
        kind = getattr(ds.get("SOPClassUID"), "name", "") or sop_class or "no SOP class"
        raise DicomReadError(f"{source.name} is not a DICOM Encapsulated STL (it is {kind}).")
    document = ds.get("EncapsulatedDocument")
    if not document:
        raise DicomReadError(f"{source.name} holds no encapsulated STL document.")
    length = ds.get("EncapsulatedDocumentLength")
    stl = bytes(document[: int(length)] if length is not None else document)
    name = str(ds.get("DocumentTitle", "") or ds.get("SeriesDescription", "") or source.stem)
    series = tuple(
        str(item.get("SeriesInstanceUID", "")) for item in ds.get("ReferencedSeriesSequence", [])
    )
    return EncapsulatedModel(
        stl_bytes=stl,
        mesh=_stl_mesh(stl, name),
        name=name,
        frame_of_reference_uid=str(ds.get("FrameOfReferenceUID", "")),
        referenced_series_uids=series,
        study_uid=str(ds.get("StudyInstanceUID", "")),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
    )


register_writer("mesh", ".dcm", write_encapsulated_stl, "DICOM Encapsulated STL", needs_source=True)
