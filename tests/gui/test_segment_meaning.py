"""The coded meaning of a segment: chosen in the panel, recorded as an edit, set by presets."""

from __future__ import annotations

import pytest

from tests.gui.test_tools_support import AXIAL, editing_window, volume_on, wait_edits
from workstation.core.coded_concepts import COMMON_TERMS

pytestmark = pytest.mark.gui


def test_choosing_a_meaning_records_it_and_undo_takes_it_back(make_main_window, qtbot):
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL), segments=("Jaw",))
    from workstation.gui.segment_meaning import MeaningCombo

    (meaning,) = window.findChildren(MeaningCombo)
    assert meaning.isEnabled() and meaning.currentIndex() == 0
    index = meaning.findData("Mandible")
    meaning.setCurrentIndex(index)
    meaning.activated.emit(index)
    wait_edits(qtbot, window)
    segment = window.session.editor.segmentation.by_name("Jaw")
    category, kind = COMMON_TERMS["Mandible"]
    assert segment.category == category and segment.type == kind
    assert window.session.editor.operations[-1]["type"]["value"] == "91609006"
    window.session.editor.undo()
    assert window.session.editor.segmentation.by_name("Jaw").type is None
    qtbot.waitUntil(lambda: meaning.currentIndex() == 0)


def test_a_bone_preset_segment_is_coded_tissue_bone():
    from tests.processing.spheres import ball_volume, grid_affine
    from workstation.services.segmenting import replay, shortcut_operations

    volume, _ = ball_volume(grid_affine("axial", (20, 24, 24)), (20, 24, 24))
    editor = replay(volume, [], shortcut_operations(volume, preset="bone"))
    (segment,) = editor.segmentation.segments
    assert (segment.category.meaning, segment.type.meaning) == ("Tissue", "Bone")
    plain = replay(volume, [], shortcut_operations(volume, lower=0.0))
    assert plain.segmentation.segments[0].type is None
