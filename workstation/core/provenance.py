"""Where images come from: patient, study and series identity, and each slice's source frames."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SeriesIdentity:
    """Patient, study and series facts of an image, as its DICOM header states them.

    Declared once and held by file headers, stacks and volumes alike.  ``patient_name``
    reads "Family Given" (the ``^`` separators become spaces); ``study_date`` is the raw
    DICOM DA value "YYYYMMDD"; ``modality`` is upper case.
    """

    patient_id: str = ""
    patient_name: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    series_uid: str = ""
    series_number: str = ""
    series_description: str = ""
    modality: str = ""
    frame_of_reference_uid: str = ""
    #: Patient Identity Removed (0012,0062) is YES: the images were de-identified.
    identity_removed: bool = False


@dataclass(frozen=True)
class SourceFrame:
    """One source image: its SOP Instance UID and, in a multi-frame object, its frame number.

    ``frame_number`` counts from 1 as DICOM's Referenced Frame Number does; it is None for
    a single-frame object.
    """

    sop_instance_uid: str
    frame_number: int | None = None


@dataclass(frozen=True)
class SliceSource:
    """The source frame(s) one volume slice was made of, with their interpolation weights.

    A real slice has one frame with weight 1.  A slice interpolated while resampling an
    unevenly spaced stack has its two neighbouring source frames, in stack order, with
    weights that add up to 1.
    """

    frames: tuple[SourceFrame, ...]
    weights: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if not self.frames or len(self.frames) != len(self.weights):
            raise ValueError(
                f"a slice source needs one weight per frame, got {len(self.frames)} frames "
                f"and {len(self.weights)} weights"
            )

    @property
    def interpolated(self) -> bool:
        """True when the slice was interpolated between two source frames."""
        return len(self.frames) > 1

    @property
    def sop_instance_uids(self) -> tuple[str, ...]:
        """SOP Instance UIDs of the source frames (one, or two when interpolated)."""
        return tuple(frame.sop_instance_uid for frame in self.frames)

    @property
    def nearest(self) -> SourceFrame:
        """The source frame with the largest weight (the first one on a tie)."""
        return self.frames[max(range(len(self.weights)), key=lambda i: (self.weights[i], -i))]
