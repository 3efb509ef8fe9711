"""Planning panel: one list of the case's planning objects and measurements.

Each row shows an object's name (double-click to rename; a planning object's box shows
or hides it in the views), kind, LPS coordinates (a point; a line's entry → target; a
plane's origin and normal; a measurement's points), its length or value, and the angle
between the selected line or plane and every other line and plane.  Selecting a row
selects the object in the views (``ViewerState.select_object``) and moves the crosshair
to it; selecting it in the views selects the row.  The rows follow the lists' events: a
drag updates one row, nothing is rebuilt.  Delete (the key or the button) removes the
selected objects; two buttons add a point at the crosshair and a plane through it
across a chosen patient axis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.measurements import Measurement
from workstation.core.planning import (
    KIND_LABELS,
    PlanningObject,
    angle_between_deg,
    line_length_mm,
)

if TYPE_CHECKING:
    from workstation.gui.context import AppContext

COLUMNS = ("Name", "Kind", "LPS (mm)", "Length / value", "Angle")
HEADER_TIPS = (
    "Name (double-click to rename); the box shows or hides a planning object in the views",
    "Point, line (drill trajectory), plane (osteotomy), guide or a measurement",
    "Patient coordinates in mm (LPS): a point; a line's entry → target; "
    "a plane's origin and normal n; a measurement's points",
    "A line's or distance's length, an angle's value, an ROI's mean",
    "Angle between the selected line or plane and this line or plane",
)
COL_NAME, COL_KIND, COL_COORDS, COL_VALUE, COL_ANGLE = range(5)
ID_ROLE = Qt.ItemDataRole.UserRole + 1
DELETE_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)

#: Patient axes a plane can be added across: (label, unit normal in LPS).
PLANE_AXES = (
    ("L (sagittal plane)", (1.0, 0.0, 0.0)),
    ("P (coronal plane)", (0.0, 1.0, 0.0)),
    ("S (axial plane)", (0.0, 0.0, 1.0)),
)

MEASUREMENT_LABELS = {
    "distance": "Distance",
    "angle": "Angle",
    "roi_rectangle": "ROI (rectangle)",
    "roi_ellipse": "ROI (ellipse)",
}

Item = PlanningObject | Measurement


def format_point(point: Any, decimals: int = 1) -> str:
    """'(12.3, -30.3, 45.7)': an LPS point in mm as the list shows it."""
    return "(" + ", ".join(f"{float(c):.{decimals}f}" for c in point) + ")"


def item_id(item: Item) -> str:
    """The id of a planning object or a measurement."""
    return item.object_id if isinstance(item, PlanningObject) else item.measurement_id


def default_name(item: Item) -> str:
    """The name a row shows: the item's own, or 'Distance 2' for an unnamed measurement."""
    if item.name:
        return item.name
    number = item_id(item).rsplit("-", 1)[-1]
    if isinstance(item, PlanningObject):
        return f"{KIND_LABELS[item.kind]} {number}"
    return f"{MEASUREMENT_LABELS.get(item.kind, item.kind)} {number}"


def kind_text(item: Item) -> str:
    """'Line', 'Plane', 'Distance' …"""
    if isinstance(item, PlanningObject):
        return KIND_LABELS[item.kind]
    return MEASUREMENT_LABELS.get(item.kind, item.kind)


def coordinates_text(item: Item, decimals: int = 1) -> str:
    """The item's LPS coordinates as the list shows them."""
    points = [format_point(p, decimals) for p in item.points_lps]
    if isinstance(item, PlanningObject):
        if item.kind == "plane" and item.normal_lps is not None:
            return f"{points[0]} n {format_point(item.normal_lps, 3)}"
        if item.kind == "guide":
            return guide_text(item)
        return " → ".join(points)
    if item.kind == "angle":
        return " – ".join(points)
    return " → ".join(points)


def guide_text(item: PlanningObject) -> str:
    """'2 sleeves, 1 slot' for a guide's plan."""
    plan = item.plan or {}
    sleeves, slots = len(plan.get("sleeves") or []), len(plan.get("slots") or [])
    return f"{sleeves} sleeve{'s' * (sleeves != 1)}, {slots} slot{'s' * (slots != 1)}"


def value_text(item: Item) -> str:
    """A line's or distance's length in mm, an angle in degrees, an ROI's mean."""
    if isinstance(item, PlanningObject):
        return f"{line_length_mm(item):.1f} mm" if item.kind == "line" else ""
    values = item.values
    if item.kind == "distance" and isinstance(values.get("value"), int | float):
        return f"{float(values['value']):.1f} mm"
    if item.kind == "angle" and isinstance(values.get("value"), int | float):
        return f"{float(values['value']):.1f}°"
    mean = values.get("mean")
    if item.kind.startswith("roi_") and isinstance(mean, int | float):
        units = str(values.get("units") or "")
        return f"mean {float(mean):.1f} {units}".rstrip()
    return item.text


def anchor_point(item: Item) -> np.ndarray | None:
    """Where the crosshair goes for an item: its (first) point, a guide's region centre."""
    if item.points_lps:
        return np.asarray(item.points_lps[0], dtype=float)
    if isinstance(item, PlanningObject) and item.plan:
        sphere = (item.plan.get("region") or {}).get("sphere") or {}
        centre = sphere.get("center_lps")
        if isinstance(centre, list | tuple) and len(centre) == 3:
            return np.asarray(centre, dtype=float)
    return None


def has_direction(item: Item | None) -> bool:
    """True for a planning line (with two distinct points) or plane."""
    if not isinstance(item, PlanningObject):
        return False
    if item.kind == "plane":
        return True
    return item.kind == "line" and line_length_mm(item) > 1e-9


class _DeleteKey(QObject):
    """Delete (or Backspace) in the table removes the selected objects."""

    def __init__(self, panel: PlanningPanel) -> None:
        super().__init__(panel)
        self.panel = panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and event.key() in DELETE_KEYS  # type: ignore[attr-defined]
            and self.panel.table.state() != QAbstractItemView.State.EditingState
        ):
            self.panel.delete_selected()
            return True
        return False


class PlanningPanel(QWidget):
    """The "Planning" tab: the case's planning objects and measurements in one table."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("planningPanel")
        self.context = context
        self.session = context.session
        self.viewer = context.viewer
        self._updating = False
        #: True while the row selection follows the views (no crosshair move)
        self._following = False

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("planningTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tip in enumerate(HEADER_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self._delete_key = _DeleteKey(self)
        self.table.installEventFilter(self._delete_key)

        self.add_point_button = QPushButton("Add point")
        self.add_point_button.setObjectName("addPlanningPoint")
        self.add_point_button.setToolTip("Add a point at the crosshair")
        self.add_point_button.clicked.connect(self.add_point)
        self.axis_combo = QComboBox()
        self.axis_combo.setObjectName("planeAxis")
        for label, normal in PLANE_AXES:
            self.axis_combo.addItem(label, normal)
        self.axis_combo.setCurrentIndex(2)
        self.axis_combo.setToolTip("The patient axis the new plane's normal points along")
        self.add_plane_button = QPushButton("Add plane")
        self.add_plane_button.setObjectName("addPlanningPlane")
        self.add_plane_button.setToolTip("Add a plane through the crosshair, across the axis")
        self.add_plane_button.clicked.connect(self.add_plane)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("deletePlanning")
        self.delete_button.setToolTip("Delete the selected objects (Delete)")
        self.delete_button.clicked.connect(self.delete_selected)
        add_row = QHBoxLayout()
        add_row.addWidget(self.add_point_button)
        add_row.addWidget(self.add_plane_button)
        add_row.addWidget(self.axis_combo)
        add_row.addStretch(1)
        add_row.addWidget(self.delete_button)
        self.info_label = QLabel("")
        self.info_label.setObjectName("planningInfo")
        self.info_label.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(add_row)
        layout.addWidget(self.info_label)

        for source in (self.session.planning, self.session.measurements):
            source.subscribe("added", self._added)
            source.subscribe("removed", self._removed)
            source.subscribe("changed", self._changed)
            source.subscribe("cleared", self._cleared)
        self.session.subscribe("volume", self._volume_changed)
        self.viewer.subscribe("selected_object", self._viewer_selected)
        for item in [*self.session.planning.items, *self.session.measurements.items]:
            self._added(item)
        self._volume_changed(self.session.volume)
        self._selection_changed()

    # -- items ----------------------------------------------------------------------
    def item(self, object_id: str) -> Item | None:
        """The planning object or measurement with this id, or None."""
        for source in (self.session.planning, self.session.measurements):
            try:
                return source.by_id(object_id)
            except KeyError:
                continue
        return None

    def row_of(self, object_id: str) -> int | None:
        """The table row showing ``object_id`` (None when it has none)."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, COL_NAME).data(ID_ROLE) == object_id:
                return row
        return None

    def id_at(self, row: int) -> str:
        """The id shown in table row ``row``."""
        return str(self.table.item(row, COL_NAME).data(ID_ROLE))

    def row_ids(self) -> list[str]:
        """The ids of every row, in table order."""
        return [self.id_at(row) for row in range(self.table.rowCount())]

    def selected_ids(self) -> list[str]:
        """Ids of the selected rows, in table order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.id_at(row) for row in rows]

    # -- rows -----------------------------------------------------------------------
    def _added(self, item: Item) -> None:
        if self.row_of(item_id(item)) is not None:
            self._changed(item)
            return
        self._updating = True
        try:
            row = self._insert_row(item)
            self.table.insertRow(row)
            for column in range(len(COLUMNS)):
                cell = QTableWidgetItem()
                flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                if column == COL_NAME:
                    flags |= Qt.ItemFlag.ItemIsEditable
                    if isinstance(item, PlanningObject):
                        flags |= Qt.ItemFlag.ItemIsUserCheckable
                    cell.setData(ID_ROLE, item_id(item))
                if column in (COL_VALUE, COL_ANGLE):
                    cell.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                cell.setFlags(flags)
                self.table.setItem(row, column, cell)
        finally:
            self._updating = False
        self._changed(item)

    def _insert_row(self, item: Item) -> int:
        """Planning objects above the measurements, each group in the order made."""
        if isinstance(item, Measurement):
            return self.table.rowCount()
        for row in range(self.table.rowCount()):
            if isinstance(self.item(self.id_at(row)), Measurement):
                return row
        return self.table.rowCount()

    def _changed(self, item: Item) -> None:
        row = self.row_of(item_id(item))
        if row is None:
            return
        self._updating = True
        try:
            texts = {
                COL_NAME: default_name(item),
                COL_KIND: kind_text(item),
                COL_COORDS: coordinates_text(item),
                COL_VALUE: value_text(item),
            }
            for column, text in texts.items():
                cell = self.table.item(row, column)
                if cell.text() != text:
                    cell.setText(text)
            self.table.item(row, COL_COORDS).setToolTip(coordinates_text(item, 3))
            if isinstance(item, PlanningObject):
                state = Qt.CheckState.Checked if item.visible else Qt.CheckState.Unchecked
                if self.table.item(row, COL_NAME).checkState() != state:
                    self.table.item(row, COL_NAME).setCheckState(state)
        finally:
            self._updating = False
        if isinstance(item, PlanningObject) and item.kind in ("line", "plane"):
            if item.object_id == self.viewer.selected_object:
                self._show_angles()
            else:
                self._show_angle(row, self._reference())

    def _removed(self, item: Item) -> None:
        row = self.row_of(item_id(item))
        if row is not None:
            self._updating = True
            try:
                self.table.removeRow(row)
            finally:
                self._updating = False
        if self.viewer.selected_object == item_id(item):
            self.viewer.select_object(None)
        self._selection_changed()

    def _cleared(self, _payload: object = None) -> None:
        """A list was emptied: its rows (ids no list holds any more) go."""
        self._updating = True
        try:
            for row in reversed(range(self.table.rowCount())):
                if self.item(self.id_at(row)) is None:
                    self.table.removeRow(row)
        finally:
            self._updating = False
        selected = self.viewer.selected_object
        if selected is not None and self.item(selected) is None:
            self.viewer.select_object(None)
        self._selection_changed()

    def _volume_changed(self, volume: object) -> None:
        has_case = volume is not None
        self.add_point_button.setEnabled(has_case)
        self.add_plane_button.setEnabled(has_case)
        self.axis_combo.setEnabled(has_case)

    # -- angles ---------------------------------------------------------------------
    def _reference(self) -> PlanningObject | None:
        selected = self.viewer.selected_object
        item = None if selected is None else self.item(selected)
        return item if has_direction(item) else None  # type: ignore[return-value]

    def _show_angles(self) -> None:
        reference = self._reference()
        for row in range(self.table.rowCount()):
            self._show_angle(row, reference)

    def _show_angle(self, row: int, reference: PlanningObject | None) -> None:
        item = self.item(self.id_at(row))
        text = ""
        if reference is not None and has_direction(item):
            assert isinstance(item, PlanningObject)
            if item.object_id == reference.object_id:
                text = "selected"
            else:
                text = f"{angle_between_deg(reference, item):.1f}°"
        cell = self.table.item(row, COL_ANGLE)
        if cell.text() != text:
            self._updating = True
            try:
                cell.setText(text)
            finally:
                self._updating = False

    # -- editing --------------------------------------------------------------------
    def _item_changed(self, cell: QTableWidgetItem) -> None:
        if self._updating or cell.column() != COL_NAME:
            return
        object_id = str(cell.data(ID_ROLE))
        item = self.item(object_id)
        if item is None:
            return
        if isinstance(item, PlanningObject):
            visible = cell.checkState() == Qt.CheckState.Checked
            if visible != item.visible:
                item = self.session.planning.update(object_id, visible=visible)
        name = cell.text().strip()
        if not name or name == default_name(item):
            self._changed(item)  # nothing to rename: show the name again
            return
        self.rename(object_id, name)

    def rename(self, object_id: str, name: str) -> None:
        """Rename a planning object or measurement (through its list, so views follow)."""
        item = self.item(object_id)
        if isinstance(item, PlanningObject):
            self.session.planning.update(object_id, name=name)
        elif isinstance(item, Measurement):
            self.session.measurements.update(object_id, name=name)

    def delete_selected(self) -> None:
        """Delete the selected planning objects and measurements."""
        ids = self.selected_ids()
        for object_id in ids:
            item = self.item(object_id)
            if isinstance(item, PlanningObject):
                self.session.planning.remove(object_id)
            elif isinstance(item, Measurement):
                self.session.measurements.remove(object_id)
        if ids:
            self.info_label.setText(f"Deleted {len(ids)} object{'s' * (len(ids) != 1)}")

    def add_point(self) -> PlanningObject | None:
        """Add a point at the crosshair and select it."""
        if self.session.volume is None:
            return None
        point = self.session.planning.add("point", [tuple(self.viewer.crosshair_lps)])
        self.viewer.select_object(point.object_id)
        return point

    def add_plane(self) -> PlanningObject | None:
        """Add a plane through the crosshair across the chosen axis and select it."""
        if self.session.volume is None:
            return None
        normal = self.axis_combo.currentData()
        plane = self.session.planning.add(
            "plane", [tuple(self.viewer.crosshair_lps)], normal_lps=tuple(normal)
        )
        self.viewer.select_object(plane.object_id)
        return plane

    # -- selection ------------------------------------------------------------------
    def _selection_changed(self) -> None:
        if self._updating:
            return
        ids = self.selected_ids()
        self.delete_button.setEnabled(bool(ids))
        if not self._following:
            current = self.table.currentRow()
            current_id = self.id_at(current) if 0 <= current < self.table.rowCount() else None
            chosen = current_id if current_id in ids else (ids[0] if ids else None)
            if chosen != self.viewer.selected_object:
                self.viewer.select_object(chosen)
                item = None if chosen is None else self.item(chosen)
                point = None if item is None else anchor_point(item)
                if point is not None:
                    self.viewer.set_crosshair(point)
        self._show_angles()

    def _viewer_selected(self, object_id: str | None) -> None:
        if object_id is not None and object_id in self.selected_ids():
            self._show_angles()
            return
        self._following = True
        try:
            row = None if object_id is None else self.row_of(object_id)
            if row is None:
                self.table.clearSelection()
            else:
                self.table.setCurrentCell(row, COL_NAME)
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, COL_NAME))
        finally:
            self._following = False
        self._show_angles()
