"""A synthetic data set holding a recognisable value in every attribute of PS3.15 E.1-1."""

from __future__ import annotations

import datetime

import numpy as np
import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from workstation.io.deid.table import load_table

TEXT_VRS = {"AE", "CS", "SH", "LO", "LT", "ST", "UT", "UC", "UR", "PN"}
NUMBER_VRS = {"US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "IS", "DS"}
BINARY_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
BASE_DATE = datetime.date(2021, 3, 4)
#: Repeating-group rows get a concrete group.
MASKED = {0x50003000: 0x50023000, 0x60003000: 0x60023000, 0x60004000: 0x60024000}


def marker(index: int, level: str) -> str:
    """The recognisable text of attribute ``index`` at nesting ``level`` ('T' top, 'N')."""
    return f"PHI{index:04d}{level}"


def original_date(index: int) -> str:
    """A distinct date per attribute."""
    return (BASE_DATE + datetime.timedelta(days=index)).strftime("%Y%m%d")


def original_uid(index: int, level: str) -> str:
    """A distinct UID per attribute and level."""
    return f"1.2.826.0.1.3680043.99.{index}.{1 if level == 'T' else 2}"


def table_tags() -> list[tuple[int, int, str]]:
    """(index, tag, VR) of every table attribute pydicom's dictionary knows."""
    found = []
    for index, rule in enumerate(load_table().rules):
        tag = MASKED.get(rule.tag, rule.tag) if rule.mask != 0xFFFFFFFF else rule.tag
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        if tag >> 16 in (0x0000, 0x0002):
            continue
        found.append((index, tag, vr.split(" or ")[0]))
    return found


def value_for(index: int, vr: str, level: str) -> object:
    """The recognisable value of one attribute."""
    if vr in TEXT_VRS:
        return marker(index, level)
    if vr == "DA":
        return original_date(index)
    if vr == "DT":
        return original_date(index) + "101112"
    if vr == "TM":
        return "101112"
    if vr == "AS":
        return "042Y"
    if vr == "UI":
        return original_uid(index, level)
    if vr in NUMBER_VRS:
        return 4242 if vr not in ("FL", "FD", "DS") else 42.42
    if vr in BINARY_VRS:
        return marker(index, level).encode("ascii")
    if vr == "AT":
        return 0x00100010
    if vr == "SQ":
        item = pydicom.Dataset()
        item.PersonName = marker(index, level + "Q")
        item.ReferencedSOPInstanceUID = original_uid(index, level + "Q")
        return Sequence([item])
    raise AssertionError(vr)


def fill(ds: pydicom.Dataset, level: str) -> None:
    """Every table attribute into ``ds`` with ``level``'s values."""
    for index, tag, vr in table_tags():
        ds.add_new(tag, vr, value_for(index, vr, level))


def phi_dataset() -> pydicom.Dataset:
    """A CT image data set with every table attribute at the top and nested, plus private."""
    ds = pydicom.Dataset()
    fill(ds, "T")
    ds.PatientID = "PHIPATIENTID"
    ds.PatientName = "PHIFAMILY^PHIGIVEN"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.99.777.1"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.99.778.1"
    ds.ImagePositionPatient = [-120.5, -99.25, 33.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 0.96, -0.28]
    ds.PixelSpacing = [0.75, 0.75]
    ds.SliceThickness = 1.25
    ds.Rows, ds.Columns = 4, 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = 1.0, -1024.0
    ds.PixelData = np.arange(16, dtype="<i2").tobytes()
    frame = pydicom.Dataset()
    fill(frame, "N")
    frame.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    frame.FrameOfReferenceUID = ds.FrameOfReferenceUID
    ds.SharedFunctionalGroupsSequence = Sequence([frame])
    referenced = pydicom.Dataset()
    referenced.ReferencedSOPClassUID = CTImageStorage
    referenced.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    referenced.PatientName = "PHINESTEDNAME"
    ds.SourceImageSequence = Sequence([referenced])
    ds.add_new(0x00090010, "LO", "ACME PRIVATE")
    ds.add_new(0x00091001, "LO", "PHIPRIVATE")
    ds.add_new(0x00190010, "LO", "SIEMENS MR HEADER")
    ds.add_new(0x0019100C, "IS", "1000")
    ds.add_new(0x00191099, "LO", "PHIPRIVSIEMENS")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "PHISOURCEAE"
    return ds
