"""The models panel's Tools menu: cut, boolean, offset, hollow, mirror and move the models.

Each entry opens its dialog (``model_tool_dialogs``) for the selected model(s); OK runs
``services.mesh_tools.run_mesh_tool`` as a background job (progress and Cancel in the
progress panel), adds the results as new models that record the operation, selects them
and keeps the originals (hidden when "Hide original" is ticked).  Move/rotate moves the
model itself through ``move_model``, which appends the rigid transform to its record.
A tool that cannot give a closed solid fails with one line and adds nothing.  In a
read-only case (its source images changed) every entry is off, its tooltip says why, and
a tool started anyway refuses with the same line and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QMenu

from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.gui.edit_queue import READ_ONLY_MESSAGE

if TYPE_CHECKING:
    from workstation.gui.model_tool_dialogs import ToolDialog
    from workstation.gui.models_panel import ModelsPanel
    from workstation.gui.workers import Job
    from workstation.services.mesh_tools import ToolResult

#: Menu entries: tool key → (text, tooltip, least number of selected models).
ENTRIES = {
    "cut": ("Cut by planes…", "Cut into closed pieces along planning or crosshair planes", 1),
    "boolean": ("Boolean…", "Union, subtract or intersect with another model", 1),
    "offset": ("Offset…", "Grow or shrink the surface by millimetres", 1),
    "hollow": ("Hollow…", "Hollow to a wall thickness, with drain holes", 1),
    "mirror": ("Mirror…", "Mirror across a planning plane or the mid-sagittal plane", 1),
    "transform": ("Move / rotate…", "Move the model rigidly; the transform is recorded", 1),
}
#: How the results of each tool are named, after the first input's name.
RESULT_NAMES: dict[str, Callable[[str, int, int], str]] = {
    "cut": lambda name, index, count: f"{name} piece {index + 1}",
    "boolean": lambda name, index, count: name,
    "offset": lambda name, index, count: f"{name} offset",
    "hollow": lambda name, index, count: f"{name} hollow",
    "mirror": lambda name, index, count: f"{name} mirrored",
}
BOOLEAN_NAMES = {"union": "{a} + {b}", "subtract": "{a} − {b}", "intersect": "{a} ∩ {b}"}


def result_names(tool: str, inputs: list[str], parameters: dict[str, Any], count: int) -> list[str]:
    """Names of a tool's new models: "Bone piece 1", "Bone − Screw", "Bone mirrored"…"""
    first = inputs[0] if inputs else "Model"
    if tool == "boolean" and len(inputs) > 1:
        pattern = BOOLEAN_NAMES.get(str(parameters.get("operation")), "{a} {b}")
        first = pattern.format(a=inputs[0], b=", ".join(inputs[1:]))
    return [RESULT_NAMES[tool](first, index, count) for index in range(count)]


class ModelTools(QObject):
    """The Tools menu of a models panel and the jobs its dialogs start."""

    def __init__(self, panel: ModelsPanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.context = panel.context
        self.session = panel.context.session
        #: the dialog while it is open (tests fill it in)
        self.dialog: ToolDialog | None = None
        #: ids of the models the last finished tool added or moved
        self.last_results: list[str] = []
        self.menu = QMenu(panel)
        self.menu.setObjectName("modelToolsMenu")
        self.menu.setToolTipsVisible(True)  # a disabled entry says why
        self.actions: dict[str, QAction] = {}
        for tool, (text, tip, _least) in ENTRIES.items():
            action = self.menu.addAction(text)
            action.setToolTip(tip)
            action.setStatusTip(tip)
            action.triggered.connect(lambda _=False, tool=tool: self.open_dialog(tool))
            self.actions[tool] = action
        self.menu.aboutToShow.connect(self.update_actions)

    def update_actions(self) -> None:
        """Enable the entries that the selection allows (a boolean needs a second model);
        none in a read-only case."""
        selected = len(self.panel.selected_ids())
        read_only = self.session.read_only
        for tool, action in self.actions.items():
            enough = selected >= ENTRIES[tool][2]
            if tool == "boolean":
                enough = enough and len(self.session.models) > 1
            action.setEnabled(enough and not read_only)
            tip = READ_ONLY_MESSAGE if read_only else ENTRIES[tool][1]
            action.setToolTip(tip)
            action.setStatusTip(tip)

    def refused(self) -> bool:
        """True (and the reason shown) when the case is read-only: no tool may change it."""
        if self.session.read_only:
            self.context.show_message(READ_ONLY_MESSAGE)
        return self.session.read_only

    # -- dialogs --------------------------------------------------------------------
    def open_dialog(self, tool: str) -> ToolDialog | None:
        """Open ``tool``'s dialog for the selected models (non-blocking); None: none selected
        or a read-only case."""
        if self.refused():
            return None
        model_ids = [m for m in self.panel.selected_ids() if m in self.session.models]
        if not model_ids:
            self.context.show_message("Select a model first.")
            return None
        if tool == "boolean" and len(self.session.models) < 2:
            self.context.show_message("A boolean needs a second model.")
            return None
        from workstation.gui.model_tool_dialogs import DIALOGS

        if self.dialog is not None:
            self.dialog.close()
        dialog = DIALOGS[tool](self.context, model_ids, self.panel)
        self.dialog = dialog
        dialog.finished.connect(lambda code, dialog=dialog: self._dialog_finished(dialog, code))
        dialog.open()
        return dialog

    def _dialog_finished(self, dialog: ToolDialog, code: int) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()
        if code == QDialog.DialogCode.Accepted:
            try:
                self.run_dialog(dialog)
            except (KeyError, ValueError) as error:  # a model or plane removed meanwhile
                self.context.show_message(f"{dialog.title}: {error}; nothing was changed.")

    def run_dialog(self, dialog: ToolDialog) -> Job | None:
        """Run what an accepted dialog describes."""
        if self.refused():
            return None
        parameters = dialog.parameters()
        if dialog.tool == "transform":
            return self.move(dialog.inputs(), np.asarray(parameters["matrix"], dtype=np.float64))
        return self.run(dialog.tool, dialog.inputs(), parameters, dialog.hide_original.isChecked())

    # -- running --------------------------------------------------------------------
    def run(
        self,
        tool: str,
        model_ids: list[str],
        parameters: dict[str, Any],
        hide_original: bool = False,
    ) -> Job | None:
        """Run a mesh tool on models in a job; the results become new, selected models
        (None: refused, the case is read-only)."""
        if self.refused():
            return None
        from workstation.services import mesh_tools  # geometry libraries load on first use

        session, editor = self.session, self.session.editor
        entries = [session.models[model_id] for model_id in model_ids]
        meshes = [_copy(entry.mesh, entry.name) for entry in entries]  # edits may land meanwhile
        names = [entry.name for entry in entries]
        title = ENTRIES[tool][0].rstrip("…") + " " + names[0]

        def work(progress: ProgressCallback, cancel: CancelToken) -> ToolResult:
            return mesh_tools.run_mesh_tool(tool, meshes, parameters, progress, cancel)

        def done(result: ToolResult) -> None:
            if session.read_only:
                self.context.show_message(f"{title}: {READ_ONLY_MESSAGE} Nothing was added.")
                return
            if session.editor is not editor or any(m not in session.models for m in model_ids):
                self.context.show_message(f"{title}: the models changed meanwhile; nothing added.")
                return
            new_names = result_names(tool, names, parameters, len(result.meshes))
            added = mesh_tools.add_results_to_session(session, result, model_ids, new_names)
            if hide_original:
                for model_id in model_ids:
                    session.update_model(model_id, visible=False)
            self._finish([entry.model_id for entry in added], title, result.warnings)

        return self.context.runner.submit(
            title, work, on_result=done, on_error=self.context.report_error
        )

    def move(self, model_ids: list[str], matrix: np.ndarray) -> Job | None:
        """Move models rigidly by ``matrix`` (checked in a job, applied on the UI thread);
        None: refused, the case is read-only."""
        if self.refused():
            return None
        from workstation.processing.guides.rigid_transform import rigid_matrix
        from workstation.services import mesh_tools  # geometry libraries load on first use

        session = self.session
        names = [session.models[model_id].name for model_id in model_ids]
        title = "Move " + ", ".join(names)
        matrix = np.array(matrix, dtype=np.float64)

        def check(progress: ProgressCallback, cancel: CancelToken) -> np.ndarray:
            progress(0.0, "Checking the transform")
            rigid_matrix(matrix)  # MeshToolError when it scales, shears or mirrors
            return matrix

        def done(checked: np.ndarray) -> None:
            if session.read_only:
                self.context.show_message(f"{title}: {READ_ONLY_MESSAGE} Nothing was moved.")
                return
            moved = []
            for model_id in model_ids:
                if model_id in session.models:
                    entry = mesh_tools.move_model(session, model_id, checked)
                    self.context.views.add_model(  # the same id: the moved surface replaces it
                        entry.model_id, entry.mesh, entry.color, entry.opacity, entry.visible
                    )
                    moved.append(entry.model_id)
            self._finish(moved, title, [])

        return self.context.runner.submit(
            title, check, on_result=done, on_error=self.context.report_error
        )

    def _finish(self, model_ids: list[str], title: str, warnings: list[str]) -> None:
        self.last_results = model_ids
        self.select(model_ids)
        text = f"{title}: {len(model_ids)} model(s)"
        if warnings:
            text += " (" + "; ".join(warnings) + ")"
        self.context.show_message(text)

    def select(self, model_ids: list[str]) -> None:
        """Select these models' rows in the models panel (and only these)."""
        table = self.panel.table
        selection = QItemSelection()
        wanted = set(model_ids)
        for row in range(table.rowCount()):
            if self.panel.model_id_at(row) in wanted:
                selection.select(table.model().index(row, 0), table.model().index(row, 0))
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        table.selectionModel().select(selection, flags)


def _copy(mesh: Mesh, name: str) -> Mesh:
    """A copy of a model's surface under its shown name (the job's own input)."""
    return Mesh(mesh.vertices.copy(), mesh.faces.copy(), name, mesh.color, list(mesh.report))
