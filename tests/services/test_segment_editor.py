"""The segment editor: replay, undo atoms that hold only what changed, strokes, errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.spheres import ball_volume, grid_affine
from workstation.core.geometry import index_to_lps
from workstation.core.operations import OperationError
from workstation.services import segment_editor as editor_module
from workstation.services.segment_editor import SegmentEditor

SHAPE = (30, 40, 44)


def _volume(orientation: str = "axial", tilt: float = 0.0):
    volume, _ = ball_volume(grid_affine(orientation, SHAPE, tilt_degrees=tilt), SHAPE)
    return volume


def _masks(editor: SegmentEditor) -> dict[str, np.ndarray]:
    return {segment.name: segment.mask.copy() for segment in editor.segmentation}


RECORDS = [
    {"op": "add_segment", "name": "Bone", "color": [0.9, 0.8, 0.6]},
    {"op": "threshold", "segment": "Bone", "lower": 0},
    {"op": "add_segment", "name": "Copy"},
    {"op": "logical", "segment": "Copy", "other": "Bone", "operation": "union"},
    {"op": "morphology", "segment": "Copy", "operation": "erode", "radius_mm": 1.5},
    {"op": "islands", "segment": "Bone", "mode": "keep_largest"},
    {"op": "rename_segment", "segment": "Copy", "name": "Core"},
]


@pytest.mark.parametrize(
    ("orientation", "tilt"), [("axial", 0.0), ("double-oblique", 0.0), ("axial", 15.0)]
)
def test_replay_gives_identical_voxels(orientation, tilt):
    volume = _volume(orientation, tilt)
    first = SegmentEditor(volume)
    first.apply_all(RECORDS)
    second = SegmentEditor(volume)
    second.apply_all([dict(r) for r in first.operations])
    assert first.segmentation.names == ["Bone", "Core"]
    for name, mask in _masks(first).items():
        assert np.array_equal(mask, second.segmentation.by_name(name).mask)
    bone = first.segmentation.by_name("Bone").mask
    assert np.array_equal(bone & ~(volume.array >= 0), np.zeros_like(bone))
    assert 0 < bone.sum() < (volume.array >= 0).sum()  # the largest of the two balls


def test_threshold_range_is_kept_until_the_voxels_change_and_back_on_undo():
    editor = SegmentEditor(_volume())
    editor.apply_all(RECORDS[:2])
    bone = editor.segmentation.by_name("Bone")
    assert bone.threshold_range == (0.0, None)
    editor.apply({"op": "morphology", "segment": "Bone", "operation": "dilate", "radius_mm": 1})
    assert editor.segmentation.by_name("Bone").threshold_range is None
    editor.undo()
    assert editor.segmentation.by_name("Bone").threshold_range == (0.0, None)


def test_undo_and_redo_restore_every_step_and_the_operation_list():
    editor = SegmentEditor(_volume())
    states = [_masks(editor)]
    for record in RECORDS:
        editor.apply(record)
        states.append(_masks(editor))
    assert len(editor.operations) == len(RECORDS)
    for expected in reversed(states[:-1]):
        assert editor.undo()
        current = _masks(editor)
        assert set(current) == set(expected)
        for name in expected:
            assert np.array_equal(current[name], expected[name])
    assert not editor.undo() and editor.operations == []
    for expected in states[1:]:
        assert editor.redo()
        current = _masks(editor)
        assert all(np.array_equal(current[n], expected[n]) for n in expected)
    assert len(editor.operations) == len(RECORDS)
    editor.undo()
    editor.apply({"op": "fill_holes", "segment": "Bone"})
    assert not editor.can_redo and editor.operations[-1]["op"] == "fill_holes"


def test_history_holds_only_what_changed():
    editor = SegmentEditor(_volume())
    editor.apply_all(RECORDS[:2])
    before = editor.history_bytes()
    editor.apply(
        {
            "op": "paint",
            "segment": "Bone",
            "points_lps": [
                index_to_lps(editor.segmentation.affine, np.array([[15, 20, 22]]))[0].tolist()
            ],
            "radius_mm": 2.0,
            "erase": True,
        }
    )
    dab_bytes = editor.history_bytes() - before
    # a 2 mm ball is at most 5x6x6 voxels: its packed flips take a few dozen bytes
    assert 0 < dab_bytes < 64


def test_removed_segment_comes_back_exactly():
    editor = SegmentEditor(_volume("double-oblique"))
    editor.apply_all(RECORDS[:4])
    saved = _masks(editor)
    colour = editor.segmentation.by_name("Bone").color
    editor.apply({"op": "remove_segment", "segment": "Bone"})
    assert editor.segmentation.names == ["Copy"]
    editor.undo()
    assert editor.segmentation.names == ["Bone", "Copy"]
    assert np.array_equal(editor.segmentation.by_name("Bone").mask, saved["Bone"])
    assert editor.segmentation.by_name("Bone").color == colour


def test_history_depth_is_bounded(monkeypatch):
    monkeypatch.setattr(editor_module, "HISTORY_MAX_STEPS", 3)
    editor = SegmentEditor(_volume())
    editor.apply_all(RECORDS)
    assert len(editor._undo) == 3
    assert len(editor.operations) == len(RECORDS)  # the recorded list is never trimmed


def test_errors_name_the_operation_and_change_nothing():
    editor = SegmentEditor(_volume())
    editor.apply_all(RECORDS[:2])
    saved = _masks(editor)
    cases = [
        ({"op": "threshold", "segment": "Nope", "lower": 1}, "unknown segment 'Nope'"),
        ({"op": "add_segment", "name": "Bone"}, "exists already"),
        (
            {"op": "islands", "segment": "Bone", "mode": "keep_seed", "seed_lps": [1e4, 0, 0]},
            "outside the volume",
        ),
        ({"op": "move_segment", "segment": "Bone", "index": 5}, "past the last segment"),
    ]
    for record, words in cases:
        with pytest.raises(OperationError) as caught:
            editor.apply(record, index=7)
        assert str(caught.value).startswith(f"operation 7 ({record['op']})")
        assert words in str(caught.value)
    assert all(np.array_equal(_masks(editor)[n], saved[n]) for n in saved)
    assert len(editor.operations) == 2


def test_locked_segment_refuses_edits():
    editor = SegmentEditor(_volume())
    editor.apply_all(RECORDS[:2])
    editor.apply({"op": "set_segment", "segment": "Bone", "locked": True})
    with pytest.raises(OperationError, match="locked"):
        editor.apply({"op": "fill_holes", "segment": "Bone"})


def test_a_stale_computation_is_refused():
    editor = SegmentEditor(_volume())
    editor.apply_all(RECORDS[:2])
    pending = editor.compute({"op": "fill_holes", "segment": "Bone"})
    editor.apply({"op": "add_segment", "name": "Other"})
    with pytest.raises(RuntimeError, match="changed since"):
        editor.commit(pending)


def test_events_say_what_changed():
    editor = SegmentEditor(_volume())
    seen: list[tuple[str, object]] = []
    for event in ("segments", "voxels", "history", "operations"):
        editor.subscribe(event, lambda payload, event=event: seen.append((event, payload)))
    editor.apply(RECORDS[0])
    assert [name for name, _ in seen] == ["segments", "history", "operations"]
    seen.clear()
    editor.apply(RECORDS[1])
    names = [name for name, _ in seen]
    assert names == ["voxels", "history", "operations"]
    segment_id, region = seen[0][1]
    assert segment_id == editor.segmentation.by_name("Bone").segment_id
    assert all(isinstance(part, slice) for part in region)


def test_split_islands_makes_one_segment_per_island_and_undoes(monkeypatch):
    editor = SegmentEditor(_volume("double-oblique"))
    editor.apply_all(RECORDS[:2])
    whole = editor.segmentation.by_name("Bone").mask.copy()
    editor.apply({"op": "islands", "segment": "Bone", "mode": "split"})
    assert editor.segmentation.names == ["Bone", "Bone 2"]
    first, second = (segment.mask for segment in editor.segmentation)
    assert not np.any(first & second) and np.array_equal(first | second, whole)
    assert first.sum() > second.sum()
    editor.undo()
    assert editor.segmentation.names == ["Bone"]
    assert np.array_equal(editor.segmentation.by_name("Bone").mask, whole)
    from workstation.services import segment_ops

    monkeypatch.setattr(segment_ops, "MAX_SPLIT_SEGMENTS", 0)
    with pytest.raises(OperationError, match="remove the small ones first"):
        editor.apply({"op": "islands", "segment": "Bone", "mode": "split"})
