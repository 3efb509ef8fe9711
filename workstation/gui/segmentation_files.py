"""File → Import segmentation… / Export segmentation…: segmentations other tools open.

Import reads a .seg.nrrd, .nrrd, .nii or .nii.gz (and, optionally, a label table naming
its values) as ONE operation through the edit queue, so it is one undo step and replays
from an operations file.  A background job first lists the file's structures and hashes
it; a file with more than one structure then offers a chooser (a TotalSegmentator map
has 117, and every imported one keeps a full mask), and the record names the chosen ones
only when some were left out, so the others are never loaded.  Its
warnings (resampled, partly outside…) reach the status bar with the edit's notes.
Export writes a snapshot of the segments in a background job, in the format of the
chosen extension (the writers registry's list; ``<series>.seg.nrrd`` by default); a
DICOM Segmentation (.dcm) gets the loaded series as its source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from workstation.core.errors import ExportError
from workstation.core.operations import normalise
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.core.provenance import SeriesIdentity
from workstation.core.segmentation import Segmentation
from workstation.gui.context import AppContext
from workstation.gui.structure_chooser import ask_structures
from workstation.gui.workers import Job, JobError
from workstation.io.dicom.source_context import DicomSourceContext, source_context
from workstation.io.readers import formats as readable_formats
from workstation.io.writers import writer_for
from workstation.services.export import (
    check_export_path,
    format_filters,
    safe_file_name,
    write_segmentation,
)
from workstation.services.segment_editor import SegmentEditor
from workstation.services.segmentation_import import (
    StructureInfo,
    import_records,
    list_structures,
)

LABEL_TABLE_FILTER = "Label tables (*.txt *.label *.ctbl *.json *.csv *.lut);;All files (*)"


def import_filter() -> str:
    """The file dialog filter of every readable segmentation format."""
    patterns = " ".join(f"*{extension}" for extension, _ in readable_formats("segmentation"))
    return f"Segmentations ({patterns});;All files (*)"


def default_export_name(context: AppContext) -> str:
    """``<series>.seg.nrrd``: the series description (or volume name) as a file name."""
    volume = context.session.volume
    stem = ""
    if volume is not None:
        stem = volume.source.identity.series_description or volume.name
    return f"{safe_file_name(stem or 'segmentation')}.seg.nrrd"


def _check_job(
    path: str,
    label_table: str | None,
    names: list[str] | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> tuple[list[StructureInfo] | None, list[dict[str, Any]]]:
    """The file's structures (None when ``names`` already chose) and its import record."""
    structures = None
    if names is None:
        structures = list_structures(path, label_table, sub_progress(progress, 0.0, 0.7), cancel)
    hashing = sub_progress(progress, 0.0 if names else 0.7, 1.0)
    return structures, import_records(path, label_table, names, hashing, cancel)


def _export_job(
    segmentation: Segmentation,
    path: str,
    source: DicomSourceContext | None,
    identity: SeriesIdentity | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> Path:
    identities = [identity]  # decides the export permission the policy asks for
    if source is None:
        return write_segmentation(segmentation, path, progress, cancel, identities=identities)
    return write_segmentation(
        segmentation, path, progress, cancel, source=source, identities=identities
    )


class SegmentationFiles(QObject):
    """The import and export actions of the segmentation files, for one window."""

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent or context.parent)
        self.context = context
        window = context.parent
        self.import_action = QAction("Import segmentation…", window)
        self.import_action.setToolTip(
            "Add the segments of a .seg.nrrd, .nrrd, .nii or .nii.gz file (one undo step)"
        )
        self.import_action.triggered.connect(lambda: self.import_segmentation())
        self.export_action = QAction("Export segmentation…", window)
        self.export_action.setToolTip("Save the segments for 3D Slicer, ITK-SNAP and others")
        self.export_action.triggered.connect(lambda: self.export_segmentation())
        #: ask the user for paths (replaceable, e.g. by tests); '' means cancelled
        self.choose_import_path = lambda: QFileDialog.getOpenFileName(
            window, "Import segmentation", "", import_filter()
        )[0]
        self.choose_label_table = lambda: QFileDialog.getOpenFileName(
            window, "Label table naming the values (Cancel: none)", "", LABEL_TABLE_FILTER
        )[0]
        self.choose_export_path = self._ask_export_path
        #: the names to import (file order) from a file's structures; None cancels
        self.choose_structures = lambda structures: ask_structures(
            structures, self._volume_voxels(), window
        )
        self.last_export: Path | None = None
        context.session.subscribe("editor", self._editor_changed)
        self._editor_changed(context.session.editor)

    def _editor_changed(self, editor: SegmentEditor | None) -> None:
        self.import_action.setEnabled(editor is not None)
        self.export_action.setEnabled(editor is not None)

    # -- import -----------------------------------------------------------------------------
    def _volume_voxels(self) -> int:
        volume = self.context.session.volume
        return 0 if volume is None else int(np.prod(volume.shape, dtype=np.int64))

    def import_segmentation(
        self,
        path: str | None = None,
        label_table: str | None = None,
        names: list[str] | None = None,
    ) -> Job | None:
        """Import ``path`` (asked for when None; then a label table is offered too).

        ``names`` imports only those structures, in that order, without the chooser.
        """
        editor = self.context.session.editor
        if editor is None:
            self.context.show_message("Load a volume before importing a segmentation.")
            return None
        if path is None:
            path = self.choose_import_path()
            if not path:
                return None
            if label_table is None and not path.lower().endswith(".seg.nrrd"):
                label_table = self.choose_label_table() or None
        name = Path(path).name
        self.context.show_message(f"Importing {name}…")
        return self.context.runner.submit(
            f"Import {name}",
            _check_job,
            str(path),
            label_table,
            names,
            on_result=lambda found, editor=editor: self._records_ready(editor, name, *found),
            on_error=self.context.report_error,
        )

    def _records_ready(
        self,
        editor: SegmentEditor,
        name: str,
        structures: list[StructureInfo] | None,
        records: list[dict[str, Any]],
    ) -> None:
        if editor is not self.context.session.editor:
            return  # another volume was loaded meanwhile: the import was for the old one
        if structures is not None and len(structures) > 1:
            chosen = self.choose_structures(structures)
            if not chosen:
                self.context.show_message(f"Import of {name} cancelled")
                return
            if editor is not self.context.session.editor:
                return
            if list(chosen) != [structure.name for structure in structures]:
                records = [normalise({**record, "names": list(chosen)}) for record in records]
        for record in records:
            self.context.edits.submit(record, title=f"Import {name}")

    # -- export -----------------------------------------------------------------------------
    def _ask_export_path(self) -> str:
        filters = format_filters("segmentation")
        chosen, selected = QFileDialog.getSaveFileName(
            self.context.parent,
            "Export segmentation",
            default_export_name(self.context),
            ";;".join(text for _, text in filters),
        )
        if not chosen:
            return ""
        try:
            check_export_path("segmentation", chosen)
        except ExportError:
            extension = next((ext for ext, text in filters if text == selected), filters[0][0])
            chosen += extension
        return chosen

    def export_segmentation(self, path: str | None = None) -> Job | None:
        """Write the segments to ``path`` (asked for when None) in the background."""
        editor = self.context.session.editor
        if editor is None:
            self.context.show_message("Load a volume before exporting a segmentation.")
            return None
        path = path or self.choose_export_path()
        if not path:
            return None
        session = self.context.session
        try:
            check_export_path("segmentation", path)
            source = None
            if writer_for("segmentation", path).needs_source:
                source = source_context(session.stack, session.volume)
        except ExportError as problem:
            self.context.report_error(JobError("Export segmentation", problem, ""))
            return None
        return self.context.runner.submit(
            "Export segmentation",
            _export_job,
            editor.segmentation.snapshot(),
            str(path),
            source,
            session.identity,
            on_result=self._exported,
            on_error=self.context.report_error,
        )

    def _exported(self, path: Path) -> None:
        self.last_export = Path(path)
        self.context.show_message(f"Saved the segmentation to {path}")


def install_segmentation_file_actions(menu: QMenu, context: AppContext) -> SegmentationFiles:
    """Add Import/Export segmentation… to ``menu`` (the File menu); returns their owner."""
    files = SegmentationFiles(context)
    menu.addAction(files.import_action)
    menu.addAction(files.export_action)
    return files
