"""A small segmentation both the writer and the Slicer interoperability tests use."""

from __future__ import annotations

import numpy as np

from workstation.core.coded_concepts import COMMON_TERMS
from workstation.core.segmentation import Segmentation

#: (slices, rows, columns): all different, so any swapped axis shows.
SHAPE = (7, 9, 11)

BONE_CATEGORY, BONE_TYPE = COMMON_TERMS["Bone"]


def box(*ranges: slice) -> np.ndarray:
    """A boolean mask on SHAPE holding the box ``ranges``."""
    mask = np.zeros(SHAPE, dtype=bool)
    mask[ranges] = True
    return mask


def four_segments(affine: np.ndarray) -> Segmentation:
    """Bone and Vessel apart (layer 0), Tumour over Bone (layer 1), Empty without voxels."""
    segmentation = Segmentation(SHAPE, affine, "1.2.3")
    segmentation.add(
        "Bone",
        (0.9, 0.85, 0.7),
        box(slice(1, 4), slice(2, 6), slice(3, 8)),
        category=BONE_CATEGORY,
        type=BONE_TYPE,
    )
    segmentation.add("Vessel", (0.8, 0.1, 0.1), box(slice(5, 7), slice(0, 2), slice(0, 11)))
    segmentation.add("Tumour", (0.2, 0.6, 0.3), box(slice(3, 5), slice(4, 8), slice(6, 10)))
    segmentation.add("Empty", (0.5, 0.5, 0.5))
    return segmentation
