"""DICOMweb pieces without a server: multipart reading, Part 10 wrapping, query strings."""

from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
import requests
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from tests.support.dicom_factory import write_series
from workstation.core.dicom_query import QueryMatch, StudyQuery, accepts
from workstation.io.pacs.dicomweb import _failed_sops
from workstation.io.pacs.dicomweb_multipart import (
    IncompleteBody,
    as_part10,
    encode_related,
    iter_parts,
    sop_instance_uid,
)
from workstation.io.pacs.dicomweb_query import query_string, search_filters


def _chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 2, 7, 13, 64, 1000, 10**6])
def test_parts_survive_any_chunking(size: int) -> None:
    contents = [b"first\r\n--not-the-boundary", b"", bytes(range(256)) * 3, b"\r\n--b\r\nx"]
    body = encode_related(contents, "b0undary", "application/dicom")
    parts = list(iter_parts(_chunked(body, size), "b0undary"))
    assert [content for _, content in parts] == contents
    assert all(headers["content-type"] == "application/dicom" for headers, _ in parts)


def test_a_body_cut_short_yields_the_complete_parts_then_says_so() -> None:
    body = encode_related([b"one", b"two", b"three"], "xyz", "application/dicom")
    cut = body.index(b"three") + 2
    seen: list[bytes] = []
    with pytest.raises(IncompleteBody):
        for _, content in iter_parts(_chunked(body[:cut], 5), "xyz"):
            seen.append(content)
    assert seen == [b"one", b"two"]


def _bare(dataset: pydicom.Dataset, implicit: bool, little: bool) -> bytes:
    """The data set alone (no preamble, no meta) in the given encoding."""
    out = DicomBytesIO()
    out.is_implicit_VR, out.is_little_endian = implicit, little
    write_dataset(out, dataset)
    return out.getvalue()


def test_a_bare_data_set_becomes_a_part10_file_in_its_transfer_syntax(tmp_path) -> None:
    stored = (np.arange(2 * 4 * 4).reshape(2, 4, 4) * 37).astype(np.int16)
    path = write_series(tmp_path, stored, transfer_syntax=ExplicitVRBigEndian)[0]
    original = pydicom.dcmread(path)
    content = _bare(original, implicit=False, little=False)
    assert content[128:132] != b"DICM"  # no preamble, no meta
    media = f'application/dicom; transfer-syntax="{ExplicitVRBigEndian}"'
    part10 = as_part10(content, media)
    assert part10[128:132] == b"DICM"
    again = pydicom.dcmread(io.BytesIO(part10))
    assert again.file_meta.TransferSyntaxUID == ExplicitVRBigEndian
    np.testing.assert_array_equal(again.pixel_array, original.pixel_array)
    assert sop_instance_uid(part10) == original.SOPInstanceUID
    # A complete Part 10 file passes through byte for byte.
    assert as_part10(path.read_bytes()) == path.read_bytes()


def test_a_bare_data_set_without_a_named_syntax_is_read_as_it_is(tmp_path) -> None:
    path = write_series(tmp_path, np.ones((1, 4, 4), np.int16))[0]
    original = pydicom.dcmread(path)
    content = _bare(original, implicit=True, little=True)
    for media in ("", f"application/dicom; transfer-syntax={ImplicitVRLittleEndian}"):
        fixed = pydicom.dcmread(io.BytesIO(as_part10(content, media)))
        assert fixed.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        np.testing.assert_array_equal(fixed.pixel_array, original.pixel_array)


def _response(payload: object, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(payload).encode()
    return response


def test_stow_failures_are_read_from_the_failed_sop_sequence() -> None:
    answer = {
        "00081198": {"vr": "SQ", "Value": [
            {"00081155": {"vr": "UI", "Value": ["1.2.3"]},
             "00081197": {"vr": "US", "Value": [42752]}},
        ]},
        "00081199": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.4"]}}]},
    }
    assert _failed_sops(_response(answer, 202)) == {
        "1.2.3": "refused by the server (failure reason 0xA700)"
    }
    assert _failed_sops(_response({})) == {}


def test_query_strings_keep_wildcards_and_widen_other_characters() -> None:
    query = StudyQuery(patient_name="O'Brien^J*", description="knee mri", date_from="2026-01-01")
    text = query_string(search_filters(query, "study"), ("StudyInstanceUID",), limit=5)
    assert text == (
        "?PatientName=O*Brien*J*&StudyDate=20260101-&StudyDescription=*knee*mri*"
        "&includefield=StudyInstanceUID&fuzzymatching=false&limit=5"
    )
    series = search_filters(StudyQuery(level="series", modality="ct", series_uid="1.2"), "series")
    assert series == {"SeriesInstanceUID": "1.2", "Modality": "CT"}


def test_answers_are_checked_against_the_query_rules() -> None:
    match = QueryMatch(
        level="study", patient_id="ID 7", patient_name="Doe^Jane",
        study_description="CT Knee MRI-like", accession_number="A1", modalities=("CT",),
    )
    assert accepts(StudyQuery(patient_name="doe*"), match)
    assert accepts(StudyQuery(patient_name="Doe Jane"), match)
    assert not accepts(StudyQuery(patient_name="Doe"), match)
    assert accepts(StudyQuery(description="knee mri"), match)
    assert not accepts(StudyQuery(description="knee  mri"), match)
    assert accepts(StudyQuery(patient_id="ID 7"), match)
    assert not accepts(StudyQuery(patient_id="ID*7"), match)  # the widened search, narrowed
    assert not accepts(StudyQuery(accession_number="A2"), match)
    assert not accepts(StudyQuery(modality="MR"), match)
