"""Per-segment statistics for the segments panel and ``workstation segment --json``."""

from __future__ import annotations

from typing import Any

from workstation.core.segmentation import Segmentation
from workstation.core.volume import Volume


def segment_statistics(volume: Volume, segmentation: Segmentation) -> dict[str, dict[str, Any]]:
    """For each segment by name: voxels, mm^3, surface area, LPS box and image values inside."""
    from workstation.processing.editing.statistics import segment_statistics as measure

    return {segment.name: measure(segment.mask, volume).as_dict() for segment in segmentation}


def segment_summary(volume: Volume, segmentation: Segmentation) -> list[dict[str, Any]]:
    """Segments in list order with their properties and statistics (JSON-ready)."""
    statistics = segment_statistics(volume, segmentation)
    summary = []
    for number, segment in enumerate(segmentation):
        summary.append(
            {
                "index": number,
                "name": segment.name,
                "color": [round(c, 4) for c in segment.color],
                "category": segment.category.as_dict() if segment.category else None,
                "type": segment.type.as_dict() if segment.type else None,
                "statistics": statistics[segment.name],
            }
        )
    return summary
