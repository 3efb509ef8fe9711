"""Segments packed into uint8 label volumes, as the segmentation file writers store them.

Segments go into layers in which no two overlap (``Segmentation.layers``); within a
layer they get labels 1, 2, … in list order, 0 being background.  A layer of more than
255 segments is split, so every layer fits uint8.  A segmentation without segments
gives one all-background layer, so its grid is still written.
``start_label_write`` is the first step every segmentation writer shares.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.core.segmentation import Segment, Segmentation
from workstation.io.atomic_write import check_writable_path

#: Highest label of a uint8 layer.
MAX_LABEL = 255


@dataclass(frozen=True)
class Placement:
    """Where one segment is stored: its layer and its label value in that layer."""

    segment: Segment
    layer: int
    label: int


@dataclass(frozen=True)
class LabelLayers:
    """``arrays`` shaped (layer, slice, row, col), uint8; ``placements`` in segment order."""

    arrays: np.ndarray
    placements: list[Placement]

    @property
    def count(self) -> int:
        """Number of layers."""
        return int(self.arrays.shape[0])


def _uint8_layers(segmentation: Segmentation) -> list[list[Segment]]:
    layers: list[list[Segment]] = []
    for layer in segmentation.layers():
        layers.extend(layer[start : start + MAX_LABEL] for start in range(0, len(layer), MAX_LABEL))
    return layers


def label_layers(segmentation: Segmentation, cancel: CancelToken | None = None) -> LabelLayers:
    """Pack ``segmentation``'s segments into uint8 label layers (checks ``cancel`` per segment)."""
    token = cancel or CancelToken()
    layers = _uint8_layers(segmentation)
    arrays = np.zeros((max(len(layers), 1), *segmentation.shape), dtype=np.uint8)
    where: dict[int, tuple[int, int]] = {}
    for layer_index, layer in enumerate(layers):
        for label, segment in enumerate(layer, start=1):
            token.raise_if_cancelled()
            mask = np.asarray(segment.mask, dtype=bool)
            if mask.shape != segmentation.shape:
                raise ValueError(
                    f"segment {segment.name!r} has shape {mask.shape}, "
                    f"the grid is {segmentation.shape}"
                )
            arrays[layer_index][mask] = label
            where[id(segment)] = (layer_index, label)
    placements = [Placement(segment, *where[id(segment)]) for segment in segmentation.segments]
    return LabelLayers(arrays, placements)


@dataclass(frozen=True)
class LabelWrite:
    """A segmentation file about to be written: its checked path and its label layers."""

    target: Path
    layers: LabelLayers
    #: the progress of writing the voxels (the last nine tenths), with ``text``
    progress: ProgressCallback
    cancel: CancelToken
    text: str


def start_label_write(
    segmentation: Segmentation,
    path: str | os.PathLike[str],
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> LabelWrite:
    """Check ``path``, report "Writing <name>" and pack the label layers (honours ``cancel``)."""
    target = check_writable_path(path)
    token = cancel or CancelToken()
    text = f"Writing {target.name}"
    progress(0.0, text)
    layers = label_layers(segmentation, token)
    return LabelWrite(target, layers, sub_progress(progress, 0.1, 1.0), token, text)
