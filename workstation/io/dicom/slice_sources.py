"""What a loaded volume remembers of its stack: identity, file count and slice sources."""

from __future__ import annotations

from collections.abc import Sequence

from workstation.core.provenance import SliceSource, SourceFrame
from workstation.core.volume import SourceInfo
from workstation.io.dicom.model import FrameRef, Stack
from workstation.io.dicom.slice_geometry import ResamplePlan


def source_frame(frame: FrameRef) -> SourceFrame:
    """The SOP Instance UID and (multi-frame objects only) 1-based frame number of a frame."""
    number = None if frame.frame_index is None else frame.frame_index + 1
    return SourceFrame(frame.sop_instance_uid, number)


def slice_sources(
    ordered: Sequence[FrameRef], plan: ResamplePlan | None
) -> tuple[SliceSource, ...]:
    """One SliceSource per output slice: the sorted frames, or the resampling plan's pairs."""
    frames = [source_frame(frame) for frame in ordered]
    if plan is None:
        return tuple(SliceSource((frame,)) for frame in frames)
    result = []
    for k in range(plan.lower.size):
        pairs = plan.sources(k)
        result.append(
            SliceSource(
                tuple(frames[index] for index, _ in pairs),
                tuple(weight for _, weight in pairs),
            )
        )
    return tuple(result)


def source_info(stack: Stack, ordered: Sequence[FrameRef], plan: ResamplePlan | None) -> SourceInfo:
    """SourceInfo of a stack loaded from its sorted frames and resampled by ``plan``."""
    return SourceInfo(stack.identity, stack.n_files, slice_sources(ordered, plan))
