"""Errors a user can act on; the CLI maps them to exit codes, the GUI shows them."""

from __future__ import annotations


class WorkstationError(Exception):
    """Base of every error the workstation reports to a user as a message."""

    exit_code = 1

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        """Keep message and details when the error crosses from a worker process."""
        return (type(self), (self.message, self.details))


class InputPathError(WorkstationError):
    """A path given by the user does not exist or cannot be read."""

    exit_code = 2


class DicomReadError(WorkstationError):
    """DICOM data could not be found, parsed or decoded."""

    exit_code = 3


class NotAVolumeError(WorkstationError):
    """The data cannot form a 3D volume (single slice, duplicate positions, ...)."""

    exit_code = 4


class SeriesNotFoundError(WorkstationError):
    """A series UID given by the user is not in the scanned data."""

    exit_code = 5


class SegmentationError(WorkstationError):
    """A segmentation step produced nothing usable (e.g. an empty label map)."""

    exit_code = 6


class MeshError(WorkstationError):
    """A surface could not be built or repaired."""

    exit_code = 7


class ExportError(WorkstationError):
    """An output file could not be written."""

    exit_code = 8


class Cancelled(WorkstationError):
    """The user cancelled a long operation; nothing was changed."""

    exit_code = 130

    def __init__(self, message: str = "Cancelled by the user.", details: str = "") -> None:
        super().__init__(message, details)


class MemoryLimitError(WorkstationError):
    """An operation would need more memory than the configured limit allows."""

    exit_code = 9


class ProjectError(WorkstationError):
    """A project file cannot be read, written or opened against its sources."""

    exit_code = 10


class ProvenanceMismatch(WorkstationError):
    """A file no longer matches its provenance record (or its sources changed)."""

    exit_code = 11


class GuidePlanError(WorkstationError):
    """A guide plan is malformed or cannot be built on its bone (nothing is written)."""

    exit_code = 12


class MeshToolError(MeshError):
    """A mesh tool (cut, boolean, offset, hollow, mirror, move) cannot give a closed solid."""

    exit_code = 13


class PacsError(WorkstationError):
    """A PACS or DICOMweb server cannot be reached, refuses us, or a transfer failed."""

    exit_code = 14


class DatabaseError(WorkstationError):
    """The local DICOM database cannot be opened, read or changed as asked."""

    exit_code = 15


class DeidentificationError(WorkstationError):
    """A case cannot be de-identified as asked (bad key, options, output inside the input)."""

    exit_code = 16


class AuditLogError(WorkstationError):
    """The audit trail cannot be written or read, or it fails verification."""

    exit_code = 17


class PermissionDenied(WorkstationError):
    """The user's role lacks a permission the action needs (the refusal is audited)."""

    exit_code = 18


class EncryptionError(WorkstationError):
    """Encrypted data cannot be opened (wrong or missing key) or a key cannot be made."""

    exit_code = 19


class PlanError(WorkstationError):
    """A batch plan, protocol QC rule file or reference-level table that cannot be used."""

    exit_code = 20


class BatchError(WorkstationError):
    """A batch that cannot run: no cases, a scheduler out of reach, an unusable output folder."""

    exit_code = 21


class ReportError(WorkstationError):
    """A case report that cannot be made (nothing to show, a page that cannot be laid out)."""

    exit_code = 22


class QcFailed(WorkstationError):
    """Protocol QC found at least one series that does not meet its protocol's rule."""

    exit_code = 23
