"""What a scan finds: frames, stacks (loadable units) and skipped files.

A *frame* is one 2D image: a single-frame file, or one frame of a multi-frame file.
A *stack* is a set of frames that can form one volume (same series, orientation, size,
acquisition...).  A DICOM series may split into several stacks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from workstation.core.provenance import SeriesIdentity

#: What a stack is chosen for: a bone model, or viewing the most likely diagnostic volume.
Purpose = Literal["model", "view"]


@dataclass(frozen=True)
class FrameRef:
    """Header facts about one 2D frame, enough to group, sort and decode it later.

    ``location`` is a path, or ``archive.zip::member`` for a file inside a zip
    (see ``workstation.io.sources``).  ``frame_index`` is the 0-based frame number in a
    multi-frame file, ``None`` for single-frame files.  Geometry is per frame: for
    Enhanced objects it comes from the Shared/Per-frame Functional Groups.
    """

    location: str
    frame_index: int | None
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    rows: int
    columns: int
    position: tuple[float, float, float] | None  # ImagePositionPatient, LPS mm
    orientation: tuple[float, float, float, float, float, float] | None  # IOP
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns) mm
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    instance_number: int | None = None
    acquisition_number: int | None = None
    echo_number: float | None = None
    temporal_position: int | None = None
    stack_id: str | None = None  # Enhanced FrameContentSequence StackID
    image_type: tuple[str, ...] = ()
    window: tuple[float, float] | None = None  # (center, width) of the first WC/WW pair
    photometric: str = "MONOCHROME2"
    samples_per_pixel: int = 1
    bits_allocated: int = 16
    bits_stored: int = 16
    pixel_representation: int = 0
    number_of_frames: int = 1
    slice_thickness: float | None = None
    gantry_tilt: float | None = None  # informational only, never used for geometry
    convolution_kernel: str = ""  # (0018,1210), values joined by "\\"; "" when absent
    #: Why this frame's geometry cannot be used for 3D (refused header values), or None.
    geometry_problem: str | None = None

    @property
    def normal(self) -> np.ndarray | None:
        """Unit plane normal cross(row cosine, column cosine), or None without IOP."""
        if self.orientation is None:
            return None
        row = np.asarray(self.orientation[:3], dtype=np.float64)
        col = np.asarray(self.orientation[3:], dtype=np.float64)
        normal = np.cross(row, col)
        length = np.linalg.norm(normal)
        return normal / length if length > 0 else None


@dataclass
class Stack:
    """Frames that can be loaded together as one volume, with what a user needs to choose.

    ``stack_id`` is unique within a scan: the series UID itself when the series is one
    stack, otherwise ``<series_uid>.<n>``.  ``identity`` holds the patient, study and series
    facts (``stack.identity.series_uid``...).  ``kind`` is one of "volume",
    "single-slice", "localizer", "secondary-capture", "multi-volume" or "unsupported".
    ``confidence`` (0..1) rates how likely this is the diagnostic 3D volume a user wants.
    """

    stack_id: str
    identity: SeriesIdentity
    frames: list[FrameRef]
    label: str = ""
    kind: str = "volume"
    confidence: float = 1.0
    warnings: list[str] = field(default_factory=list)

    @property
    def n_files(self) -> int:
        """Number of distinct files the frames come from."""
        return len({frame.location for frame in self.frames})

    @property
    def convolution_kernel(self) -> str:
        """The frames' most common Convolution Kernel ('' when none names one)."""
        kernels = Counter(frame.convolution_kernel for frame in self.frames)
        kernels.pop("", None)
        return kernels.most_common(1)[0][0] if kernels else ""

    @property
    def loadable_3d(self) -> bool:
        """True when the stack can become a 3D volume (at least 2 distinct positions)."""
        return self.kind in ("volume", "multi-volume") and len(self.frames) >= 2


@dataclass(frozen=True)
class SkippedFile:
    """A file the scan passed over, and why, in words a user understands."""

    path: str
    reason: str


@dataclass(frozen=True)
class DerivedObject:
    """A result stored as DICOM beside its images: a SEG ("seg") or Encapsulated STL ("stl").

    ``referenced_series_uids`` are the source series it was made on; ``label`` is its
    series description, content label or document title, as a browser lists it (a SEG
    described only as "Segmentation": its segment labels).
    """

    kind: str
    location: str
    sop_instance_uid: str
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    referenced_series_uids: tuple[str, ...]
    label: str
    identity: SeriesIdentity


@dataclass
class ScanResult:
    """Everything found under a path: loadable stacks, sorted best first, and skipped files.

    ``derived`` lists the DICOM SEG and Encapsulated STL objects found (not images).
    """

    root: str
    stacks: list[Stack] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    n_files_examined: int = 0
    derived: list[DerivedObject] = field(default_factory=list)

    def find(self, uid: str) -> Stack:
        """The stack with this stack id, or the best stack of the series with this UID.

        Raises KeyError when neither matches.
        """
        for stack in self.stacks:
            if stack.stack_id == uid:
                return stack
        matches = [stack for stack in self.stacks if stack.identity.series_uid == uid]
        if not matches:
            raise KeyError(uid)
        return max(matches, key=lambda stack: stack.confidence)

    def best_volume(self, purpose: Purpose = "model") -> Stack | None:
        """The loadable 3D stack best for ``purpose``, or None.

        "model": the stack fit for a bone model (CT, thin slices, a sharp kernel; see
        ``stack_fitness``).  "view": the stack most likely to be the diagnostic volume.
        """
        candidates = [stack for stack in self.stacks if stack.loadable_3d]
        if not candidates:
            return None
        if purpose == "model":
            # Imported here: stack_fitness reads stack geometry, which builds on this module.
            from workstation.io.dicom.stack_fitness import model_rank

            return max(candidates, key=model_rank)
        return max(candidates, key=lambda stack: (stack.confidence, len(stack.frames)))


def format_dicom_date(value: str) -> str:
    """A DICOM DA value 'YYYYMMDD' as 'YYYY-MM-DD'; anything else unchanged."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value
