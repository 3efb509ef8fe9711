"""Segmentation.snapshot: a copy background work can read while edits go on."""

from __future__ import annotations

import numpy as np

from workstation.core.segmentation import Segmentation


def test_snapshot_has_its_own_masks_and_the_same_everything_else():
    affine = np.diag([2.0, 0.5, 0.7, 1.0])
    source = Segmentation((3, 4, 5), affine, "1.2.3")
    mask = np.zeros((3, 4, 5), bool)
    mask[1, 2, 3] = True
    source.add("Bone", (0.9, 0.8, 0.7), mask, opacity=0.5, threshold_range=(300.0, None))
    source.add("Skin")
    copied = source.snapshot()
    assert copied.names == ["Bone", "Skin"]
    assert [s.properties() for s in copied] == [s.properties() for s in source]
    assert [s.segment_id for s in copied] == [s.segment_id for s in source]
    assert copied.same_grid(source) and copied.frame_of_reference_uid == "1.2.3"
    assert copied.segments[0].threshold_range == (300.0, None)
    source.segments[0].mask[0, 0, 0] = True  # an edit after the snapshot
    assert not copied.segments[0].mask[0, 0, 0] and copied.segments[0].voxel_count == 1
    copied.affine[0, 0] = 9.0
    assert source.affine[0, 0] == 2.0
