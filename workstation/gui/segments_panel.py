"""Segments panel: the editor's segment list (show, colour, rename, select) and its actions.

3D Slicer's Segment Editor habits: an eye per segment, a colour swatch (click to change),
double-click to rename, the selected row is the segment the editing tools change.  Every
change is an operation record submitted to the window's edit queue, so edits apply in
order and each is one undo step; statistics are computed off the UI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import WorkstationError
from workstation.core.operations import read_operations
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.core.segmentation import Segment, Segmentation
from workstation.core.volume import Volume
from workstation.gui.context import AppContext
from workstation.gui.segment_properties import SegmentProperties
from workstation.gui.tools.options import EditOptions
from workstation.gui.tools.seeds import seed_points
from workstation.gui.widgets import push_button
from workstation.gui.workers import JobError
from workstation.services.export import write_operations
from workstation.services.segment_editor import SegmentEditor
from workstation.services.segment_statistics import segment_statistics

#: Columns of the segment list.
EYE_COLUMN, COLOR_COLUMN, NAME_COLUMN = 0, 1, 2
SEGMENT_ID_ROLE = Qt.ItemDataRole.UserRole
LOGICAL_OPERATIONS = (
    ("union", "Add (union)"),
    ("subtract", "Subtract"),
    ("intersect", "Intersect"),
)
#: Statistics columns: (heading, key of ``segment_statistics``, number format).
STATISTICS_COLUMNS = (
    ("Voxels", "voxels", "{:d}"),
    ("Volume mm³", "volume_mm3", "{:.1f}"),
    ("Surface mm²", "surface_area_mm2", "{:.1f}"),
    ("Mean", "mean", "{:.1f}"),
    ("SD", "std", "{:.1f}"),
    ("Min", "minimum", "{:g}"),
    ("Max", "maximum", "{:g}"),
    ("Box min (LPS)", "bbox_min_lps", "{}"),
    ("Box max (LPS)", "bbox_max_lps", "{}"),
)
OPERATIONS_FILTER = "Operations (*.json);;All files (*)"


def to_qcolor(color: tuple[float, float, float]) -> QColor:
    """A QColor of an RGB 0..1 colour."""
    return QColor.fromRgbF(*(min(max(float(c), 0.0), 1.0) for c in color))


def statistics_text(value: Any, pattern: str) -> str:
    """One table cell: a number in its format, a point as 'x, y, z', '' for None."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(f"{float(v):.1f}" for v in value)
    return pattern.format(value)


def _statistics_job(
    volume: Volume, segmentation: Segmentation, progress: ProgressCallback, cancel: CancelToken
) -> dict[str, dict[str, Any]]:
    progress(0.0, "Measuring segments")
    return segment_statistics(volume, segmentation)


class SegmentsPanel(QWidget):
    """The editor's segments with their display, and the segment-level edits."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("segmentsPanel")
        self.context = context
        self._editor: SegmentEditor | None = None
        self._filling = False
        self._select_name: str | None = None
        self.seeds = seed_points(context)
        #: asks the user for a colour / file paths (replaceable, e.g. by tests)
        self.choose_color = lambda initial: QColorDialog.getColor(initial, self, "Segment colour")
        self.choose_save_path = lambda: QFileDialog.getSaveFileName(
            self, "Export operations", "operations.json", OPERATIONS_FILTER
        )[0]
        self.choose_open_path = lambda: QFileDialog.getOpenFileName(
            self, "Import operations", "", OPERATIONS_FILTER
        )[0]

        self.tree = QTreeWidget()
        self.tree.setObjectName("segmentList")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Show", "Colour", "Name"])
        self.tree.setRootIsDecorated(False)
        self.tree.setEditTriggers(QTreeWidget.EditTrigger.DoubleClicked)
        self.tree.setMinimumHeight(140)
        self.tree.itemChanged.connect(self._item_changed)
        self.tree.itemClicked.connect(self._item_clicked)
        self.tree.currentItemChanged.connect(self._current_changed)

        self.add_button = push_button("Add", "Add an empty segment", self.add_segment)
        self.delete_button = push_button(
            "Delete", "Delete the selected segment", self.delete_segment
        )
        self.duplicate_button = push_button(
            "Duplicate", "Copy the selected segment", self.duplicate
        )
        self.up_button = push_button("Up", "Move the selected segment up", lambda: self.move(-1))
        self.down_button = push_button(
            "Down", "Move the selected segment down", lambda: self.move(1)
        )
        self.split_button = push_button(
            "Split islands", "One segment per connected island", self.split_islands
        )
        self.fill_button = push_button(
            "Fill between slices", "Interpolate the slices painted in between", self.fill_between
        )
        self.grow_button = push_button(
            "Grow from seeds",
            "Grow every seeded segment from its seeds (Seeds tool), within the editable range",
            self.grow_from_seeds,
        )
        self.clear_seeds_button = push_button("Clear seeds", "Forget all seeds", self.seeds.clear)
        self.seeds_label = QLabel("")
        self.model_button = push_button(
            "Create model", "Build the surface model of the selected segment", self.create_model
        )
        self.all_models_button = push_button(
            "Models of all", "One surface model per non-empty segment", self.create_all_models
        )
        self.logical_combo = QComboBox()
        for key, label in LOGICAL_OPERATIONS:
            self.logical_combo.addItem(label, key)
        self.other_combo = QComboBox()
        self.other_combo.setToolTip("The other segment")
        self.logical_button = push_button(
            "Apply", "Combine the other segment into the selected one", self.apply_logical
        )
        self.options = EditOptions(context)
        self.properties = SegmentProperties(context)
        self.statistics_button = push_button(
            "Update statistics", "Measure every segment", self.update_statistics
        )
        self.statistics_label = QLabel("")
        self.statistics_table = QTableWidget(0, len(STATISTICS_COLUMNS))
        self.statistics_table.setHorizontalHeaderLabels([c[0] for c in STATISTICS_COLUMNS])
        self.statistics_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.statistics: dict[str, dict[str, Any]] = {}
        self.export_button = push_button(
            "Export…", "Save the operations as a JSON file", self.export_operations
        )
        self.import_button = push_button(
            "Import…", "Apply the operations of a JSON file, in order", self.import_operations
        )
        self._build_layout()

        context.session.subscribe("editor", self.set_editor)
        context.viewer.subscribe("segment", self._selection_changed)
        self.seeds.subscribe(self._update_buttons)
        self.set_editor(context.session.editor)

    def _build_layout(self) -> None:
        rows = QHBoxLayout()
        for button in (self.add_button, self.delete_button, self.duplicate_button):
            rows.addWidget(button)
        rows.addWidget(self.up_button)
        rows.addWidget(self.down_button)
        actions = QGroupBox("Selected segment")
        grid = QGridLayout(actions)
        grid.addWidget(self.split_button, 0, 0)
        grid.addWidget(self.fill_button, 0, 1)
        grid.addWidget(self.grow_button, 1, 0)
        grid.addWidget(self.clear_seeds_button, 1, 1)
        grid.addWidget(self.seeds_label, 2, 0, 1, 2)
        grid.addWidget(self.model_button, 3, 0)
        grid.addWidget(self.all_models_button, 3, 1)
        logical = QHBoxLayout()
        logical.addWidget(self.logical_combo)
        logical.addWidget(QLabel("with"))
        logical.addWidget(self.other_combo, 1)
        logical.addWidget(self.logical_button)
        grid.addLayout(logical, 4, 0, 1, 2)
        grid.addWidget(self.properties, 5, 0, 1, 2)
        statistics = QGroupBox("Statistics")
        statistics_layout = QVBoxLayout(statistics)
        header = QHBoxLayout()
        header.addWidget(self.statistics_button)
        header.addWidget(self.statistics_label, 1)
        statistics_layout.addLayout(header)
        statistics_layout.addWidget(self.statistics_table)
        operations = QGroupBox("Operations")
        operations_row = QHBoxLayout(operations)
        operations_row.addWidget(self.export_button)
        operations_row.addWidget(self.import_button)
        content = QWidget()
        column = QVBoxLayout(content)
        column.addLayout(rows)
        column.addWidget(self.tree)
        for part in (actions, self.options, statistics, operations):
            column.addWidget(part)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # -- editor -----------------------------------------------------------------------
    def set_editor(self, editor: SegmentEditor | None) -> None:
        """Show the segments of ``editor`` (a new one comes with every volume)."""
        if self._editor is not None:
            self._editor.unsubscribe("segments", self._segments_changed)
            self._editor.unsubscribe("voxels", self._voxels_changed)
        self._editor = editor
        if editor is not None:
            editor.subscribe("segments", self._segments_changed)
            editor.subscribe("voxels", self._voxels_changed)
        self._show_statistics({})
        self._fill()

    def _segments_changed(self, _payload: object) -> None:
        self._fill()
        self._statistics_outdated()

    def _voxels_changed(self, _payload: object) -> None:
        self._statistics_outdated()

    def segments(self) -> list[Segment]:
        """The segments in list order (none without a volume)."""
        return [] if self._editor is None else list(self._editor.segmentation.segments)

    def _fill(self) -> None:
        self._filling = True
        try:
            self.tree.clear()
            for segment in self.segments():
                item = QTreeWidgetItem()
                item.setData(NAME_COLUMN, SEGMENT_ID_ROLE, segment.segment_id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                shown = Qt.CheckState.Checked if segment.visible else Qt.CheckState.Unchecked
                item.setCheckState(EYE_COLUMN, shown)
                item.setToolTip(EYE_COLUMN, "Show or hide in the views")
                item.setBackground(COLOR_COLUMN, to_qcolor(segment.color))
                item.setToolTip(COLOR_COLUMN, "Click to change the colour")
                item.setText(NAME_COLUMN, segment.name)
                item.setToolTip(NAME_COLUMN, "Double-click to rename")
                self.tree.addTopLevelItem(item)
            wanted = self.context.viewer.selected_segment
            if self._select_name is not None and self._editor is not None:
                added = self._editor.segmentation.by_name(self._select_name)
                if added is not None:
                    wanted, self._select_name = added.segment_id, None
            self._select_row(wanted)
        finally:
            self._filling = False
        self._update_buttons()

    def _item_for(self, segment_id: str | None) -> QTreeWidgetItem | None:
        for row in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(row)
            if item.data(NAME_COLUMN, SEGMENT_ID_ROLE) == segment_id:
                return item
        return None

    def _select_row(self, segment_id: str | None) -> None:
        item = self._item_for(segment_id)
        if item is None and self.tree.topLevelItemCount():
            item = self.tree.topLevelItem(self.tree.topLevelItemCount() - 1)
        self.tree.setCurrentItem(item)
        chosen = None if item is None else item.data(NAME_COLUMN, SEGMENT_ID_ROLE)
        self.context.viewer.select_segment(chosen)

    def _update_buttons(self) -> None:
        selected = self.selected_segment()
        names = [s.name for s in self.segments() if selected is None or s is not selected]
        current_other = self.other_combo.currentText()
        self.other_combo.clear()
        self.other_combo.addItems(names)
        if current_other in names:
            self.other_combo.setCurrentText(current_other)
        has_volume = self._editor is not None
        for button in (self.add_button, self.import_button, self.statistics_button):
            button.setEnabled(has_volume)
        for button in (
            self.delete_button, self.duplicate_button, self.up_button, self.down_button,
            self.split_button, self.fill_button, self.model_button,
        ):  # fmt: skip
            button.setEnabled(selected is not None)
        self.logical_button.setEnabled(selected is not None and bool(names))
        self.all_models_button.setEnabled(bool(self.segments()))
        count = self.seeds.count()
        self.grow_button.setEnabled(count > 0)
        self.clear_seeds_button.setEnabled(count > 0)
        self.seeds_label.setText(f"{count} seed{'s' if count != 1 else ''}" if count else "")
        self.export_button.setEnabled(bool(self._editor and self._editor.operations))

    # -- selection --------------------------------------------------------------------
    def selected_segment(self) -> Segment | None:
        """The segment the editing tools change, or None."""
        return self.context.selected_segment()

    def _current_changed(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        if not self._filling and current is not None:
            self.context.viewer.select_segment(current.data(NAME_COLUMN, SEGMENT_ID_ROLE))

    def _selection_changed(self, segment_id: str | None) -> None:
        item = self._item_for(segment_id)
        if item is not None and item is not self.tree.currentItem():
            self._filling = True
            self.tree.setCurrentItem(item)
            self._filling = False
        self._update_buttons()

    # -- list edits -------------------------------------------------------------------
    def _segment_of(self, item: QTreeWidgetItem) -> Segment | None:
        if self._editor is None:
            return None
        try:
            return self._editor.segmentation.by_id(item.data(NAME_COLUMN, SEGMENT_ID_ROLE))
        except KeyError:
            return None

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        segment = None if self._filling else self._segment_of(item)
        if segment is None or self._editor is None:
            return
        if column == EYE_COLUMN:
            visible = item.checkState(EYE_COLUMN) == Qt.CheckState.Checked
            self._editor.set_display(segment.segment_id, visible=visible)
        elif column == NAME_COLUMN:
            name = item.text(NAME_COLUMN).strip()
            if name and name != segment.name:
                self.submit({"op": "rename_segment", "segment": segment.name, "name": name})
            else:
                self._fill()

    def _item_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        segment = self._segment_of(item) if column == COLOR_COLUMN else None
        if segment is None:
            return
        chosen = self.choose_color(to_qcolor(segment.color))
        if chosen is not None and chosen.isValid():
            color = [round(chosen.redF(), 4), round(chosen.greenF(), 4), round(chosen.blueF(), 4)]
            self.submit({"op": "set_segment", "segment": segment.name, "color": color})

    def add_segment(self) -> None:
        """Add an empty segment called "Segment N" (the first free N) and select it."""
        if self._editor is None:
            return
        names = set(self._editor.segmentation.names)
        number = len(names) + 1
        while f"Segment {number}" in names:
            number += 1
        self._select_name = f"Segment {number}"
        self.submit({"op": "add_segment", "name": self._select_name})

    def delete_segment(self) -> None:
        """Delete the selected segment."""
        segment = self.selected_segment()
        if segment is not None:
            self.submit({"op": "remove_segment", "segment": segment.name})

    def duplicate(self) -> None:
        """Copy the selected segment (voxels and colour) under a new name."""
        segment = self.selected_segment()
        if segment is not None and self._editor is not None:
            name = self._editor.segmentation.unique_name(f"{segment.name} copy")
            self._select_name = name
            self.submit({"op": "duplicate_segment", "segment": segment.name, "name": name})

    def move(self, step: int) -> None:
        """Move the selected segment up (-1) or down (+1) the list (drawn later = on top)."""
        segment = self.selected_segment()
        if segment is None or self._editor is None:
            return
        index = self._editor.segmentation.index_of(segment.segment_id) + step
        if 0 <= index < len(self._editor.segmentation):
            self.submit({"op": "move_segment", "segment": segment.name, "index": index})

    # -- segment actions --------------------------------------------------------------
    def _on_selected(self, **fields: Any) -> None:
        segment = self.selected_segment()
        if segment is not None:
            self.submit({**fields, "segment": segment.name})

    def split_islands(self) -> None:
        """One segment per island of the selected segment."""
        self._on_selected(op="islands", mode="split")

    def fill_between(self) -> None:
        """Fill the slices between the painted ones of the selected segment."""
        self._on_selected(op="interpolate")

    def apply_logical(self) -> None:
        """Union, subtract or intersect the other segment into the selected one."""
        other = self.other_combo.currentText()
        if other:
            self._on_selected(op="logical", other=other, operation=self.logical_combo.currentData())

    def grow_from_seeds(self) -> None:
        """One ``grow_from_seeds`` record of every seeded segment, then forget the seeds."""
        if self._editor is None or not self.seeds.count():
            return
        names = {s.segment_id: s.name for s in self.segments()}
        record = self.seeds.record(names, self.context.viewer.brush.intensity_range)
        if record["seeds"]:
            self.submit(record)
        self.seeds.clear()

    def create_model(self) -> None:
        """Build the surface model of the selected segment (in the background)."""
        from workstation.gui.model_jobs import start_segment_model

        segment = self.selected_segment()
        if segment is not None:
            start_segment_model(self.context, segment.segment_id)

    def create_all_models(self) -> None:
        """One surface model per non-empty segment."""
        from workstation.gui.model_jobs import start_segment_model

        for segment in self.segments():
            if not segment.empty:
                start_segment_model(self.context, segment.segment_id)

    def submit(self, record: dict) -> None:
        """Queue one operation (computed in order, one undo step each)."""
        self.context.edits.submit(record)

    # -- statistics -------------------------------------------------------------------
    def update_statistics(self) -> None:
        """Measure every segment in the background (a snapshot: edits may go on)."""
        editor, volume = self._editor, self.context.session.volume
        if editor is None or volume is None:
            return
        snapshot = editor.segmentation.snapshot()
        self.statistics_label.setText("Measuring…")
        self.context.runner.submit(
            "Segment statistics",
            _statistics_job,
            volume,
            snapshot,
            on_result=lambda result, editor=editor: self._statistics_ready(editor, result),
            on_error=self.context.report_error,
        )

    def _statistics_ready(self, editor: SegmentEditor, result: dict[str, dict[str, Any]]) -> None:
        if editor is self._editor:
            self._show_statistics(result)

    def _show_statistics(self, result: dict[str, dict[str, Any]]) -> None:
        self.statistics = result
        table = self.statistics_table
        table.setRowCount(len(result))
        table.setVerticalHeaderLabels(list(result))
        for row, values in enumerate(result.values()):
            for column, (_, key, pattern) in enumerate(STATISTICS_COLUMNS):
                table.setItem(row, column, QTableWidgetItem(statistics_text(values[key], pattern)))
        self.statistics_label.setText("")

    def _statistics_outdated(self) -> None:
        if self.statistics:
            self.statistics_label.setText("Out of date: update to measure again")
        self._update_buttons()

    # -- operation files --------------------------------------------------------------
    def export_operations(self, path: str | None = None) -> None:
        """Save the operations applied so far as ``{"segments": [], "operations": [...]}``."""
        if self._editor is None:
            return
        path = path or self.choose_save_path()
        if not path:
            return
        try:
            write_operations(path, self._editor.operations)
        except WorkstationError as problem:
            self.context.report_error(JobError("Export operations", problem, ""))
            return
        self.context.show_message(f"Saved {len(self._editor.operations)} operation(s) to {path}")

    def import_operations(self, path: str | None = None) -> None:
        """Apply the segments and operations of a JSON file in order (each one undo step)."""
        if self._editor is None:
            return
        path = path or self.choose_open_path()
        if not path:
            return
        try:
            segments, operations = read_operations(path)
        except WorkstationError as problem:
            self.context.report_error(JobError("Import operations", problem, ""))
            return
        for record in segments + operations:
            self.submit(record)
        self.context.show_message(f"Applying {len(segments) + len(operations)} operation(s)")
