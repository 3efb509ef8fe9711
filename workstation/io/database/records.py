"""What the local DICOM database keeps about one instance, and what its operations report."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InstanceFields:
    """The header attributes the index keeps for one DICOM instance (Part-10 file).

    Text values are as stored in the file (stripped); ``patient_name`` keeps DICOM's
    ``^`` separators.  Numbers that are absent or malformed are None.
    """

    sop_instance_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    transfer_syntax_uid: str
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    study_id: str = ""
    series_number: str = ""
    series_description: str = ""
    modality: str = ""
    body_part: str = ""
    frame_of_reference_uid: str = ""
    instance_number: int | None = None
    rows: int | None = None
    columns: int | None = None
    number_of_frames: int | None = None


@dataclass(frozen=True)
class StagedFile:
    """One input file read for import: its header fields, hash and where its bytes are.

    ``staged`` is a temporary copy inside the store waiting to be renamed into place
    ("" when the blob already existed or the file is indexed in place); ``path`` is the
    final file the index will point at (a blob, or the original for in-place files).
    """

    location: str
    fields: InstanceFields
    sha256: str
    size: int
    path: str
    in_place: bool
    staged: str = ""


@dataclass(frozen=True)
class SkippedInput:
    """An input file that was not imported, and why."""

    location: str
    reason: str


@dataclass
class ImportReport:
    """What an import did: new instances, ones already there, in-place ones, skipped files."""

    added: int = 0
    duplicates: int = 0
    in_place: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    study_uids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    bytes_stored: int = 0

    def as_json(self) -> dict[str, object]:
        """A plain dict for ``--json`` output."""
        return {
            "added": self.added,
            "duplicates": self.duplicates,
            "in_place": self.in_place,
            "skipped": [{"path": path, "reason": reason} for path, reason in self.skipped],
            "study_uids": list(self.study_uids),
            "seconds": round(self.seconds, 3),
            "bytes_stored": self.bytes_stored,
        }


@dataclass
class DeleteReport:
    """What deleting a study removed: index rows, blobs no other row uses, freed bytes."""

    study_uid: str
    series: int = 0
    instances: int = 0
    blobs_removed: int = 0
    bytes_freed: int = 0
    #: in-place files whose rows went; the files themselves are the user's and stay
    in_place_kept: int = 0

    def as_json(self) -> dict[str, object]:
        """A plain dict for ``--json`` output."""
        return {
            "study_uid": self.study_uid,
            "series": self.series,
            "instances": self.instances,
            "blobs_removed": self.blobs_removed,
            "bytes_freed": self.bytes_freed,
            "in_place_kept": self.in_place_kept,
        }


@dataclass(frozen=True)
class FileProblem:
    """An indexed file that is missing or no longer has its recorded hash."""

    sop_instance_uid: str
    study_uid: str
    path: str
    problem: str  # "missing" | "changed" | "unreadable: ..."


@dataclass
class VerifyReport:
    """The result of re-hashing every indexed file."""

    checked: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    #: blob files that no index row references (left by an interrupted import)
    unindexed: list[str] = field(default_factory=list)
    index_problem: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every indexed file is present and unchanged and the index is sound."""
        return not self.problems and not self.index_problem

    @property
    def missing(self) -> list[FileProblem]:
        """The indexed files that are gone."""
        return [item for item in self.problems if item.problem == "missing"]

    @property
    def changed(self) -> list[FileProblem]:
        """The indexed files whose content no longer has the recorded SHA-256."""
        return [item for item in self.problems if item.problem != "missing"]

    def as_json(self) -> dict[str, object]:
        """A plain dict for ``--json`` output."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "problems": [
                {
                    "sop_instance_uid": item.sop_instance_uid,
                    "study_uid": item.study_uid,
                    "path": item.path,
                    "problem": item.problem,
                }
                for item in self.problems
            ],
            "unindexed": list(self.unindexed),
            "index_problem": self.index_problem,
            "seconds": round(self.seconds, 3),
        }
