"""A batch's output folder: one folder per finished case, its result record, the summaries.

Layout of ``OUTDIR``::

    cases/<case_id>/          every output of a finished case, result.json written last
    .partial/<case_id>-<hex>/ a case being written (moved to cases/ only when complete)
    .inputs/                  studies retrieved or linked for the cases that run now
    summary.json, summary.csv the whole batch, replaced when the batch ends
    .batch.lock               held while a batch runs here (one batch per folder)

A case folder replaces an older one by rename (the old one goes into ``.partial`` first,
then is deleted), so ``cases/<case_id>`` is always either the old or the new complete case.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from workstation import __version__
from workstation.core.errors import BatchError
from workstation.io.atomic_write import atomic_write, shown_path

RESULT_NAME = "result.json"
CASES = "cases"
PARTIAL = ".partial"
INPUTS = ".inputs"
LOCK_NAME = ".batch.lock"
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
RECORD_FORMAT = "surgical-planning-workstation batch case"
SUMMARY_FORMAT = "surgical-planning-workstation batch summary"

#: The columns of summary.csv, one row per case.
CSV_COLUMNS = (
    "case_id",
    "label",
    "status",
    "reason",
    "seconds",
    "worker",
    "model",
    "triangles",
    "volume_mm3",
    "qc_status",
    "ctdivol_mgy",
    "dlp_mgycm",
    "outputs",
)


def case_hash(plan_digest: str, input_identity: str) -> str:
    """What a case's result depends on: the plan, its input files and this version."""
    text = json.dumps([plan_digest, input_identity, __version__])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class BatchStore:
    """The output folder of a batch (see the module docstring); ``open`` locks it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock: int | None = None

    # -- the folder -------------------------------------------------------------------------
    @contextlib.contextmanager
    def opened(self) -> Iterator[BatchStore]:
        """Create and lock the folder for this batch; stale partial folders are removed."""
        try:
            for name in (CASES, PARTIAL, INPUTS):
                (self.root / name).mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        except OSError as error:
            raise BatchError(
                f"Cannot use {shown_path(self.root)} as the batch output folder: "
                f"{error.strerror or error}."
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            raise BatchError(
                f"Another batch is writing into {shown_path(self.root)}; wait for it to end "
                "or choose another output folder."
            ) from None
        self._lock = descriptor
        try:
            self.clean_partial()
            yield self
        finally:
            self.clean_partial()
            self._lock = None
            os.close(descriptor)

    def clean_partial(self) -> None:
        """Remove every partial case and retrieved input (nothing half-written stays)."""
        for name in (PARTIAL, INPUTS):
            folder = self.root / name
            with contextlib.suppress(OSError):
                for entry in list(folder.iterdir()):
                    _remove(entry)

    def case_folder(self, case_id: str) -> Path:
        """Where a finished case lives."""
        return self.root / CASES / case_id

    def new_partial(self, case_id: str) -> Path:
        """A new empty folder to write a running case into."""
        folder = self.root / PARTIAL / f"{case_id}-{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        return folder

    def inputs_folder(self, case_id: str) -> Path:
        """A new empty folder for the study a case reads (retrieved or linked)."""
        folder = self.root / INPUTS / f"{case_id}-{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        return folder

    # -- records ----------------------------------------------------------------------------
    def read_record(self, case_id: str) -> dict[str, Any] | None:
        """The record of a finished case (None when missing or unreadable)."""
        path = self.case_folder(case_id) / RESULT_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) and data.get("format") == RECORD_FORMAT else None

    def finish(self, partial: Path, record: dict[str, Any]) -> Path:
        """Write ``record`` last into ``partial``, then move it to ``cases/<case_id>``."""
        case_id = str(record["case_id"])
        document = {"format": RECORD_FORMAT, **record}
        write_json(partial / RESULT_NAME, document)
        target = self.case_folder(case_id)
        old = None
        try:
            if target.exists():
                old = self.root / PARTIAL / f"old-{case_id}-{secrets.token_hex(4)}"
                os.rename(target, old)
            os.rename(partial, target)
        except OSError as error:
            raise BatchError(
                f"Cannot move the finished case into {shown_path(target)}: "
                f"{error.strerror or error}."
            ) from None
        if old is not None:
            _remove(old)
        return target

    def write_failed(self, record: dict[str, Any]) -> Path:
        """A failed case: an empty folder with only its record (older outputs replaced)."""
        partial = self.new_partial(str(record["case_id"]))
        return self.finish(partial, record)

    # -- summaries --------------------------------------------------------------------------
    def write_summary(self, summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
        """summary.json (the whole batch) and summary.csv (one row per case), atomically."""
        write_json(self.root / SUMMARY_JSON, {"format": SUMMARY_FORMAT, **summary})
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(row.get(key)) for key in CSV_COLUMNS})
        with atomic_write(self.root / SUMMARY_CSV) as handle:
            handle.write(buffer.getvalue().encode("utf-8"))


def write_json(path: Path, document: dict[str, Any]) -> None:
    """A JSON file written atomically (stable key order for equal content)."""
    text = json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ";".join(str(item) for item in value)
    return str(value)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
