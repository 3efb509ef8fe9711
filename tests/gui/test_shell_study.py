"""Opening a study is a Qt-free service (scan, choose the stack for a bone model, load);
the window runs it in a job and says in the status bar why it chose the stack."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.conftest import TIMEOUT_MS, settle
from tests.support.dicom_factory import write_series
from workstation.core.errors import Cancelled, NotAVolumeError, SeriesNotFoundError
from workstation.core.progress import CancelToken
from workstation.services.study import load_stack_volume, open_study


@pytest.fixture
def two_series(tmp_path):
    """A thick soft series with more images and a thin one (the bone model's choice)."""
    write_series(
        tmp_path / "thick", np.zeros((30, 16, 16), np.int16), slice_step=5.0,
        series_description="Thick", series_number=2,
    )  # fmt: skip
    write_series(
        tmp_path / "thin", np.zeros((20, 16, 16), np.int16), slice_step=0.6,
        series_description="Thin", series_number=3,
    )  # fmt: skip
    return tmp_path


def test_open_study_loads_the_stack_for_a_bone_model(two_series):
    progress = []
    opened = open_study(two_series, progress=lambda f, t: progress.append(f))
    assert opened.stack.identity.series_description == "Thin"
    assert opened.volume.shape == (20, 16, 16)
    assert opened.reason.startswith("chosen for a bone model")
    assert opened.note == "" and len(opened.scan.stacks) == 2
    assert progress[-1] == pytest.approx(1.0) and progress == sorted(progress)


def test_open_study_scan_only_series_and_errors(two_series, tmp_path):
    scanned = open_study(two_series, auto_load=False)
    assert scanned.volume is None and scanned.stack is None and len(scanned.scan.stacks) == 2
    thick = next(s for s in scanned.scan.stacks if s.identity.series_description == "Thick")
    chosen = open_study(two_series, series=thick.stack_id)
    assert chosen.stack.stack_id == thick.stack_id and chosen.volume.shape == (30, 16, 16)
    assert "requested" in chosen.reason
    with pytest.raises(SeriesNotFoundError, match="available"):
        open_study(two_series, series="9.9.9")
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        open_study(two_series, cancel=cancel)
    single = tmp_path / "single"
    write_series(single, np.zeros((1, 16, 16), np.int16))
    opened = open_study(single)
    assert opened.volume is None and "No 3D image stack" in opened.note
    with pytest.raises(NotAVolumeError, match="cannot be shown as a 3D volume"):
        load_stack_volume(opened.scan.stacks[0])


@pytest.mark.gui
def test_the_window_says_why_it_chose_the_stack(qtbot, main_window, two_series):
    window = main_window
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        window.open_path(two_series)
    settle(qtbot, window)
    assert window.session.stack.identity.series_description == "Thin"
    message = window.statusBar().currentMessage()
    assert message.startswith("Loaded 16 x 16 x 20") and "chosen for a bone model" in message
