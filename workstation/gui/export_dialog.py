"""Export dialog: where to write one or several models, in which format, LPS or RAS.

The dialog only gathers the choice; file names come from ``services.export`` (the same
``export_targets`` and ``safe_file_name`` the command line uses) and the formats from
the writers registry.  A DICOM Encapsulated STL (.dcm) is always LPS.
"""

from __future__ import annotations

import os
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

from workstation.io.writers import writer_for
from workstation.services.export import (
    export_targets,
    format_filters,
    safe_file_name,
    with_extension,
)

COORDINATES = (("lps", "LPS (DICOM patient coordinates)"), ("ras", "RAS (Slicer, NIfTI)"))


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
        self.filters = format_filters("mesh")
        self.format_combo = QComboBox()
        for extension, text in self.filters:
            self.format_combo.addItem(text, extension)
        self.coords_combo = QComboBox()
        for key, text in COORDINATES:
            self.coords_combo.addItem(text, key)
        folder = start_folder or os.path.expanduser("~")
        first = Path(folder) / f"{safe_file_name(model_names[0])}{self.extension()}"
        self.path_edit = QLineEdit(folder if self.several else str(first))
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

    def set_format(self, extension: str) -> None:
        """Choose the format of ``extension`` (ignored when unknown)."""
        index = self.format_combo.findData(extension.lower())
        if index >= 0:
            self.format_combo.setCurrentIndex(index)

    def set_coords(self, coords: str) -> None:
        """Choose 'lps' or 'ras' (a DICOM model stays LPS)."""
        index = self.coords_combo.findData(coords)
        if index >= 0 and self.coords_combo.isEnabled():
            self.coords_combo.setCurrentIndex(index)

    def targets(self) -> list[Path]:
        """The files that will be written, one per model."""
        text = self.path_edit.text().strip()
        if self.several:
            return export_targets(self.model_names, text, self.extension())
        return [with_extension(text, "mesh", self.extension())]

    def _format_changed(self) -> None:
        # a DICOM model (Encapsulated STL) is always in the images' own LPS coordinates
        dicom = writer_for("mesh", f"model{self.extension()}").needs_source
        if dicom:
            self.coords_combo.setCurrentIndex(self.coords_combo.findData("lps"))
        self.coords_combo.setEnabled(not dicom)
        if not self.several:
            path = Path(self.path_edit.text().strip())
            if path.name:
                self.path_edit.setText(str(with_extension(path, "mesh", self.extension())))

    def _browse(self) -> None:
        if self.several:
            folder = QFileDialog.getExistingDirectory(
                self, "Export to folder", self.path_edit.text()
            )
            if folder:
                self.path_edit.setText(folder)
            return
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Export model",
            self.path_edit.text(),
            ";;".join(text for _, text in self.filters),
            self.format_combo.currentText(),
        )
        if path:
            for extension, text in self.filters:
                if text == chosen or path.lower().endswith(extension):
                    self.set_format(extension)
                    break
            self.path_edit.setText(path)
