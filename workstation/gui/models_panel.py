"""Models panel: create a surface from the segmentation, list, style and export models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QColorDialog,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import SegmentationError
from workstation.gui.export_dialog import ExportDialog
from workstation.services.session import ModelEntry

if TYPE_CHECKING:
    from workstation.gui.main_window import MainWindow

#: Short headers (explained by their tooltips) so every column fits the Tools dock.
COLUMNS = ("", "Name", "", "Opacity", "ml", "Triangles", "Closed")
HEADER_TIPS = (
    "Visible in the 3D view",
    "Model name (double-click to rename)",
    "Colour (click to change)",
    "Opacity",
    "Enclosed volume in millilitres",
    "Number of triangles",
    "Watertight: the surface is closed and can be 3D-printed",
)
COL_SHOW, COL_NAME, COL_COLOUR, COL_OPACITY, COL_VOLUME, COL_TRIANGLES, COL_WATERTIGHT = range(7)
ID_ROLE = Qt.ItemDataRole.UserRole + 1


def model_options(smooth_iterations: int, decimate_fraction: float) -> Any:
    """ModelOptions for building a surface from an existing label map."""
    from workstation.services.modeling import ModelOptions

    return ModelOptions(smooth_iterations=smooth_iterations, decimate_fraction=decimate_fraction)


def build_model_job(label, options, progress, cancel):
    """Run services.modeling.build_model (in a worker)."""
    from workstation.services.modeling import build_model

    return build_model(label, options, progress=progress, cancel=cancel)


def export_job(items: list[tuple[Any, Path]], coords: str, progress, cancel) -> list[Path]:
    """Write each (mesh, path) with export_mesh; returns the written paths."""
    from workstation.io.mesh_export import export_mesh

    written = []
    for number, (mesh, path) in enumerate(items):
        cancel.raise_if_cancelled()
        progress(number / len(items), f"Writing {path.name}")
        written.append(Path(export_mesh(mesh, path, coords=coords)))
    progress(1.0, "Done")
    return written


def statistics_text(statistics: dict[str, Any]) -> tuple[str, str, str]:
    """(volume in ml, triangles, watertight yes/no) for the table."""
    volume = statistics.get("volume_mm3")
    triangles = statistics.get("triangles")
    watertight = statistics.get("watertight")
    return (
        "" if volume is None else f"{float(volume) / 1000.0:,.2f}",
        "" if triangles is None else f"{int(triangles):,}",
        "" if watertight is None else ("yes" if watertight else "no"),
    )


def model_summary(name: str, statistics: dict[str, Any]) -> str:
    """'Bone: 512.30 ml, 120,000 triangles, watertight' for the selected model."""
    volume, triangles, watertight = statistics_text(statistics)
    parts = []
    if volume:
        parts.append(f"{volume} ml")
    if triangles:
        parts.append(f"{triangles} triangles")
    if watertight:
        parts.append("watertight" if watertight == "yes" else "not watertight (has holes)")
    return f"{name}: " + ", ".join(parts) if parts else name


def _default_options() -> tuple[int, float]:
    from workstation.services.modeling import ModelOptions

    defaults = ModelOptions()
    return int(defaults.smooth_iterations), float(defaults.decimate_fraction)


class ModelsPanel(QWidget):
    """Create model from the Session's label map; the model list mirrors Session models."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("modelsPanel")
        self.window_ = window
        self.session = window.session
        self._rows: dict[str, int] = {}
        self._updating = False
        self.last_export: list[Path] = []

        smooth, decimate = _default_options()
        self.smooth_spin = QSpinBox()
        self.smooth_spin.setRange(0, 200)
        self.smooth_spin.setValue(smooth)
        self.decimate_spin = QDoubleSpinBox()
        self.decimate_spin.setRange(0.0, 0.99)
        self.decimate_spin.setSingleStep(0.05)
        self.decimate_spin.setValue(decimate)
        self.decimate_spin.setToolTip("Fraction of triangles removed (0 keeps them all)")
        self.create_button = QPushButton("Create model")
        self.create_button.setObjectName("createModel")
        self.create_button.clicked.connect(self.create_model)
        create_box = QGroupBox("Create model from segmentation")
        form = QFormLayout(create_box)
        form.addRow("Smoothing iterations", self.smooth_spin)
        form.addRow("Decimation", self.decimate_spin)
        form.addRow(self.create_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("modelTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tip in enumerate(HEADER_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.export_selected_button = QPushButton("Export selected…")
        self.export_selected_button.clicked.connect(self.export_selected)
        self.export_all_button = QPushButton("Export all…")
        self.export_all_button.clicked.connect(self.export_all)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_selected_button)
        buttons.addWidget(self.export_all_button)
        buttons.addWidget(self.remove_button)
        self.info_label = QLabel("")
        self.info_label.setWordWrap(True)
        self.summary_label = QLabel("")
        self.summary_label.setObjectName("modelSummary")
        self.summary_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(create_box)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary_label)
        layout.addLayout(buttons)
        layout.addWidget(self.info_label)

        self.session.subscribe("model_added", self._model_added)
        self.session.subscribe("model_removed", self._model_removed)
        self.session.subscribe("model_changed", self._model_changed)
        self.session.subscribe("label", self._label_changed)
        self._label_changed(self.session.label)
        self._selection_changed()

    # -- creating -------------------------------------------------------------------
    def _label_changed(self, label) -> None:
        self.create_button.setEnabled(label is not None)

    def create_model(self) -> None:
        """Build a surface from the current label map in a job and add it to the Session."""
        label = self.session.label
        volume = self.session.volume
        if label is None or volume is None:
            self.window_.report_error_message(
                "Create model", SegmentationError("Segment something first (Apply threshold).")
            )
            return
        options = model_options(self.smooth_spin.value(), self.decimate_spin.value())

        def done(result) -> None:
            if volume is not self.session.volume:
                return
            statistics = result.statistics.as_dict()
            number = len(self.session.models) + 1
            self.session.add_model(result.mesh, statistics, name=f"Model {number}")

        self.window_.runner.submit(
            "Create model",
            build_model_job,
            label,
            options,
            on_result=done,
            on_error=self.window_.report_error,
        )

    # -- table ----------------------------------------------------------------------
    def _model_added(self, entry: ModelEntry) -> None:
        self._updating = True
        row = self.table.rowCount()
        self.table.insertRow(row)
        self._rows[entry.model_id] = row
        show = QTableWidgetItem()
        show.setFlags(
            Qt.ItemFlag.ItemIsUserCheckable
            | Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
        )
        show.setData(ID_ROLE, entry.model_id)
        self.table.setItem(row, COL_SHOW, show)
        name = QTableWidgetItem()
        name.setData(ID_ROLE, entry.model_id)
        self.table.setItem(row, COL_NAME, name)
        colour = QPushButton()
        colour.setToolTip("Change colour")
        colour.clicked.connect(
            lambda _=False, model_id=entry.model_id: self.choose_colour(model_id)
        )
        self.table.setCellWidget(row, COL_COLOUR, colour)
        opacity = QSlider(Qt.Orientation.Horizontal)
        opacity.setRange(0, 100)
        opacity.setMinimumWidth(50)
        opacity.setMaximumWidth(70)
        opacity.valueChanged.connect(
            lambda value, model_id=entry.model_id: self.session.update_model(
                model_id, opacity=value / 100.0
            )
        )
        self.table.setCellWidget(row, COL_OPACITY, opacity)
        for column in (COL_VOLUME, COL_TRIANGLES, COL_WATERTIGHT):
            item = QTableWidgetItem()
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        self._updating = False
        self._model_changed(entry)
        self.table.selectRow(row)

    def _model_changed(self, entry: ModelEntry) -> None:
        row = self._rows.get(entry.model_id)
        if row is None:
            return
        self._updating = True
        self.table.item(row, COL_SHOW).setCheckState(
            Qt.CheckState.Checked if entry.visible else Qt.CheckState.Unchecked
        )
        self.table.item(row, COL_NAME).setText(entry.name)
        colour = QColor.fromRgbF(*entry.color)
        self.table.cellWidget(row, COL_COLOUR).setStyleSheet(
            f"background-color: {colour.name()}; min-width: 28px;"
        )
        slider = self.table.cellWidget(row, COL_OPACITY)
        slider.blockSignals(True)
        slider.setValue(round(entry.opacity * 100))
        slider.blockSignals(False)
        for column, text in zip(
            (COL_VOLUME, COL_TRIANGLES, COL_WATERTIGHT),
            statistics_text(entry.statistics),
            strict=True,
        ):
            self.table.item(row, column).setText(text)
        self._updating = False
        self._show_summary()

    def _model_removed(self, entry: ModelEntry) -> None:
        row = self._rows.pop(entry.model_id, None)
        if row is None:
            return
        self.table.removeRow(row)
        self._rows = {mid: (r - 1 if r > row else r) for mid, r in self._rows.items()}
        self._selection_changed()

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._updating:
            return
        model_id = item.data(ID_ROLE)
        if model_id not in self.session.models:
            return
        if item.column() == COL_SHOW:
            self.session.update_model(model_id, visible=item.checkState() == Qt.CheckState.Checked)
        elif item.column() == COL_NAME:
            self.session.update_model(model_id, name=item.text())

    def choose_colour(self, model_id: str) -> None:
        """Pick a model colour with QColorDialog."""
        entry = self.session.models[model_id]
        colour = QColorDialog.getColor(
            QColor.fromRgbF(*entry.color), self, f"Colour of {entry.name}"
        )
        if colour.isValid():
            self.session.update_model(
                model_id, color=(colour.redF(), colour.greenF(), colour.blueF())
            )

    def model_id_at(self, row: int) -> str:
        """The model id shown in table row ``row``."""
        return str(self.table.item(row, COL_SHOW).data(ID_ROLE))

    def selected_ids(self) -> list[str]:
        """Ids of the selected models, in table order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.model_id_at(row) for row in rows]

    def _selection_changed(self) -> None:
        has_models = bool(self.session.models)
        selected = bool(self.table.selectionModel().selectedRows()) if has_models else False
        self.export_selected_button.setEnabled(selected)
        self.remove_button.setEnabled(selected)
        self.export_all_button.setEnabled(has_models)
        self._show_summary()

    def _show_summary(self) -> None:
        """Statistics of the selected models in words under the table."""
        lines = []
        for model_id in self.selected_ids() if self.session.models else []:
            entry = self.session.models.get(model_id)
            if entry is not None:
                lines.append(model_summary(entry.name, entry.statistics))
        self.summary_label.setText("\n".join(lines))

    def remove_selected(self) -> None:
        """Remove the selected models."""
        for model_id in self.selected_ids():
            self.session.remove_model(model_id)

    # -- export ---------------------------------------------------------------------
    def export_selected(self) -> None:
        """Ask where and how, then export the selected models."""
        self._export_dialog(self.selected_ids())

    def export_all(self) -> None:
        """Ask where and how, then export every model."""
        self._export_dialog(list(self.session.models))

    def _export_dialog(self, model_ids: list[str]) -> None:
        if not model_ids:
            return
        names = [self.session.models[model_id].name for model_id in model_ids]
        folder = str(Path(self.last_export[0]).parent) if self.last_export else ""
        dialog = ExportDialog(self, names, folder)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export_models(model_ids, dialog.targets(), dialog.coords())

    def export_models(self, model_ids: list[str], targets: list[Path], coords: str = "lps"):
        """Write the models to ``targets`` (same order) in a job; returns the Job."""
        items = [
            (self.session.models[model_id].mesh, Path(target))
            for model_id, target in zip(model_ids, targets, strict=True)
        ]

        def done(paths: list[Path]) -> None:
            self.last_export = paths
            self.info_label.setText(
                "Exported " + ", ".join(path.name for path in paths) + f" ({coords.upper()})"
            )
            self.window_.statusBar().showMessage(f"Exported {len(paths)} model(s)", 5000)

        return self.window_.runner.submit(
            "Export", export_job, items, coords, on_result=done, on_error=self.window_.report_error
        )
