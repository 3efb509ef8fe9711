"""Burned-in text during de-identification: found text is reviewed or, if asked, blanked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.services.deid_cases import write_case
from tests.support import burned_text
from workstation.io.deid.burned_in import OcrUnavailable
from workstation.io.deid.options import DEFAULT_OPTIONS, DeidOption
from workstation.services import deid_files
from workstation.services.deidentify import deidentify_path

pytestmark = pytest.mark.skipif(
    not burned_text.FONT_PATH.exists(), reason="DejaVu Sans is not installed"
)


@pytest.fixture
def capture_case(tmp_path: Path):
    case = write_case(tmp_path / "in", size=16, slices=3)
    image = burned_text.secondary_capture()
    image.dataset.PatientName = "Doeish^Janette"
    image.dataset.save_as(case.root / "capture.dcm", enforce_file_format=True)
    return case, image


def _capture(report):
    return next(item for item in report.files if item.source == "capture.dcm")


def _codes(ds: pydicom.Dataset) -> set[str]:
    return {str(item.CodeValue) for item in ds.get("DeidentificationMethodCodeSequence", [])}


def test_found_text_without_cleaning_needs_review(capture_case, tmp_path: Path) -> None:
    case, image = capture_case
    report = deidentify_path(case.root, tmp_path / "out", key_file=None, options=DEFAULT_OPTIONS)
    item = _capture(report)
    assert item.status == "needs_review" and item.ocr_seconds > 0
    assert any("Secondary Capture" in reason and "text region" in reason for reason in item.reasons)
    assert all("DOE" not in reason for reason in item.reasons)  # counts, never the text
    ds = pydicom.dcmread(tmp_path / "out" / item.output)
    assert ds.PixelData == image.dataset.PixelData
    assert "113101" not in _codes(ds)
    others = [entry for entry in report.files if entry.output and entry is not item]
    assert all(entry.status == "done" and entry.ocr_seconds == 0 for entry in others)
    assert report.text().splitlines()[2].startswith("Needs review (1):")


def test_clean_pixel_data_blanks_the_text_only(capture_case, tmp_path: Path) -> None:
    case, image = capture_case
    options = DEFAULT_OPTIONS | {DeidOption.CLEAN_PIXEL_DATA}
    report = deidentify_path(case.root, tmp_path / "out", key_file=None, options=options)
    item = _capture(report)
    assert item.pixels_cleaned and item.status == "done", item.reasons
    ds = pydicom.dcmread(tmp_path / "out" / item.output)
    before = image.dataset.pixel_array
    after = ds.pixel_array
    assert np.all(after[image.ink[0]] == before.min())  # every inked pixel blanked
    outside = np.ones_like(image.ink[0])
    for _, x, y, width, height in image.boxes:
        outside[max(0, y - 8) : y + height + 8, max(0, x - 8) : x + width + 8] = False
    assert np.array_equal(after[outside], before[outside])
    assert ds.BurnedInAnnotation == "NO"
    assert "113101" in _codes(ds)
    ct = [entry for entry in report.files if entry.output and entry is not item]
    for entry in ct:  # images that need no check are not touched, nor coded as cleaned
        assert "113101" not in _codes(pydicom.dcmread(tmp_path / "out" / entry.output))


def test_ocr_unavailable_marks_review(capture_case, tmp_path: Path, monkeypatch) -> None:
    case, _ = capture_case

    def missing(ds):
        raise OcrUnavailable("tesseract is not installed")

    monkeypatch.setattr(deid_files, "find_text", missing)
    monkeypatch.setattr("workstation.services.deidentify.PARALLEL_MIN_FILES", 10_000)
    report = deidentify_path(case.root, tmp_path / "out", key_file=None, options=DEFAULT_OPTIONS)
    item = _capture(report)
    assert item.status == "needs_review"
    assert any("tesseract is not installed" in reason for reason in item.reasons)
