"""The source series a result is derived from, as DICOM writers need it.

A DICOM SEG or Encapsulated STL belongs to the study of its source images, shares
their Frame of Reference and references their instances.  ``DicomSourceContext`` holds
the header of one source file (patient and study modules, no pixels), every source frame
(SOP Instance UID, SOP Class, position, orientation, spacing) and the volume's grid, so a
writer can place each output frame on a source frame even when the volume was resampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workstation.core.errors import ExportError
from workstation.core.volume import Volume
from workstation.io.dicom.headers import read_header
from workstation.io.dicom.model import FrameRef, Stack
from workstation.io.dicom.slice_geometry import analyse_frames

if TYPE_CHECKING:  # pydicom is imported when a header is read: not for an STL export
    from pydicom.dataset import Dataset


@dataclass(frozen=True)
class DicomSourceContext:
    """One source series: a header to copy patient/study from, its frames, the volume grid.

    ``frames`` are the stack's frames sorted along the slice normal, as the loader sorts
    them (one per volume slice for an evenly spaced stack; a resampled stack has fewer or
    more slices than frames); ``shape``/``affine`` are the loaded volume's grid.
    """

    header: Dataset
    frames: tuple[FrameRef, ...]
    shape: tuple[int, int, int]
    affine: np.ndarray

    @property
    def study_uid(self) -> str:
        """The Study Instance UID the results belong to."""
        return str(self.header.get("StudyInstanceUID", ""))

    @property
    def series_uid(self) -> str:
        """The source Series Instance UID."""
        return str(self.header.get("SeriesInstanceUID", ""))

    @property
    def frame_of_reference_uid(self) -> str:
        """The Frame of Reference UID results must share."""
        return str(self.header.get("FrameOfReferenceUID", ""))

    @property
    def sop_instance_uids(self) -> tuple[str, ...]:
        """Distinct source SOP Instance UIDs, in frame order."""
        return tuple(dict.fromkeys(frame.sop_instance_uid for frame in self.frames))


def source_context(stack: Stack | None, volume: Volume | None) -> DicomSourceContext:
    """The context of ``volume`` loaded from ``stack``; ExportError when there is none.

    DICOM results need DICOM sources: a volume opened from NRRD or NIfTI has no study to
    put them in, and the message says so.
    """
    if stack is None or volume is None or not stack.frames:
        raise ExportError(
            "A DICOM result needs the DICOM series it was made from; this volume was not "
            "loaded from DICOM images (write .seg.nrrd, .nii.gz or .stl instead)."
        )
    header = read_header(stack.frames[0].location)
    if not header.get("StudyInstanceUID"):
        raise ExportError("The source images have no Study Instance UID to put a result in.")
    return DicomSourceContext(
        header=header,
        frames=tuple(stack.frames[int(i)] for i in analyse_frames(stack.frames).order),
        shape=volume.shape,
        affine=np.array(volume.affine, dtype=np.float64),
    )
