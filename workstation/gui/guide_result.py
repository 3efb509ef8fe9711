"""The Guide panel's shown guide: a saved one restored, its contact face, its export.

``GuideResultMixin`` holds the part of the Guide panel that works on a guide already
made: a reopened case's Guide model shows its saved report at once and its clearance
colours once they are measured again (``guide_saved``); "See the contact face" hides the
bone and turns the camera to the face that seats on it; Export… writes the STL, the
report and the provenance record, for a fresh or a reopened guide alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog

from workstation.core.errors import WorkstationError
from workstation.core.guide_plan import parse_plan
from workstation.gui import guide_saved
from workstation.gui import guide_tables as tables
from workstation.gui.views.guide_3d import region_inward_normal

if TYPE_CHECKING:
    from workstation.gui.workers import Job


class GuideResultMixin:
    """Methods of the Guide panel on its shown guide (``result``, ``result_plan``…).

    The panel provides the attributes below and ``show_status``, ``show_clearance``,
    ``_failed`` and ``_quietly``.
    """

    context: Any
    session: Any
    result: Any
    result_plan: Any
    result_bone: Any
    guide_model_id: str | None
    restore_job: Job | None
    last_export: list[Path]
    report_tree: Any
    export_button: Any
    contact_check: Any
    contact_view: Any
    region: Any
    bone_combo: Any
    _quiet: int

    # -- a saved guide ------------------------------------------------------------------
    def restore_saved_guide(self) -> Job | None:
        """Show the report of the Guide model saved with this plan and measure its
        clearance colours again in a job (the bone model the plan names)."""
        entry = self.session.models.get(self.guide_model_id or "")
        report = None if entry is None else guide_saved.saved_report(entry.parameters)
        if entry is None or report is None:
            return None
        if self.result is not None and self.result.guide is entry.mesh:
            return None  # shown already
        tables.fill_report(self.report_tree, report)
        self.result = guide_saved.rebuilt_result(entry.mesh, report)
        self.export_button.setEnabled(True)
        self.contact_check.setEnabled(True)
        try:
            from workstation.services.guides import load_bone  # on first use: a light start

            plan = parse_plan(entry.parameters.get(guide_saved.PLAN_KEY) or {})
            bone = load_bone(plan, self.session)
        except WorkstationError as error:
            self.result_plan = self.result_bone = None
            self.show_status(f"Saved guide shown without clearance colours: {error}")
            return None
        self.result_plan, self.result_bone = plan, bone
        self.show_status("Saved guide: measuring its clearance…")
        mesh, editor = entry.mesh, self.session.editor

        def done(clearance: Any) -> None:
            current = self.session.models.get(self.guide_model_id or "")
            if self.session.editor is editor and current is not None and current.mesh is mesh:
                self.result = guide_saved.rebuilt_result(mesh, report, clearance)
                self.show_clearance()
                self.show_status("Saved guide shown with its report.")

        def ended() -> None:
            if self.restore_job is job:
                self.restore_job = None

        job = self.context.runner.submit(
            "Guide clearance",
            guide_saved.measure_clearance,
            mesh,
            bone,
            on_result=done,
            on_error=self._failed,
            on_finished=ended,
            foreground=False,
        )
        self.restore_job = job
        return job

    # -- the contact face ----------------------------------------------------------------
    def contact_direction(self) -> Any:
        """The direction the guide moves onto the bone: the plan's insertion direction, else
        the inward normal of the bone inside the region (None: neither is known)."""
        plan = self.result_plan
        if plan is not None and getattr(plan, "insertion_direction_lps", None) is not None:
            return plan.insertion_direction_lps
        entry = self.session.models.get(self._bone_model_id() or "")
        bone = self.result_bone if self.result_bone is not None else entry and entry.mesh
        if bone is None:
            return None
        spheres = [(center, radius) for center, radius in plan.region.spheres] if plan else []
        return region_inward_normal(bone, spheres or self.region.spheres())

    def _bone_model_id(self) -> str | None:
        """The model the shown guide seats on (its plan's bone model, else the chosen one)."""
        name = None if self.result_plan is None else self.result_plan.bone.model
        for model_id, entry in self.session.models.items():
            if entry.name == name and "guide_id" not in entry.parameters:
                return model_id
        chosen = self.bone_combo.currentData()
        return str(chosen) if chosen is not None else None

    def see_contact_face(self, on: bool = True) -> None:
        """Hide the bone and look at the guide's contact face (off: show both as before)."""
        if self._quiet:
            return
        bone_id = self._bone_model_id()
        if not on:
            entry = self.session.models.get(self.contact_view.bone_id or "")
            self.contact_view.restore(entry.visible if entry is not None else None)
            return
        direction = self.contact_direction()
        if self.result is None or bone_id not in self.session.models or direction is None:
            self.show_status(
                "Generate the guide first: there is no contact face to show."
                if self.result is None
                else "The guide's bone model is not in the case: no contact face to show."
            )
            with self._quietly():
                self.contact_check.setChecked(False)
            return
        self.contact_view.show(self.result.guide, bone_id, direction)

    # -- export -----------------------------------------------------------------------
    def _ask_export_path(self) -> str:
        start = str(self.last_export[0].parent) if self.last_export else str(Path.home())
        path, _ = QFileDialog.getSaveFileName(
            self, "Export guide", str(Path(start) / "Guide.stl"), "STL files (*.stl)"
        )
        return path

    def export(self, path: str | None = None) -> Job | None:
        """Write the guide (STL), NAME.report.json and the provenance record in a job."""
        if self.result is None:
            return None
        target = path or self._ask_export_path()
        if not target:
            return None
        output = Path(target)
        if output.suffix.lower() != ".stl":
            output = output.with_name(output.name + ".stl")
        report = output.with_name(output.stem + ".report.json")
        result, plan, bone = self.result, self.result_plan, self.result_bone
        session = self.session

        def write(progress: Any, cancel: Any) -> list[Path]:
            from workstation.services.guides import write_guide

            write_guide(result, output, str(report), plan, bone, session=session)
            return [output, report]

        def done(paths: list[Path]) -> None:
            self.last_export = paths
            self.show_status("Exported " + ", ".join(p.name for p in paths))

        return self.context.runner.submit(
            "Export guide", write, on_result=done, on_error=self._failed
        )
