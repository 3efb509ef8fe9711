"""Dialogs of the model tools: each turns its controls into the parameters of one mesh tool.

Every dialog reads the case's planning objects (planes for cuts and mirrors, lines for
drain holes and rotation axes) and the crosshair, and gives ``parameters()`` in the form
``services.mesh_tools.run_mesh_tool`` takes (LPS millimetres), so the GUI and
``workstation mesh-tool`` run the same operation.  The geometry itself is the service's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.planning import PlanningObject, direction
from workstation.processing.guides.rigid_transform import (
    compose,
    rotation_matrix,
    translation_matrix,
)

if TYPE_CHECKING:
    from workstation.gui.context import AppContext

#: Crosshair planes offered for cuts: name → patient normal (used without a volume shown).
CROSSHAIR_PLANES = {
    "axial": (0.0, 0.0, 1.0),
    "coronal": (0.0, 1.0, 0.0),
    "sagittal": (1.0, 0.0, 0.0),
}
#: Rotation axes by patient letter.
AXES = {"L": (1.0, 0.0, 0.0), "P": (0.0, 1.0, 0.0), "S": (0.0, 0.0, 1.0)}
DATA_ROLE = Qt.ItemDataRole.UserRole + 1


def planning_objects(context: AppContext, kind: str) -> list[PlanningObject]:
    """The case's planning objects of ``kind`` ("plane", "line"…), or none."""
    planning = getattr(context.session, "planning", None)
    return [] if planning is None else list(planning.of_kind(kind))


def crosshair(context: AppContext) -> np.ndarray:
    """The crosshair point in LPS mm."""
    return np.asarray(context.viewer.crosshair_lps, dtype=np.float64).copy()


def crosshair_plane(context: AppContext, view_name: str) -> dict[str, list[float]]:
    """The plane of a slice view through the crosshair (the view's own normal when shown)."""
    normal = np.asarray(CROSSHAIR_PLANES[view_name], dtype=np.float64)
    try:
        plane = context.views.slice_view(view_name).plane
    except (AttributeError, KeyError):
        plane = None
    if plane is not None:
        normal = np.asarray(plane.normal, dtype=np.float64)
    return {"point_lps": crosshair(context).tolist(), "normal_lps": normal.tolist()}


def planning_plane(obj: PlanningObject) -> dict[str, list[float]]:
    """A planning plane as the mesh tools' {"point_lps", "normal_lps"}."""
    return {"point_lps": list(obj.points_lps[0]), "normal_lps": direction(obj).tolist()}


def drain_hole(obj: PlanningObject, diameter_mm: float) -> dict[str, Any]:
    """A drain hole along a planning line: at its entry, towards its target."""
    return {
        "point_lps": list(obj.points_lps[0]),
        "direction_lps": direction(obj).tolist(),
        "diameter_mm": float(diameter_mm),
    }


def mesh_centroid(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Centre of the enclosed volume of a closed surface (the vertex mean when it has none)."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    volumes = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    total = float(volumes.sum())
    if abs(total) < 1e-9:
        return vertices.mean(axis=0) if len(vertices) else np.zeros(3)
    return ((a + b + c) / 4.0 * volumes[:, None]).sum(axis=0) / total


def spin(
    low: float, high: float, value: float, step: float = 0.5, decimals: int = 2, suffix: str = " mm"
) -> QDoubleSpinBox:
    """A double spin box with a range, a value and a unit."""
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


class ToolDialog(QDialog):
    """A tool's parameters for the selected model(s), with "Hide original" and OK/Cancel."""

    tool = ""
    title = ""

    def __init__(self, context: AppContext, model_ids: list[str], parent: QWidget | None) -> None:
        super().__init__(parent)
        self.context = context
        self.model_ids = list(model_ids)
        self.setObjectName(f"{self.tool}ToolDialog")
        names = ", ".join(context.session.models[m].name for m in self.model_ids)
        self.setWindowTitle(f"{self.title}: {names}")
        self.form = QFormLayout()
        self.hide_original = QCheckBox("Hide original")
        self.hide_original.setToolTip("Hide the model(s) the tool starts from (they are kept)")
        self.error_label = QLabel("")
        self.error_label.setObjectName("toolDialogError")
        self.error_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.hide_original)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def ok_button(self) -> Any:
        """The OK button (tests click it)."""
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def inputs(self) -> list[str]:
        """Ids of the models the tool takes, in order."""
        return self.model_ids

    def parameters(self) -> dict[str, Any]:
        """The mesh tool's parameters; ValueError with a sentence when the choice is incomplete."""
        raise NotImplementedError

    def accept(self) -> None:
        """Close only when the parameters are complete; otherwise say what is missing."""
        try:
            self.parameters()
        except ValueError as error:
            self.error_label.setText(str(error))
            return
        super().accept()

    def checked_list(self, items: list[tuple[str, Any]]) -> QListWidget:
        """A list of checkable entries (text, data), all unchecked."""
        widget = QListWidget()
        for text, data in items:
            item = QListWidgetItem(text)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setData(DATA_ROLE, data)
            widget.addItem(item)
        widget.setMaximumHeight(140)
        return widget


def checked_data(widget: QListWidget) -> list[Any]:
    """Data of the checked entries of a checkable list."""
    return [
        widget.item(row).data(DATA_ROLE)
        for row in range(widget.count())
        if widget.item(row).checkState() == Qt.CheckState.Checked
    ]


def check_item(widget: QListWidget, data: Any, checked: bool = True) -> None:
    """Tick (or untick) the entry holding ``data``."""
    for row in range(widget.count()):
        if widget.item(row).data(DATA_ROLE) == data:
            state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
            widget.item(row).setCheckState(state)
            return
    raise KeyError(data)


class CutDialog(ToolDialog):
    """Cut by one or more planes (planning planes or crosshair planes) into capped pieces."""

    tool, title = "cut", "Cut by planes"

    def __init__(self, context: AppContext, model_ids: list[str], parent: QWidget | None) -> None:
        super().__init__(context, model_ids, parent)
        entries: list[tuple[str, Any]] = [
            (f"{obj.name} (planning plane)", obj.object_id)
            for obj in planning_objects(context, "plane")
        ]
        entries += [
            (f"{name.capitalize()} plane at the crosshair", name) for name in CROSSHAIR_PLANES
        ]
        self.plane_list = self.checked_list(entries)
        self.plane_list.setObjectName("cutPlanes")
        self.form.addRow("Planes", self.plane_list)

    def parameters(self) -> dict[str, Any]:
        chosen = checked_data(self.plane_list)
        if not chosen:
            raise ValueError("Tick at least one plane to cut along.")
        planes = []
        for key in chosen:
            if key in CROSSHAIR_PLANES:
                planes.append(crosshair_plane(self.context, key))
            else:
                planes.append(planning_plane(self.context.session.planning.by_id(key)))
        return {"planes": planes}


class BooleanDialog(ToolDialog):
    """This model union / subtract / intersect another model."""

    tool, title = "boolean", "Boolean"
    OPERATIONS = (
        ("union", "Union with"),
        ("subtract", "Subtract"),
        ("intersect", "Intersect with"),
    )

    def __init__(self, context: AppContext, model_ids: list[str], parent: QWidget | None) -> None:
        super().__init__(context, model_ids[:1], parent)
        session = context.session
        self.operation_combo = QComboBox()
        for key, text in self.OPERATIONS:
            self.operation_combo.addItem(text, key)
        self.other_combo = QComboBox()
        self.other_combo.setObjectName("booleanOther")
        for model_id, entry in session.models.items():
            if model_id != self.model_ids[0]:
                self.other_combo.addItem(entry.name, model_id)
        if len(model_ids) > 1:  # the second selected model is the natural partner
            self.other_combo.setCurrentIndex(max(self.other_combo.findData(model_ids[1]), 0))
        self.form.addRow("Model", QLabel(session.models[self.model_ids[0]].name))
        self.form.addRow("Operation", self.operation_combo)
        self.form.addRow("Other model", self.other_combo)

    def inputs(self) -> list[str]:
        other = self.other_combo.currentData()
        return self.model_ids + ([other] if other else [])

    def parameters(self) -> dict[str, Any]:
        if not self.other_combo.currentData():
            raise ValueError("A boolean needs a second model.")
        return {"operation": self.operation_combo.currentData()}


def _spacing(box: QDoubleSpinBox) -> dict[str, float]:
    return {"spacing_mm": box.value()} if box.value() > 0 else {}


class OffsetDialog(ToolDialog):
    """Offset the surface outward or inward by millimetres."""

    tool, title = "offset", "Offset"

    def __init__(self, context: AppContext, model_ids: list[str], parent: QWidget | None) -> None:
        super().__init__(context, model_ids, parent)
        self.distance_spin = spin(0.01, 100.0, 1.0)
        self.direction_combo = QComboBox()
        self.direction_combo.addItem("Outward (grow)", 1.0)
        self.direction_combo.addItem("Inward (shrink)", -1.0)
        self.spacing_spin = spin(0.0, 10.0, 0.0, 0.05)
        self.spacing_spin.setSpecialValueText("automatic")
        self.spacing_spin.setToolTip("Grid spacing of the distance field (0: automatic)")
        self.form.addRow("Distance", self.distance_spin)
        self.form.addRow("Direction", self.direction_combo)
        self.form.addRow("Resolution", self.spacing_spin)

    def parameters(self) -> dict[str, Any]:
        distance = self.distance_spin.value() * float(self.direction_combo.currentData())
        return {"distance_mm": distance, **_spacing(self.spacing_spin)}


class HollowDialog(ToolDialog):
    """Hollow to a wall thickness, with drain holes along planning lines."""

    tool, title = "hollow", "Hollow"

    def __init__(self, context: AppContext, model_ids: list[str], parent: QWidget | None) -> None:
        super().__init__(context, model_ids, parent)
        self.wall_spin = spin(0.1, 50.0, 2.0)
        self.hole_list = self.checked_list(
            [
                (f"{obj.name} (entry → target)", obj.object_id)
                for obj in planning_objects(context, "line")
            ]
        )
        self.hole_list.setObjectName("drainHoles")
        self.diameter_spin = spin(0.1, 50.0, 3.0)
        self.spacing_spin = spin(0.0, 10.0, 0.0, 0.05)
        self.spacing_spin.setSpecialValueText("automatic")
        self.form.addRow("Wall thickness", self.wall_spin)
        self.form.addRow("Drain holes along", self.hole_list)
        self.form.addRow("Hole diameter", self.diameter_spin)
        self.form.addRow("Resolution", self.spacing_spin)

    def parameters(self) -> dict[str, Any]:
        planning = getattr(self.context.session, "planning", None)
        holes = (
            [
                drain_hole(planning.by_id(key), self.diameter_spin.value())
                for key in checked_data(self.hole_list)
            ]
            if planning is not None
            else []
        )
        return {
            "wall_mm": self.wall_spin.value(),
            "drain_holes": holes,
            **_spacing(self.spacing_spin),
        }


MID_SAGITTAL = "mid-sagittal"


class MirrorDialog(ToolDialog):
    """Mirror across a planning plane or the mid-sagittal plane through the crosshair."""

    tool, title = "mirror", "Mirror"

    def __init__(self, context: AppContext, model_ids: list[str], parent: QWidget | None) -> None:
        super().__init__(context, model_ids, parent)
        self.plane_combo = QComboBox()
        self.plane_combo.setObjectName("mirrorPlane")
        self.plane_combo.addItem("Mid-sagittal (through the crosshair, normal L)", MID_SAGITTAL)
        for obj in planning_objects(context, "plane"):
            self.plane_combo.addItem(f"{obj.name} (planning plane)", obj.object_id)
        self.form.addRow("Mirror plane", self.plane_combo)

    def parameters(self) -> dict[str, Any]:
        key = self.plane_combo.currentData()
        if key == MID_SAGITTAL:
            return {"point_lps": crosshair(self.context).tolist(), "normal_lps": list(AXES["L"])}
        return planning_plane(self.context.session.planning.by_id(key))


class MoveDialog(ToolDialog):
    """Translate and rotate the model(s) rigidly; the transform is recorded on each model."""

    tool, title = "transform", "Move / rotate"

    def __init__(self, context: AppContext, model_ids: list[str], parent: QWidget | None) -> None:
        super().__init__(context, model_ids, parent)
        self.hide_original.setChecked(False)
        self.hide_original.setVisible(False)  # the model itself moves
        self.translation = [spin(-1000.0, 1000.0, 0.0, 1.0) for _ in range(3)]
        for letter, box in zip("LPS", self.translation, strict=True):
            self.form.addRow(f"Move along {letter}", box)
        self.axis_combo = QComboBox()
        self.axis_combo.setObjectName("rotationAxis")
        for letter in AXES:
            self.axis_combo.addItem(f"{letter} axis", letter)
        for obj in planning_objects(context, "line"):
            self.axis_combo.addItem(f"{obj.name} (planning line)", obj.object_id)
        self.angle_spin = spin(-360.0, 360.0, 0.0, 5.0, 2, " °")
        self.pivot_combo = QComboBox()
        self.pivot_combo.addItem("the model's centroid", "centroid")
        self.pivot_combo.addItem("the crosshair", "crosshair")
        self.pivot_combo.addItem("the line's entry point (line axes)", "line")
        self.form.addRow("Rotation axis", self.axis_combo)
        self.form.addRow("Angle", self.angle_spin)
        self.form.addRow("Rotate about", self.pivot_combo)

    def set_translation(self, vector: tuple[float, float, float]) -> None:
        """Type a translation (L, P, S mm) into the three fields."""
        for box, value in zip(self.translation, vector, strict=True):
            box.setValue(float(value))

    def _axis(self) -> tuple[np.ndarray, np.ndarray | None]:
        key = self.axis_combo.currentData()
        if key in AXES:
            return np.asarray(AXES[key], dtype=np.float64), None
        line = self.context.session.planning.by_id(key)
        return direction(line), np.asarray(line.points_lps[0], dtype=np.float64)

    def _pivot(self, line_point: np.ndarray | None) -> np.ndarray:
        choice = self.pivot_combo.currentData()
        if choice == "crosshair":
            return crosshair(self.context)
        if choice == "line":
            if line_point is None:
                raise ValueError("Rotating about a line's entry point needs a planning line axis.")
            return line_point
        meshes = [self.context.session.models[m].mesh for m in self.model_ids]
        vertices = np.concatenate([mesh.vertices for mesh in meshes])
        offsets = np.cumsum([0] + [mesh.n_vertices for mesh in meshes[:-1]])
        faces = np.concatenate([mesh.faces + o for mesh, o in zip(meshes, offsets, strict=True)])
        return mesh_centroid(vertices, faces)

    def matrix(self) -> np.ndarray:
        """The rigid 4x4 transform the fields describe."""
        axis, line_point = self._axis()
        translation = np.array([box.value() for box in self.translation])
        rotation = rotation_matrix(axis, self.angle_spin.value(), self._pivot(line_point))
        return compose(rotation, translation_matrix(translation))

    def parameters(self) -> dict[str, Any]:
        return {"matrix": self.matrix().tolist()}


DIALOGS: dict[str, type[ToolDialog]] = {
    dialog.tool: dialog
    for dialog in (CutDialog, BooleanDialog, OffsetDialog, HollowDialog, MirrorDialog, MoveDialog)
}
