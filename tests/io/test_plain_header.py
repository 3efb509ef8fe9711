"""The pydicom-free header reader gives exactly what pydicom's path gives, or declines.

Every file the fast path answers is compared field by field (FileHeader and its
FrameRefs are dataclasses) with ``read_file_header_with_pydicom``: on every shared-data
collection, on a seeded corpus of fuzz mutations, and on synthetic files with the
encodings, character sets and layouts it must handle or leave to pydicom.
"""

from __future__ import annotations

import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

from tests.fuzz.cases import MUTATORS, generate
from tests.fuzz.sources import real_sources, synthetic_sources
from tests.support.dicom_factory import rewrite_transfer_syntax, write_series
from tests.support.shared_data import SHARED_DATA, shared_data_path
from workstation.core.errors import DicomReadError
from workstation.io.dicom import plain_header
from workstation.io.dicom.headers import (
    FileHeader,
    read_file_header,
    read_file_header_with_pydicom,
    read_plain_file_header,
)
from workstation.io.dicom.load import read_series_facts
from workstation.io.sources import iter_locations

#: Files of each collection the fast path must answer (the rest are left to pydicom: no
#: preamble, big endian, Enhanced, code extensions, files that are not DICOM).
FAST_FILES = {
    "ct_abdomen_tcia_pancreas": 134,
    "ct_head_ge_gantry_tilt_dcmqa": 28,
    "ct_head_slicer_64px": 93,
    "dicom2nifti_cases": 54,
    "enhanced_mr_dcmqa_enh": 0,
    "mr_sag_t1_hfp_dcmqa_decubitus": 35,
    "pydicom_data_store": 16,
    "pydicom_test_files": 77,
    "pylibjpeg_ct_codecs": 10,
    "transfer_syntax_dcmqa_ts": 8,
}
#: Fuzz mutations compared (seeded): a few seconds.
FUZZ_SEED, FUZZ_CASES = 2026, 1500


def _reference(location: str) -> tuple[FileHeader | tuple[str, str], list[str]]:
    """pydicom's answer for a file (its FileHeader, or why it is unreadable) and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            answer: FileHeader | tuple[str, str] = read_file_header_with_pydicom(location)
        except DicomReadError as error:
            answer = ("error", error.details or error.message)
    return answer, [str(warning.message) for warning in caught]


def _compare(location: str) -> bool:
    """True when the fast path answered; fails when its answer differs from pydicom's.

    A file pydicom warns about must be declined, so that the user sees the same library
    warnings whichever path read it.
    """
    fast = read_plain_file_header(location)
    if fast is None:
        return False
    expected, warned = _reference(location)
    assert fast == expected, location
    assert not warned, f"{location}: answered although pydicom warns {warned}"
    return True


@pytest.mark.parametrize("collection", sorted(FAST_FILES))
def test_shared_data_headers_match_pydicom(collection: str) -> None:
    folder = shared_data_path(collection)
    answered = sum(_compare(location) for location in iter_locations(folder))
    assert answered == FAST_FILES[collection]


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="real test data not available")
def test_fuzz_mutations_match_pydicom_or_are_declined(tmp_path: Path) -> None:
    sources = synthetic_sources() + real_sources()
    specs = [spec for spec in generate(FUZZ_SEED, FUZZ_CASES, sources) if spec.target != "*"]
    by_name = {source.name: source for source in sources}
    answered = 0
    for spec in specs:
        source = by_name[spec.source]
        if MUTATORS[spec.mutator].scope != "one":
            continue
        mutation = MUTATORS[spec.mutator].fn(
            source.files[spec.target], random.Random(spec.seed), source.infos[spec.target]
        )
        path = tmp_path / f"case{spec.index}.dcm"
        path.write_bytes(mutation.data)
        answered += _compare(str(path))
    # Most mutations leave a plain file plain (a changed value, a truncation after the
    # header...): the comparison must have covered many of them, not declined them all.
    print(f"{answered} of {len(specs)} mutated files answered by the fast path")
    assert answered >= len(specs) // 5


# ----------------------------------------------------------------- synthetic files


def _series_file(folder: Path, **options) -> Path:
    stored = np.arange(2 * 4 * 5, dtype=np.int16).reshape(2, 4, 5)
    return write_series(folder, stored, **options)[0]


def _rewrite(path: Path, edit, transfer_syntax: str | None = None) -> Path:
    """Apply ``edit`` to the data set at ``path`` and save it again (implicit VR if asked)."""
    ds = pydicom.dcmread(path)
    edit(ds)
    implicit = transfer_syntax == ImplicitVRLittleEndian
    if implicit:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    pydicom.dcmwrite(path, ds, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
    assert pydicom.dcmread(path).original_encoding == (implicit, True)
    return path


def _set(**values):
    def edit(ds: Dataset) -> None:
        for keyword, value in values.items():
            setattr(ds, keyword, value)

    return edit


def _signed_padding(ds: Dataset) -> None:
    ds.add_new(0x00280120, "SS", -2000)  # Pixel Padding Value, "US or SS" in the dictionary
    ds.add_new(0x00280121, "SS", -1024)  # Pixel Padding Range Limit


def _nested_sequences(ds: Dataset) -> None:
    """Undefined-length sequences, nested two deep, and private elements before the pixels."""
    inner = Dataset()
    inner.CodeValue = "113100"
    inner.CodingSchemeDesignator = "DCM"
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    item.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([item, item])
    ds.ReferencedImageSequence.is_undefined_length = True
    ds.add_new(0x00091010, "LO", "Private creator")
    ds.add_new(0x00091011, "OB", bytes(300))


@pytest.mark.parametrize("syntax", [None, ImplicitVRLittleEndian])
@pytest.mark.parametrize(
    "name, edit",
    [
        ("plain", lambda ds: None),
        ("latin-1 name", _set(SpecificCharacterSet="ISO_IR 100", PatientName="Müller^Jörg")),
        ("utf-8 name", _set(SpecificCharacterSet="ISO_IR 192", PatientName="Łukasz^Żółć")),
        ("ascii under cyrillic", _set(SpecificCharacterSet="ISO_IR 144", PatientName="Ivanov")),
        ("sequences and private", _nested_sequences),
        ("padded values", _set(SeriesDescription="  lead and trail  ", ImageType=["A ", "B"])),
        ("signed padding", lambda ds: _signed_padding(ds)),
        ("empty values", _set(SliceThickness=None, InstanceNumber=None, Modality="")),
        ("large private block", lambda ds: ds.add_new(0x00291010, "OB", bytes(300_000))),
    ],
)
def test_plain_files_are_read_as_pydicom_reads_them(tmp_path: Path, name, edit, syntax) -> None:
    path = _rewrite(_series_file(tmp_path), edit, syntax)
    assert _compare(str(path)), f"{name}: the fast path declined a plain file"


@pytest.mark.parametrize(
    "values",
    [
        {"Modality": "ct"},
        {"ImageType": ["ORIGINAL", "P" * 17]},
        {"StudyDate": "2026-12-03"},
        {"SliceThickness": "1.000000000000001"},
    ],
)
def test_values_pydicom_reads_without_checks_stay_on_the_fast_path(tmp_path: Path, values) -> None:
    """pydicom reads code strings, dates and decimals unchecked: there is no warning to keep."""
    path = _nonconforming(_series_file(tmp_path), **values)
    assert _compare(str(path)), values


def test_text_is_decoded_in_the_files_character_set(tmp_path: Path) -> None:
    edit = _set(SpecificCharacterSet="ISO_IR 100", PatientName="Müller^Jörg")
    header = read_plain_file_header(str(_rewrite(_series_file(tmp_path), edit)))
    assert header is not None and header.identity.patient_name == "Müller Jörg"


@pytest.mark.parametrize("syntax", [None, ImplicitVRLittleEndian])
def test_signed_padding_reads_negative_through_the_fast_path(tmp_path: Path, syntax) -> None:
    path = _rewrite(_series_file(tmp_path), _signed_padding, syntax)
    (frame,) = read_file_header(str(path)).frames
    facts = read_series_facts(frame)
    assert (facts.padding_value, facts.padding_range_limit, facts.rescale_type) == (
        -2000,
        -1024,
        "HU",
    )


def _deflate(path: Path) -> Path:
    return rewrite_transfer_syntax(path, path, DeflatedExplicitVRLittleEndian)


def _big_endian(path: Path) -> Path:
    return rewrite_transfer_syntax(path, path, ExplicitVRBigEndian)


def _bad_decimal(path: Path) -> Path:
    _rewrite(path, _set(SliceThickness="98765.4"))
    path.write_bytes(path.read_bytes().replace(b"98765.4 ", b"thick   "))
    return path


def _no_preamble(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[132:])
    return path


def _enhanced(path: Path) -> Path:
    def edit(ds: Dataset) -> None:
        ds.SharedFunctionalGroupsSequence = Sequence([Dataset()])

    return _rewrite(path, edit)


def _huge_private(path: Path) -> Path:
    return _rewrite(path, lambda ds: ds.add_new(0x00291010, "OB", bytes(2 << 20)))


def _nonconforming(path: Path, **values) -> Path:
    """Values pydicom warns about when it reads them (written without its checks)."""
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns while they are set, too
        for keyword, value in values.items():
            setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=False)
    return path


def _nonconforming_meta(path: Path) -> Path:
    """A Media Storage SOP Class UID with a letter in it (the same length)."""
    data = path.read_bytes()
    uid = pydicom.dcmread(path).file_meta.MediaStorageSOPClassUID.encode()
    path.write_bytes(data.replace(uid, uid[:-1] + b"x", 1))
    return path


@pytest.mark.parametrize(
    "name, make",
    [
        ("deflated", _deflate),
        ("big endian", _big_endian),
        ("no preamble", _no_preamble),
        ("functional groups", _enhanced),
        ("header beyond the cap", _huge_private),
        ("name component groups", lambda p: _rewrite(p, _set(PatientName="Yamada^Taro=山田"))),
        ("IS not an integer", lambda p: _rewrite(p, _set(InstanceNumber="1.5"))),
        ("DS not a number", _bad_decimal),
        ("five orientation values", lambda p: _rewrite(p, _set(ImageOrientationPatient=[1] * 5))),
        ("cyrillic text", lambda p: _rewrite(p, _set(SpecificCharacterSet="ISO_IR 144", PatientName="Иванов"))),  # noqa: E501
        ("truncated header", lambda p: p.write_bytes(p.read_bytes()[:600]) and p),
        ("LO too long", lambda p: _nonconforming(p, SeriesDescription="D" * 70)),
        ("SH too long", lambda p: _nonconforming(p, ConvolutionKernel="K" * 17)),
        ("PN too long", lambda p: _nonconforming(p, PatientName="N" * 65)),
        ("UI not a UID", lambda p: _nonconforming(p, FrameOfReferenceUID="1.2.abc.x")),
        ("UI too long", lambda p: _nonconforming(p, SeriesInstanceUID="1." + "2" * 64)),
        ("IS too long", lambda p: _nonconforming(p, InstanceNumber="0000000000001")),
        ("meta UID with a letter", lambda p: _nonconforming_meta(p)),
    ],
)  # fmt: skip
def test_files_outside_the_plain_case_are_left_to_pydicom(tmp_path: Path, name, make) -> None:
    path = make(_series_file(tmp_path))
    assert read_plain_file_header(str(path)) is None, name
    expected, warned = _reference(str(path))
    if isinstance(expected, FileHeader):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert read_file_header(str(path)) == expected
        assert [str(warning.message) for warning in caught] == warned
    else:
        with pytest.raises(DicomReadError) as raised:
            read_file_header(str(path))
        assert raised.value.details == expected[1]
    if name.endswith(("too long", "not a UID")):
        assert warned, f"{name}: pydicom was expected to warn"


def test_walk_is_bounded_on_a_header_of_only_sequence_delimiters() -> None:
    """An undefined-length sequence that never ends: declined once the bytes run out."""
    meta = b"\x02\x00\x10\x00UI\x12\x00" + b"1.2.840.10008.1.2\x00"
    empty_item = b"\xfe\xff\x00\xe0" + bytes(4)
    data_set = b"\x08\x00\x15\x11" + b"\xff\xff\xff\xff" + empty_item * 5000
    data = bytes(128) + b"DICM" + meta + data_set
    with pytest.raises(plain_header.NeedMoreBytes):
        plain_header._parse(data)


def test_info_on_a_plain_series_never_imports_pydicom(tmp_path: Path) -> None:
    stored = np.zeros((3, 8, 8), dtype=np.int16)
    write_series(tmp_path / "ct", stored, transfer_syntax=ImplicitVRLittleEndian)
    script = (
        "import sys\n"
        "from workstation.cli.main import main\n"
        "code = main(['info', sys.argv[1], '--json'])\n"
        "assert code == 0, code\n"
        "print('pydicom' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ct")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr
