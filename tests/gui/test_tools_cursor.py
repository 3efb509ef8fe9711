"""The cursor read-out follows the mouse and the slice under a still mouse."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.test_tools_support import AXIAL, SHAPE, editing_window, off_lines
from tests.gui.test_views_helpers import move, wheel
from workstation.core import geometry
from workstation.core.volume import Volume

pytestmark = pytest.mark.gui


def test_cursor_follows_mouse_and_scrolling(make_main_window, qtbot):
    array = np.broadcast_to(np.arange(SHAPE[0], dtype=np.int16)[:, None, None] * 10, SHAPE)
    window = editing_window(make_main_window, qtbot, Volume(array.copy(), AXIAL, units="HU"), ())
    axial = window.views.slice_view("axial")
    seen = []
    window.viewer.subscribe("cursor", seen.append)
    x, y = off_lines(axial)
    move(axial, x, y)
    cursor = window.viewer.cursor
    assert cursor.view == "axial"
    assert np.allclose(cursor.lps, axial.display_to_lps(x, y))
    index = axial.slice_index()
    assert cursor.value == 10 * index
    # the mouse stays; the wheel moves one slice up: new position and value under it
    wheel(axial, 1)
    assert axial.slice_index() == index + 1
    cursor = window.viewer.cursor
    assert cursor.value == 10 * (index + 1)
    step = (
        geometry.index_to_lps(AXIAL, [[index + 1, 0, 0]])[0]
        - geometry.index_to_lps(AXIAL, [[index, 0, 0]])[0]
    )
    assert np.allclose(np.array(cursor.lps) - np.array(seen[0].lps), step)
    # a new volume clears it (the window does)
    window.session.set_volume(Volume(array.copy(), AXIAL, units="HU"))
    assert window.viewer.cursor is None or window.viewer.cursor != cursor
