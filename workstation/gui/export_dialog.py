"""Export dialog: where to write one or all models, which format, LPS or RAS."""

from __future__ import annotations

import os
import re
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

#: Formats offered, in menu order: (extension, filter text).
FORMATS = (
    (".stl", "STL (*.stl)"),
    (".obj", "Wavefront OBJ (*.obj)"),
    (".ply", "PLY (*.ply)"),
    (".3mf", "3D Manufacturing Format (*.3mf)"),
)
COORDINATES = (("lps", "LPS (DICOM patient coordinates)"), ("ras", "RAS (Slicer, NIfTI)"))


def safe_file_name(name: str) -> str:
    """A model name turned into a portable file name stem."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "model"


def export_targets(names: list[str], folder: str | Path, extension: str) -> list[Path]:
    """One distinct path in ``folder`` per model name (suffixes _2, _3 for repeats)."""
    targets: list[Path] = []
    used: set[str] = set()
    for name in names:
        stem = safe_file_name(name)
        candidate, number = stem, 2
        while candidate.lower() in used:
            candidate, number = f"{stem}_{number}", number + 1
        used.add(candidate.lower())
        targets.append(Path(folder) / f"{candidate}{extension}")
    return targets


class ExportDialog(QDialog):
    """Gathers a target (file for one model, folder for several), format and coordinates."""

    def __init__(
        self, parent: QWidget | None, model_names: list[str], start_folder: str = ""
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.model_names = model_names
        self.several = len(model_names) > 1
        self.setWindowTitle(
            f"Export {len(model_names)} models" if self.several else f"Export {model_names[0]}"
        )
        self.format_combo = QComboBox()
        for extension, text in FORMATS:
            self.format_combo.addItem(text, extension)
        self.coords_combo = QComboBox()
        for key, text in COORDINATES:
            self.coords_combo.addItem(text, key)
        folder = start_folder or os.path.expanduser("~")
        self.path_edit = QLineEdit(
            folder if self.several else str(Path(folder) / f"{safe_file_name(model_names[0])}.stl")
        )
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Folder" if self.several else "File", row)
        form.addRow("Format", self.format_combo)
        form.addRow("Coordinates", self.coords_combo)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def extension(self) -> str:
        """The chosen format's extension, e.g. '.stl'."""
        return str(self.format_combo.currentData())

    def coords(self) -> str:
        """'lps' or 'ras'."""
        return str(self.coords_combo.currentData())

    def targets(self) -> list[Path]:
        """The files that will be written, one per model."""
        text = self.path_edit.text().strip()
        if self.several:
            return export_targets(self.model_names, text, self.extension())
        path = Path(text)
        return [
            path if path.suffix.lower() == self.extension() else path.with_suffix(self.extension())
        ]

    def _format_changed(self) -> None:
        if not self.several:
            path = Path(self.path_edit.text().strip())
            if path.name:
                self.path_edit.setText(str(path.with_suffix(self.extension())))

    def _browse(self) -> None:
        if self.several:
            folder = QFileDialog.getExistingDirectory(
                self, "Export to folder", self.path_edit.text()
            )
            if folder:
                self.path_edit.setText(folder)
            return
        filters = ";;".join(text for _, text in FORMATS)
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Export model",
            self.path_edit.text(),
            filters,
            self.format_combo.currentText(),
        )
        if path:
            for index, (extension, text) in enumerate(FORMATS):
                if text == chosen or path.lower().endswith(extension):
                    self.format_combo.setCurrentIndex(index)
                    break
            self.path_edit.setText(path)
