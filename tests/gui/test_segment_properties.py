"""The selected segment's properties: meaning and lock are edits, opacity is display."""

from __future__ import annotations

import pytest

from tests.gui.test_tools_support import AXIAL, editing_window, volume_on, wait_edits
from workstation.core.coded_concepts import COMMON_TERMS
from workstation.gui.segment_properties import SegmentProperties

pytestmark = pytest.mark.gui


def _properties(window) -> SegmentProperties:
    (properties,) = window.findChildren(SegmentProperties)
    return properties


def test_choosing_a_meaning_records_it_and_undo_takes_it_back(make_main_window, qtbot):
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL), segments=("Jaw",))
    combo = _properties(window).meaning_combo
    assert combo.isEnabled() and combo.currentIndex() == 0
    index = combo.findData("Mandible")
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    wait_edits(qtbot, window)
    editor = window.session.editor
    segment = editor.segmentation.by_name("Jaw")
    category, kind = COMMON_TERMS["Mandible"]
    assert segment.category == category and segment.type == kind
    assert editor.operations[-1]["type"]["value"] == "91609006"
    editor.undo()
    assert editor.segmentation.by_name("Jaw").type is None
    qtbot.waitUntil(lambda: combo.currentIndex() == 0)


def test_lock_refuses_edits_and_opacity_is_display_only(make_main_window, qtbot):
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL), segments=("Jaw",))
    properties = _properties(window)
    editor = window.session.editor
    properties.opacity_spin.setValue(40)
    assert editor.segmentation.by_name("Jaw").opacity == pytest.approx(0.4)
    assert [r["op"] for r in editor.operations] == ["add_segment"]
    properties.locked_check.click()
    wait_edits(qtbot, window)
    assert editor.segmentation.by_name("Jaw").locked
    failures = []
    window.edits.edit_failed.connect(failures.append)
    window.edits.submit({"op": "threshold", "segment": "Jaw", "lower": 0})
    qtbot.waitUntil(lambda: bool(failures))
    assert "locked" in failures[0].message
    assert not editor.segmentation.by_name("Jaw").mask.any()


def test_a_bone_preset_segment_is_coded_tissue_bone():
    from tests.processing.spheres import ball_volume, grid_affine
    from workstation.services.segmenting import replay, shortcut_operations

    volume, _ = ball_volume(grid_affine("axial", (20, 24, 24)), (20, 24, 24))
    editor = replay(volume, [], shortcut_operations(volume, preset="bone"))
    (segment,) = editor.segmentation.segments
    assert (segment.category.meaning, segment.type.meaning) == ("Tissue", "Bone")
    plain = replay(volume, [], shortcut_operations(volume, lower=0.0))
    assert plain.segmentation.segments[0].type is None
