"""The study browser's Dose row: read in the background, figures, tooltip, exceeded mark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.support.dicom_factory import write_series
from tests.support.dose_sr import Event, add_image_dose, write_dose_sr
from workstation.io.dicom.scan import scan_path

TIMEOUT_MS = 30000


@pytest.fixture
def browser(qtbot):
    from workstation.gui.study_browser import StudyBrowser

    widget = StudyBrowser()
    qtbot.addWidget(widget)
    yield widget
    widget.dose_rows.runner.cancel_all()
    widget.dose_rows.runner.pool.waitForDone(10000)


def _study(root: Path, *, event_ctdi: float, total: float, description: str = "CT HEAD") -> str:
    study = generate_uid()
    paths = write_series(root / "ct", np.zeros((3, 4, 4), np.int16), study_uid=study)
    add_image_dose(
        paths, [{"CTDIvol": v, "StudyDescription": description} for v in (9.0, 11.5, 10.0)]
    )
    write_dose_sr(
        root / "sr.dcm",
        [Event(protocol="Head routine", ctdivol=event_ctdi, dlp=total)],
        total_dlp=total,
        study_uid=study,
        study_description=description,
    )
    return study


def _show(qtbot, browser, path: Path) -> None:
    with qtbot.waitSignal(browser.doses_shown, timeout=TIMEOUT_MS):
        browser.set_scan(scan_path(path, workers=1))
        # set_scan returns at once: the dose is read in the background
        assert browser.dose_items == {} and browser.dose_rows.busy()


def test_dose_row_with_figures_and_events(qtbot, browser, tmp_path: Path) -> None:
    study = _study(tmp_path, event_ctdi=30.25, total=456.5)
    _show(qtbot, browser, tmp_path)
    item = browser.dose_items[study]
    assert item.text(0) == "Dose: CTDIvol 30.25 mGy · DLP 456.5 mGy·cm"
    assert item.icon(0).isNull()
    tooltip = item.toolTip(0)
    assert "1. Head routine / Head: CTDIvol 30.25 mGy, DLP 456.5 mGy·cm, head phantom" in tooltip
    assert "Accumulated DLP 456.5 mGy·cm" in tooltip
    assert "CTDIvol 11.5 mGy" in tooltip  # the series' largest per-image value
    # the existing rows are unchanged: the series row is still the study's first child
    from workstation.gui.study_browser import KIND_ROLE

    assert item.parent().child(0).data(0, KIND_ROLE) == "stack"
    assert item.data(0, KIND_ROLE) == "dose"
    assert item.parent().childCount() == 2


def test_exceeded_level_is_marked(qtbot, browser, tmp_path: Path) -> None:
    study = _study(tmp_path, event_ctdi=55.0, total=900.0)
    _show(qtbot, browser, tmp_path)
    item = browser.dose_items[study]
    assert not item.icon(0).isNull()
    assert "reference level exceeded" in item.text(0)
    tooltip = item.toolTip(0)
    assert "⚠ EXCEEDED Head (Acute stroke): CTDIvol 55 mGy, level 47 mGy: EXCEEDED" in tooltip
    assert "DLP 900 mGy·cm, level 790 mGy·cm: EXCEEDED" in tooltip


def test_no_dose_row_without_dose_and_stale_results_dropped(qtbot, browser, tmp_path) -> None:
    write_series(tmp_path / "plain", np.zeros((2, 4, 4), np.int16))
    _show(qtbot, browser, tmp_path / "plain")
    assert browser.dose_items == {}
    _study(tmp_path / "dosed", event_ctdi=5.0, total=50.0)
    old = scan_path(tmp_path / "dosed", workers=1)
    browser.set_scan(old)
    browser.set_scan(None)  # a later scan: the first read's result must not show
    qtbot.waitUntil(lambda: not browser.dose_rows.busy(), timeout=TIMEOUT_MS)
    qtbot.wait(50)
    assert browser.dose_items == {}


def test_real_mr_sar_row(qtbot, browser, shared_data) -> None:
    folder = shared_data / "mr_sag_t1_hfp_dcmqa_decubitus" / "dicom"
    files = sorted(p for p in folder.iterdir() if p.is_file())
    expected = max(float(pydicom.dcmread(p, stop_before_pixels=True).SAR) for p in files)
    _show(qtbot, browser, folder)
    (item,) = browser.dose_items.values()
    assert item.text(0).startswith(f"Dose: SAR {expected:.4g} W/kg")
