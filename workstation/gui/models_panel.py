"""Models panel: build a segment's surface model, list, style and export the models.

"Create model" builds the selected segment's model with the panel's smoothing and
decimation (``model_jobs``, the options of ``workstation mesh --smooth --decimate``);
export names and writes files through ``services.export``, so a model "Bone" exported
as Bone.stl is the file ``workstation mesh -o Bone.stl`` writes; each file gets its
provenance record (Bone.provenance.json), kept in ``session.provenance`` too.
"""

from __future__ import annotations

from dataclasses import replace
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
    QGridLayout,
    QGroupBox,
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

from workstation.core.errors import WorkstationError
from workstation.core.preferences import Preferences, volume_text
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.gui.export_dialog import ExportDialog
from workstation.gui.model_jobs import model_options, start_segment_model
from workstation.gui.model_tools import ModelTools
from workstation.gui.send_to_pacs import SendToPacs
from workstation.gui.workers import JobError
from workstation.io.dicom.source_context import source_context
from workstation.io.writers import writer_for
from workstation.services.export import export_models
from workstation.services.modeling import ModelOptions
from workstation.services.provenance import model_record
from workstation.services.provenance_export import record_parts, session_sources
from workstation.services.segment_editor import SegmentEditor
from workstation.services.session import ModelEntry

if TYPE_CHECKING:
    from workstation.gui.context import AppContext
    from workstation.gui.workers import Job

DEFAULT_PREFERENCES = Preferences()
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


def statistics_text(
    statistics: dict[str, Any], preferences: Preferences = DEFAULT_PREFERENCES
) -> tuple[str, str, str]:
    """(volume in the preferred unit, triangles, watertight yes/no) for the table."""
    volume = statistics.get("volume_mm3")
    triangles = statistics.get("triangles")
    watertight = statistics.get("watertight")
    return (
        "" if volume is None else volume_text(float(volume), preferences),
        "" if triangles is None else f"{int(triangles):,}",
        "" if watertight is None else ("yes" if watertight else "no"),
    )


def model_summary(
    name: str, statistics: dict[str, Any], preferences: Preferences = DEFAULT_PREFERENCES
) -> str:
    """'Bone: 512.30 ml, 120,000 triangles, watertight' for the selected model."""
    volume, triangles, watertight = statistics_text(statistics, preferences)
    parts = []
    if volume:
        parts.append(f"{volume} {preferences.volume_unit}")
    if triangles:
        parts.append(f"{triangles} triangles")
    if watertight:
        parts.append("watertight" if watertight == "yes" else "not watertight (has holes)")
    return f"{name}: " + ", ".join(parts) if parts else name


class ModelsPanel(QWidget):
    """Builds the selected segment's model; the model list mirrors the session's models."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPanel")
        self.context = context
        self.session = context.session
        self._rows: dict[str, int] = {}
        self._updating = False
        self._editor: SegmentEditor | None = None
        #: "Create model" was clicked while edits were still being applied
        self._create_when_idle = False
        self.last_export: list[Path] = []
        #: how volumes are shown and what the export dialog proposes (see show_preferences)
        self.preferences = DEFAULT_PREFERENCES
        #: the export dialog while it is open
        self.export_dialog: ExportDialog | None = None

        defaults = ModelOptions()
        self.smooth_spin = QSpinBox()
        self.smooth_spin.setRange(0, 200)
        self.smooth_spin.setValue(defaults.smooth_iterations)
        self.smooth_spin.setToolTip("Windowed-sinc smoothing iterations (0 = off), as --smooth")
        self.decimate_spin = QDoubleSpinBox()
        self.decimate_spin.setRange(0.0, 0.99)
        self.decimate_spin.setSingleStep(0.05)
        self.decimate_spin.setValue(defaults.decimate_fraction)
        self.decimate_spin.setToolTip(
            "Fraction of triangles removed (0 keeps them all), as --decimate"
        )
        self.segment_label = QLabel("")
        self.segment_label.setObjectName("modelSegment")
        self.segment_label.setWordWrap(True)
        self.create_button = QPushButton("Create model")
        self.create_button.setObjectName("createModel")
        self.create_button.setToolTip("Build the surface model of the selected segment")
        self.create_button.clicked.connect(self.create_model)
        create_box = QGroupBox("Create model from segment")
        form = QFormLayout(create_box)
        form.addRow("Segment", self.segment_label)
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
        #: cut, boolean, offset, hollow, mirror and move the selected models
        self.model_tools = ModelTools(self)
        self.tools_button = QPushButton("Tools")
        self.tools_button.setObjectName("modelToolsButton")
        self.tools_button.setToolTip(
            "Cut, combine, offset, hollow, mirror or move the selected models"
        )
        self.tools_button.setMenu(self.model_tools.menu)
        #: Send to PACS… of the models (as Encapsulated STL) and of the segmentation
        self.pacs = SendToPacs(context, self.selected_ids)
        self.send_button = QPushButton("PACS…")
        self.send_button.setObjectName("sendModelsToPacs")
        self.send_button.setToolTip(self.pacs.models_action.toolTip())
        self.send_button.clicked.connect(lambda: self.pacs.send_models())
        buttons = QGridLayout()  # two rows: the panel stays as narrow as before
        buttons.addWidget(self.tools_button, 0, 0)
        buttons.addWidget(self.export_selected_button, 0, 1)
        buttons.addWidget(self.export_all_button, 0, 2)
        buttons.addWidget(self.remove_button, 1, 0)
        buttons.addWidget(self.send_button, 1, 1)
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
        self.session.subscribe("editor", self._editor_changed)
        context.viewer.subscribe("segment", self._segment_selected)
        context.edits.busy_changed.connect(self._edits_busy)
        self._editor_changed(self.session.editor)
        self._selection_changed()

    # -- creating -------------------------------------------------------------------
    def _editor_changed(self, editor: SegmentEditor | None) -> None:
        if self._editor is not None:
            self._editor.unsubscribe("segments", self._segments_changed)
        self._editor = editor
        self._create_when_idle = False
        if editor is not None:
            editor.subscribe("segments", self._segments_changed)
        self._show_segment()

    def _segments_changed(self, _payload: object = None) -> None:
        self._show_segment()

    def _segment_selected(self, _segment_id: str | None) -> None:
        self._show_segment()

    def selected_segment_name(self) -> str | None:
        """Name of the segment "Create model" builds, or None when none is selected."""
        segment = self.context.selected_segment()
        return None if segment is None else segment.name

    def _show_segment(self) -> None:
        name = self.selected_segment_name()
        self.segment_label.setText(name or "none selected")
        self.create_button.setEnabled(self._editor is not None)

    def options(self) -> ModelOptions:
        """The model options the panel's controls give (as ``workstation mesh`` flags)."""
        return model_options(self.smooth_spin.value(), self.decimate_spin.value())

    def create_model(self) -> Job | None:
        """Build the selected segment's model in a job, after the edits still being applied."""
        if self.context.edits.busy():
            self._create_when_idle = True
            self.info_label.setText("The model is built once the edits in progress are applied.")
            return None
        segment_id = self.context.viewer.selected_segment
        if self.selected_segment_name() is None or segment_id is None:
            text = "Select a segment first (Apply threshold makes one)."
            self.info_label.setText(text)
            self.context.show_message(text)
            return None
        self.info_label.setText("")
        return start_segment_model(self.context, segment_id, self.options())

    def _edits_busy(self, busy: bool) -> None:
        if not busy and self._create_when_idle:
            self._create_when_idle = False
            self.create_model()

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
            statistics_text(entry.statistics, self.preferences),
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
        self.tools_button.setEnabled(selected)
        self.export_all_button.setEnabled(has_models)
        self.send_button.setEnabled(has_models)
        self._show_summary()

    def show_preferences(self, preferences: Preferences) -> None:
        """Show volumes and propose exports as ``preferences`` ask (the window calls this)."""
        self.preferences = preferences
        header = self.table.horizontalHeaderItem(COL_VOLUME)
        if header is not None:
            header.setText(preferences.volume_unit)
        for model_id in list(self._rows):
            entry = self.session.models.get(model_id)
            if entry is not None:
                self._model_changed(entry)
        self._show_summary()

    def _show_summary(self) -> None:
        """Statistics of the selected models in words under the table."""
        lines = []
        for model_id in self.selected_ids() if self.session.models else []:
            entry = self.session.models.get(model_id)
            if entry is not None:
                lines.append(model_summary(entry.name, entry.statistics, self.preferences))
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
        preferences = self.preferences
        folder = str(Path(self.last_export[0]).parent) if self.last_export else ""
        dialog = ExportDialog(self, names, folder or preferences.export_folder)
        dialog.set_format(preferences.export_format)
        dialog.set_coords(preferences.coordinates)
        self.export_dialog = dialog
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted:
                self.export_models(model_ids, dialog.targets(), dialog.coords())
        finally:
            self.export_dialog = None
            dialog.deleteLater()

    def export_models(
        self, model_ids: list[str], targets: list[Path], coords: str = "lps"
    ) -> Job | None:
        """Write the models to ``targets`` (same order) in a job, each named after its model.

        Each file gets its provenance record (beside it, and inside a 3MF file); the
        records join ``session.provenance`` when the export succeeds.  A DICOM
        Encapsulated STL (.dcm) gets the loaded series as its source.
        """
        session, editor = self.session, self.session.editor
        source = None
        try:
            if any(writer_for("mesh", target).needs_source for target in targets):
                source = source_context(session.stack, session.volume)
        except WorkstationError as problem:
            self.context.report_error(JobError("Export", problem, ""))
            return None
        extra: dict[str, Any] = {} if source is None else {"source": source}
        extra["identities"] = [session.identity]  # de-identified data: export-deidentified
        items = []
        parts = []  # what the records say about each model, copied before the job runs
        for model_id, target in zip(model_ids, targets, strict=True):
            entry = session.models[model_id]
            items.append((replace(entry.mesh, name=entry.name), Path(target)))
            parts.append(record_parts(entry, editor))

        def write(progress: ProgressCallback, cancel: CancelToken) -> tuple[list[Path], list[Any]]:
            sources = session_sources(session, sub_progress(progress, 0.0, 0.3), cancel)
            base = [model_record(sources=sources, **part) for part in parts]
            records: list[dict[str, Any]] = []
            paths = export_models(
                items, coords, sub_progress(progress, 0.3, 1.0), cancel, base, records, **extra
            )
            return paths, records

        def done(result: tuple[list[Path], list[dict[str, Any]]]) -> None:
            paths, records = result
            if session.editor is editor:  # still the case the models belong to
                session.provenance.extend(records)
                session.set_modified(True)
            self.last_export = paths
            self.info_label.setText(
                "Exported " + ", ".join(path.name for path in paths) + f" ({coords.upper()})"
            )
            self.context.show_message(f"Exported {len(paths)} model(s)")

        return self.context.runner.submit(
            "Export", write, on_result=done, on_error=self.context.report_error
        )
