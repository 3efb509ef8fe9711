"""Synthetic CT cases for the case engine: two bone cubes of known size and place."""

from __future__ import annotations

from dataclasses import replace
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from tests.support.dicom_factory import write_series
from workstation.core.case_plan import Plan

SHAPE = (30, 40, 48)  # slices, rows, columns; 1 mm voxels, origin at LPS (0, 0, 0)
#: the cubes as (slice, row, column) index ranges (inclusive start, exclusive end)
LEFT = ((8, 22), (10, 22), (8, 20))
RIGHT = ((8, 22), (10, 22), (28, 40))
BONE_HU, TISSUE_HU, AIR_HU = 1000, 40, -1000
#: the bone preset's lower bound and where the grey-value surface crosses between a
#: bone voxel's centre and the tissue voxel beside it
BONE_LOWER = 226
CROSSING = (BONE_HU - BONE_LOWER) / (BONE_HU - TISSUE_HU)


def phantom(right: bool = True) -> np.ndarray:
    """Air, a tissue block (the body) and one or two bone cubes (int16 HU)."""
    array = np.full(SHAPE, AIR_HU, dtype=np.int16)
    array[2:28, 4:36, 3:45] = TISSUE_HU
    for (s0, s1), (r0, r1), (c0, c1) in (LEFT, RIGHT) if right else (LEFT,):
        array[s0:s1, r0:r1, c0:c1] = BONE_HU
    return array


def write_phantom(folder: Path, right: bool = True, **kwargs) -> Path:
    """The phantom as a CT series in ``folder``; returns the folder."""
    write_series(folder, phantom(right), series_description="Bone cubes", **kwargs)
    return folder


def cube_voxels(cube) -> int:
    """Voxels (= mm^3) of a cube's index ranges."""
    return int(np.prod([end - start for start, end in cube]))


def cube_bounds(cube, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """LPS (x, y, z) bounds of a cube's voxel centres widened by ``margin`` mm."""
    (s0, s1), (r0, r1), (c0, c1) = cube
    low = np.array([c0, r0, s0], dtype=float) - margin
    high = np.array([c1 - 1, r1 - 1, s1 - 1], dtype=float) + margin
    return low, high


def cube_centre(cube) -> list[float]:
    """The LPS centre of a cube."""
    (s0, s1), (r0, r1), (c0, c1) = cube
    return [(c0 + c1 - 1) / 2, (r0 + r1 - 1) / 2, (s0 + s1 - 1) / 2]


def available(plan: Plan) -> Plan:
    """``plan`` without the dose check while the dose service is not installed."""
    if find_spec("workstation.services.dose") is None:
        return replace(plan, dose=False)
    return plan
