"""Splitting islands against a brute-force flood fill with face neighbours."""

from __future__ import annotations

from collections import deque

import numpy as np

from workstation.processing.editing.split import split_islands


def brute_islands(mask: np.ndarray) -> list[np.ndarray]:
    """6-connected pieces by breadth-first search, largest first, then by first flat index."""
    seen = np.zeros(mask.shape, dtype=bool)
    pieces = []
    for flat in np.flatnonzero(mask):
        start = np.unravel_index(flat, mask.shape)
        if seen[start]:
            continue
        piece = np.zeros(mask.shape, dtype=bool)
        queue = deque([start])
        seen[start] = True
        while queue:
            voxel = queue.popleft()
            piece[voxel] = True
            for axis in range(3):
                for step in (-1, 1):
                    near = list(voxel)
                    near[axis] += step
                    near = tuple(near)
                    if 0 <= near[axis] < mask.shape[axis] and mask[near] and not seen[near]:
                        seen[near] = True
                        queue.append(near)
        pieces.append((-int(piece.sum()), int(flat), piece))
    return [piece for _, _, piece in sorted(pieces, key=lambda item: item[:2])]


def test_random_mask_splits_like_a_flood_fill():
    rng = np.random.default_rng(4)
    mask = rng.random((7, 9, 10)) < 0.3
    islands = split_islands(mask)
    expected = brute_islands(mask)
    assert len(islands) == len(expected) > 10
    for got, want in zip(islands, expected, strict=True):
        assert got.shape == mask.shape and got.dtype == bool
        np.testing.assert_array_equal(got, want)


def test_voxels_touching_at_an_edge_are_separate_islands():
    mask = np.zeros((4, 5, 6), dtype=bool)
    mask[1, 1, 1] = mask[1, 2, 2] = True
    mask[2, 3, 3:5] = True
    islands = split_islands(mask)
    assert [int(i.sum()) for i in islands] == [2, 1, 1]
    assert islands[1][1, 1, 1] and islands[2][1, 2, 2]  # equal sizes: first voxel first


def test_small_islands_can_be_left_out_and_empty_gives_none():
    mask = np.zeros((4, 5, 6), dtype=bool)
    assert split_islands(mask) == []
    mask[0, 0, 0] = True
    mask[2:4, 2:4, 2:4] = True
    islands = split_islands(mask, min_voxels=2)
    assert len(islands) == 1 and int(islands[0].sum()) == 8
