"""What a de-identification run did, per file and in total, as JSON and as text.

The returned report names the source files (relative to the input); the copy written
into the output folder (``deidentification-report.json``) leaves every source path out,
so the output folder holds no trace of original names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from workstation.io.sources import printable

#: The statuses a file may have.
DONE = "done"
NEEDS_REVIEW = "needs_review"
SKIPPED = "skipped"

#: Name of the PHI-free report written into the output folder.
REPORT_NAME = "deidentification-report.json"


@dataclass
class DeidFileResult:
    """One input file: where it came from and went, its status, actions and reasons."""

    source: str
    output: str = ""
    status: str = SKIPPED
    actions: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    ocr_seconds: float = 0.0
    pixels_cleaned: bool = False
    failed: bool = False
    removed_private: int = 0

    def to_json(self, *, with_source: bool = True) -> dict[str, Any]:
        """The file's entry; ``with_source=False`` leaves the source path out."""
        record: dict[str, Any] = {"source": self.source} if with_source else {}
        record.update(
            output=self.output,
            status=self.status,
            actions=dict(sorted(self.actions.items())),
            removed_private=self.removed_private,
            reasons=list(self.reasons),
            ocr_seconds=round(self.ocr_seconds, 3),
            pixels_cleaned=self.pixels_cleaned,
            failed=self.failed,
        )
        return record


@dataclass
class DeidReport:
    """A whole run: every file, the key used, the options, the output folder, totals."""

    source: str
    output: str
    key_path: str
    key_id: str
    key_created: bool
    options: list[str]
    edition: str
    files: list[DeidFileResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    studies: int = 0
    series: int = 0

    def count(self, status: str) -> int:
        """How many files have ``status``."""
        return sum(1 for item in self.files if item.status == status)

    @property
    def failures(self) -> list[DeidFileResult]:
        """DICOM files that could not be de-identified (not merely non-DICOM)."""
        return [item for item in self.files if item.failed]

    def totals(self) -> dict[str, Any]:
        """Counts by status, failures, studies, series and the time taken."""
        return {
            "files": len(self.files),
            DONE: self.count(DONE),
            NEEDS_REVIEW: self.count(NEEDS_REVIEW),
            SKIPPED: self.count(SKIPPED),
            "failed": len(self.failures),
            "pixels_cleaned": sum(1 for item in self.files if item.pixels_cleaned),
            "studies": self.studies,
            "series": self.series,
            "ocr_seconds": round(sum(item.ocr_seconds for item in self.files), 3),
            "seconds": round(self.seconds, 3),
        }

    def to_json(self) -> dict[str, Any]:
        """The full report (source paths included) as printed by ``--json``."""
        return {
            "source": self.source,
            "output": self.output,
            "key_path": self.key_path,
            "key_id": self.key_id,
            "key_created": self.key_created,
            "options": list(self.options),
            "profile_edition": self.edition,
            "totals": self.totals(),
            "notes": list(self.notes),
            "files": [item.to_json() for item in self.files],
        }

    def public_json(self) -> dict[str, Any]:
        """The report without source paths, skipped files or key path (for the output)."""
        written = [item for item in self.files if item.output]
        totals = self.totals()
        return {
            "key_id": self.key_id,
            "options": list(self.options),
            "profile_edition": self.edition,
            "totals": {**totals, "files": len(written)},
            "files": [item.to_json(with_source=False) for item in written],
        }

    def public_bytes(self) -> bytes:
        """``public_json`` as the UTF-8 text written into the output folder."""
        return (json.dumps(self.public_json(), indent=2, sort_keys=False) + "\n").encode()

    def text(self) -> str:
        """The human report: totals, then files needing review, failures, skipped files."""
        totals = self.totals()
        lines = [
            f"De-identified {totals[DONE] + totals[NEEDS_REVIEW]} of {totals['files']} files "
            f"({totals['studies']} studies, {totals['series']} series) into "
            f"{printable(self.output)} in {self.seconds:.1f} s",
            f"Key: {printable(self.key_path)} (id {self.key_id}"
            f"{', new' if self.key_created else ', existing'}); options: "
            f"{', '.join(self.options) or 'basic profile only'}",
        ]
        lines += [f"Note: {printable(note)}" for note in self.notes]
        groups = (
            ("Needs review", [f for f in self.files if f.status == NEEDS_REVIEW]),
            ("Failed", self.failures),
            ("Skipped", [f for f in self.files if f.status == SKIPPED and not f.failed]),
        )
        for title, items in groups:
            if not items:
                continue
            lines.append(f"{title} ({len(items)}):")
            for item in items:
                target = f" -> {printable(item.output)}" if item.output else ""
                reasons = "; ".join(item.reasons) or "no reason given"
                lines.append(f"    {printable(item.source)}{target}: {printable(reasons)}")
        return "\n".join(lines)
