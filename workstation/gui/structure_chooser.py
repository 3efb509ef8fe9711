"""Choose which structures of a segmentation file to import (a 117-label map needs this).

Every imported segment keeps a full mask on the volume's grid, one byte a voxel, so the
dialog says what the ticked ones need on this volume, in orange when that is over the
memory limit (``workstation.core.memory_budget``), before anything is loaded.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import MemoryLimitError
from workstation.core.memory_budget import format_size, memory_limit
from workstation.services.segmentation_import import StructureInfo

#: The colour of the memory line when the ticked structures do not fit.
OVER_LIMIT_STYLE = "color: #d97706; font-weight: bold;"


def _limit() -> int | None:
    try:
        return memory_limit()
    except MemoryLimitError:  # a malformed limit is reported by the import itself
        return None


class StructureChooser(QDialog):
    """A checkable, filterable list of a file's structures (all ticked at first)."""

    def __init__(
        self,
        structures: list[StructureInfo],
        volume_voxels: int,
        title: str = "Choose the structures to import",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.structures = list(structures)
        self.volume_voxels = int(volume_voxels)
        self.over_limit = False
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name…")
        self.filter_edit.setClearButtonEnabled(True)
        self.list_widget = QListWidget()
        for number, structure in enumerate(self.structures):
            item = QListWidgetItem(f"{structure.name}  ({structure.voxels:,} voxels)")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, number)
            self.list_widget.addItem(item)
        self.all_button = QPushButton("All")
        self.all_button.setToolTip("Tick every structure (also those the filter hides)")
        self.none_button = QPushButton("None")
        self.none_button.setToolTip("Untick every structure (also those the filter hides)")
        self.memory_label = QLabel()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        row = QHBoxLayout()
        row.addWidget(self.filter_edit, 1)
        row.addWidget(self.all_button)
        row.addWidget(self.none_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.list_widget, 1)
        layout.addWidget(self.memory_label)
        layout.addWidget(self.buttons)
        self.filter_edit.textChanged.connect(self._filter)
        self.all_button.clicked.connect(lambda: self._tick_all(Qt.CheckState.Checked))
        self.none_button.clicked.connect(lambda: self._tick_all(Qt.CheckState.Unchecked))
        self.list_widget.itemChanged.connect(lambda _item: self._update())
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.resize(420, 520)
        self._update()

    def items(self) -> list[QListWidgetItem]:
        """The list's items in file order."""
        return [self.list_widget.item(row) for row in range(self.list_widget.count())]

    def visible_names(self) -> list[str]:
        """The names the filter shows, in file order."""
        return [
            self.structures[item.data(Qt.ItemDataRole.UserRole)].name
            for item in self.items()
            if not item.isHidden()
        ]

    def chosen_names(self) -> list[str]:
        """The ticked structures' names in file order."""
        return [
            self.structures[item.data(Qt.ItemDataRole.UserRole)].name
            for item in self.items()
            if item.checkState() == Qt.CheckState.Checked
        ]

    def set_ticked(self, name: str, ticked: bool = True) -> None:
        """Tick (or untick) the structures called ``name``."""
        state = Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked
        for item in self.items():
            if self.structures[item.data(Qt.ItemDataRole.UserRole)].name == name:
                item.setCheckState(state)

    def needed_bytes(self) -> int:
        """Bytes the ticked structures' masks take on the volume (one byte a voxel each)."""
        return self.volume_voxels * len(self.chosen_names())

    def _filter(self, text: str) -> None:
        words = text.casefold().split()
        for item in self.items():
            name = self.structures[item.data(Qt.ItemDataRole.UserRole)].name.casefold()
            item.setHidden(not all(word in name for word in words))

    def _tick_all(self, state: Qt.CheckState) -> None:
        self.list_widget.blockSignals(True)
        try:
            for item in self.items():
                item.setCheckState(state)
        finally:
            self.list_widget.blockSignals(False)
        self._update()

    def _update(self) -> None:
        count = len(self.chosen_names())
        needed = self.needed_bytes()
        limit = _limit()
        self.over_limit = limit is not None and needed > limit
        text = (
            f"{count} of {len(self.structures)} ticked: about {format_size(needed)} "
            "of memory on this volume"
        )
        if limit is not None:
            text += f" (the limit is {format_size(limit)})"
        self.memory_label.setText(text)
        self.memory_label.setStyleSheet(OVER_LIMIT_STYLE if self.over_limit else "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(count > 0)


def ask_structures(
    structures: list[StructureInfo], volume_voxels: int, parent: QWidget | None = None
) -> list[str] | None:
    """The names the user ticks (file order), or None when the dialog is cancelled."""
    dialog = StructureChooser(structures, volume_voxels, parent=parent)
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.chosen_names() or None
    finally:
        dialog.deleteLater()
