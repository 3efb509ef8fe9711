"""The Guide panel's parts: sleeve and slot tables, the insertion direction, the report.

Each planned line can carry a drill sleeve and each planned plane a saw slot: a row with
a check box (use it) and its sizes.  Rows follow the case's planning objects and keep
their values (by object id) when the list changes.  The insertion direction is none,
the 3D view's direction, a planned line's, or the one a saved plan holds.  The report
tree shows every key of a guide's printability report, warnings first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
)

from workstation.core.planning import PlanningList, PlanningObject, direction
from workstation.gui.widgets import spin_box

ID_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class SizeColumn:
    """One size column: header, JSON key, range and default (mm)."""

    header: str
    key: str
    low: float
    high: float
    default: float


SLEEVE_COLUMNS = (
    SizeColumn("Inner", "inner_diameter_mm", 0.1, 30.0, 2.2),
    SizeColumn("Outer", "outer_diameter_mm", 0.2, 40.0, 5.0),
    SizeColumn("Height", "height_mm", 0.1, 60.0, 8.0),
)
SLOT_COLUMNS = (
    SizeColumn("Width", "width_mm", 0.1, 20.0, 1.2),
    SizeColumn("Length", "length_mm", 0.5, 200.0, 20.0),
    SizeColumn("Depth", "depth_mm", 0.1, 60.0, 8.0),
)


class PlannedPartsTable(QTableWidget):
    """A row per planning object of one kind: use it (check box, name) and its sizes."""

    #: the user ticked a row or changed a size (not emitted while the rows are refilled)
    edited = Signal()

    def __init__(self, kind: str, columns: tuple[SizeColumn, ...]) -> None:
        super().__init__(0, 1 + len(columns))
        self._filling = False
        self.itemChanged.connect(self._item_changed)
        self.kind = kind
        self.columns = columns
        self.setHorizontalHeaderLabels(["Use", *(f"{c.header} mm" for c in columns)])
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.objects: list[PlanningObject] = []

    def set_objects(self, objects: list[PlanningObject]) -> None:
        """Show these objects, keeping the choices and sizes of rows that stay."""
        kept = {obj.object_id: self.row_values(row) for row, obj in enumerate(self.objects)}
        self._filling = True
        try:
            self._fill(objects, kept)
        finally:
            self._filling = False

    def _fill(
        self, objects: list[PlanningObject], kept: dict[str, tuple[bool, dict[str, float]]]
    ) -> None:
        self.setRowCount(0)
        self.objects = list(objects)
        for row, obj in enumerate(self.objects):
            self.insertRow(row)
            item = QTableWidgetItem(obj.name)
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setData(ID_ROLE, obj.object_id)
            used, sizes = kept.get(obj.object_id, (False, {}))
            item.setCheckState(Qt.CheckState.Checked if used else Qt.CheckState.Unchecked)
            self.setItem(row, 0, item)
            for column, size in enumerate(self.columns, start=1):
                spin = spin_box(size.low, size.high, decimals=2, step=0.1)
                spin.setValue(sizes.get(size.key, size.default))
                spin.valueChanged.connect(self._item_changed)
                self.setCellWidget(row, column, spin)

    def _item_changed(self, *_: object) -> None:
        if not self._filling:
            self.edited.emit()

    def row_of(self, object_id: str) -> int:
        """The row of a planning object; KeyError when it has none."""
        for row, obj in enumerate(self.objects):
            if obj.object_id == object_id:
                return row
        raise KeyError(object_id)

    def spin(self, row: int, key: str) -> QDoubleSpinBox:
        """The size field of ``key`` in ``row``."""
        column = 1 + [c.key for c in self.columns].index(key)
        return self.cellWidget(row, column)  # type: ignore[return-value]

    def row_values(self, row: int) -> tuple[bool, dict[str, float]]:
        """(used, sizes) of a row."""
        used = self.item(row, 0).checkState() == Qt.CheckState.Checked
        return used, {c.key: self.spin(row, c.key).value() for c in self.columns}

    def set_row(self, row: int, used: bool, sizes: dict[str, Any]) -> None:
        """Tick or untick a row and fill in the sizes given."""
        state = Qt.CheckState.Checked if used else Qt.CheckState.Unchecked
        self.item(row, 0).setCheckState(state)
        for size in self.columns:
            if isinstance(sizes.get(size.key), int | float):
                self.spin(row, size.key).setValue(float(sizes[size.key]))

    def used(self) -> list[tuple[PlanningObject, dict[str, float]]]:
        """The ticked objects with their sizes."""
        chosen = []
        for row, obj in enumerate(self.objects):
            used, sizes = self.row_values(row)
            if used:
                chosen.append((obj, sizes))
        return chosen


def sleeve_record(line: PlanningObject, sizes: dict[str, float]) -> dict[str, Any]:
    """The PLAN.json sleeve of a planned line (entry → target) with its sizes."""
    entry, target = line.points_lps
    return {"name": line.name, "entry_lps": list(entry), "target_lps": list(target), **sizes}


def slot_record(plane: PlanningObject, sizes: dict[str, float]) -> dict[str, Any]:
    """The PLAN.json slot of a planned plane: its origin, its normal and the sizes."""
    (origin,) = plane.points_lps
    normal = list(plane.normal_lps or (0.0, 0.0, 1.0))
    return {"name": plane.name, "point_lps": list(origin), "normal_lps": normal, **sizes}


def match_row(table: PlannedPartsTable, record: dict[str, Any], point_key: str) -> int | None:
    """The row a saved sleeve or slot belongs to: same name, else same first point."""
    for row, obj in enumerate(table.objects):
        if record.get("name") and obj.name == record.get("name"):
            return row
    point = record.get(point_key)
    for row, obj in enumerate(table.objects):
        if point is not None and np.allclose(obj.points_lps[0], point, atol=1e-6):
            return row
    return None


# -- the insertion direction -------------------------------------------------------------
NO_DIRECTION, VIEW_DIRECTION = "none", "view"


class DirectionChooser(QComboBox):
    """None, the 3D view's direction of projection, a planned line's, or a saved vector."""

    def __init__(self, planning: PlanningList, view_direction: Callable[[], np.ndarray]) -> None:
        super().__init__()
        self.planning = planning
        self.view_direction = view_direction
        self.setToolTip("The direction the guide moves in while it is placed onto the bone")
        self.fill()

    def fill(self) -> None:
        """List the choices for the current planned lines, keeping the chosen one."""
        chosen = self.currentData()
        saved = [
            self.itemData(i) for i in range(self.count()) if isinstance(self.itemData(i), tuple)
        ]
        self.clear()
        self.addItem("None (not checked)", NO_DIRECTION)
        self.addItem("Along the 3D view's direction", VIEW_DIRECTION)
        for line in self.planning.of_kind("line"):
            self.addItem(f"Along {line.name}", line.object_id)
        for vector in saved:
            self._add_saved(vector)
        self.setCurrentIndex(max(self.findData(chosen), 0))

    def _add_saved(self, vector: tuple[float, ...]) -> int:
        value = tuple(float(v) for v in vector)
        for index in range(self.count()):
            if self.itemData(index) == value:
                return index
        text = ", ".join(f"{v:.2f}" for v in value)
        self.addItem(f"Saved direction ({text})", value)
        return self.count() - 1

    def set_saved(self, vector: Any) -> None:
        """Choose a plan's stored direction (None: no direction)."""
        self.setCurrentIndex(0 if vector is None else self._add_saved(tuple(vector)))

    def direction(self) -> list[float] | None:
        """The chosen direction (LPS unit vector), or None."""
        choice = self.currentData()
        if choice == VIEW_DIRECTION:
            vector = np.asarray(self.view_direction(), dtype=np.float64)
        elif isinstance(choice, tuple):
            vector = np.asarray(choice, dtype=np.float64)
        elif isinstance(choice, str) and choice in self.planning:
            vector = direction(self.planning.by_id(choice))
        else:
            return None
        return [float(v) for v in vector / np.linalg.norm(vector)]


# -- the report --------------------------------------------------------------------------
WARNING_COLOR = QColor(179, 92, 0)


def value_text(value: Any) -> str:
    """A report value in words: yes/no, numbers to 3 decimals, lists of numbers in brackets."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        return "[" + ", ".join(value_text(float(v)) for v in value) + "]"
    if value is None:
        return "—"
    return str(value)


def _add(parent: QTreeWidgetItem | QTreeWidget, key: str, value: Any) -> QTreeWidgetItem:
    item = QTreeWidgetItem([key, ""])
    if isinstance(parent, QTreeWidget):
        parent.addTopLevelItem(item)
    else:
        parent.addChild(item)
    if isinstance(value, dict):
        for child_key, child in value.items():
            _add(item, str(child_key), child)
    elif isinstance(value, list | tuple) and not all(isinstance(v, int | float) for v in value):
        for index, child in enumerate(value):
            name = child.get("name") if isinstance(child, dict) else None
            _add(item, str(name or index + 1), child)
        item.setText(1, f"{len(value)}")
    else:
        item.setText(1, value_text(value))
    return item


def fill_report(tree: QTreeWidget, report: dict[str, Any]) -> None:
    """Show every key of a guide report; the warnings come first, in colour."""
    tree.clear()
    warnings = [str(w) for w in report.get("warnings", [])]
    top = QTreeWidgetItem(["warnings", str(len(warnings)) if warnings else "none"])
    tree.addTopLevelItem(top)
    for text in warnings:
        child = QTreeWidgetItem(["", text])
        child.setForeground(1, QBrush(WARNING_COLOR))
        child.setToolTip(1, text)
        top.addChild(child)
    if warnings:
        top.setForeground(0, QBrush(WARNING_COLOR))
    for key, value in report.items():
        if key != "warnings":
            _add(tree, str(key), value)
    tree.expandAll()


def report_rows(tree: QTreeWidget) -> dict[str, str]:
    """Every row of the report tree as "key/child" → value text (for tests and copying)."""
    rows: dict[str, str] = {}

    def walk(item: QTreeWidgetItem, prefix: str) -> None:
        key = f"{prefix}{item.text(0) or item.parent().indexOfChild(item) + 1}"
        rows[key] = item.text(1)
        for index in range(item.childCount()):
            walk(item.child(index), key + "/")

    for index in range(tree.topLevelItemCount()):
        walk(tree.topLevelItem(index), "")
    return rows
