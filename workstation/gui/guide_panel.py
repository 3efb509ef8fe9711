"""Guide panel: design a patient-specific surgical guide on a bone model of the case.

The user picks the bone model, sets the contact region (a sphere centred by clicking
the bone with the Guide region tool, or brush dabs painted on it), the wall thickness,
the fit clearance (SLA and FDM presets), the insertion direction, and which planned
lines carry drill sleeves and which planned planes carry saw slots.  Generate builds
the guide in a background job (``services.guides.generate_guide``), adds it to the case
as the model "Guide" (replacing the previous guide of this plan) coloured by its
clearance to the bone, and shows the printability report; Export… writes the STL, the
report and the provenance record.  The plan itself is the case's guide planning object
(the PLAN.json object with ``bone: {"model": NAME}``): stored a moment after each change
of a control (and before the case is saved), so a plan never generated is saved too,
and restored into the panel on reopen.  The Guide model keeps its report and plan
(``guide_saved``): a reopened guide shows its report, its clearance colours are measured
again in a job, and it exports without being regenerated.  "See the contact face" hides
the bone and looks at the face that seats on it.  A read-only case refuses Generate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QScrollArea,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import WorkstationError
from workstation.core.guide_plan import CLEARANCE_PRESETS, DEFAULT_THICKNESS_MM, parse_plan
from workstation.core.planning import PlanningObject
from workstation.gui import guide_saved
from workstation.gui import guide_tables as tables
from workstation.gui.edit_queue import READ_ONLY_MESSAGE
from workstation.gui.guide_region import REGION_TOOL, RegionEditor
from workstation.gui.guide_result import GuideResultMixin
from workstation.gui.tools.guide_region import set_region_target
from workstation.gui.views.guide_3d import ContactFaceView, clearance_range
from workstation.gui.widgets import push_button, spin_box

if TYPE_CHECKING:
    from workstation.gui.context import AppContext
    from workstation.gui.workers import Job, JobError

GUIDE_MODEL_NAME = "Guide"
GUIDE_COLOR = (0.35, 0.65, 1.0)
CUSTOM = "Custom"
#: A changed control stores the plan in the case after this pause (ms).
STORE_DELAY_MS = 300


def guide_models(session: Any, guide_id: str) -> list[str]:
    """Ids of the models made from the guide planning object ``guide_id``."""
    return [m for m, e in session.models.items() if e.parameters.get("guide_id") == guide_id]


def generate_guide(*args: Any, **kwargs: Any) -> Any:
    """``services.guides.generate_guide``, imported on first use (the window starts lighter)."""
    from workstation.services.guides import generate_guide as generate

    return generate(*args, **kwargs)


def load_bone(*args: Any, **kwargs: Any) -> Any:
    """``services.guides.load_bone``, imported on first use."""
    from workstation.services.guides import load_bone as load

    return load(*args, **kwargs)


class GuidePanel(GuideResultMixin, QWidget):
    """The plan of one guide, its generation, report and export."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("guidePanel")
        self.context = context
        self.session = context.session
        self.planning = context.session.planning
        self.guide_id: str | None = None
        self.result: Any = None
        self.result_plan: Any = None
        self.result_bone: Any = None
        self.guide_model_id: str | None = None
        self.job: Job | None = None
        self.last_export: list[Path] = []
        #: the job measuring a reopened guide's clearance colours
        self.restore_job: Job | None = None
        self._storing = False
        self._quiet = 0
        self._store_pending = False
        self.store_timer = QTimer(self)
        self.store_timer.setSingleShot(True)
        self.store_timer.setInterval(STORE_DELAY_MS)
        self.store_timer.timeout.connect(self.flush_plan)
        self.contact_view = ContactFaceView(context.views.view_3d())
        self._build()
        self._connect_edits()
        context.before_snapshot.append(self.flush_plan)
        for event in ("model_added", "model_removed", "model_changed"):
            self.session.subscribe(event, self._models_changed)
        for event in ("added", "removed", "changed", "cleared"):
            self.planning.subscribe(event, self._planning_changed)
        self.session.subscribe("volume", self._case_changed)
        set_region_target(context.viewer, self.region)
        self._models_changed()
        self._planning_changed()

    # -- construction ---------------------------------------------------------------
    def _build(self) -> None:
        self.bone_combo = QComboBox()
        self.bone_combo.setToolTip("The bone model the guide seats on")
        self.region = RegionEditor(self.context.views.view_3d())
        self.region.model_picked.connect(self._select_bone)
        self.region.pick_requested.connect(self.pick_region)
        region_box = QGroupBox("Contact region")
        region_form = QFormLayout(region_box)
        region_form.addRow("Bone", self.bone_combo)
        region_form.addRow(self.region)

        self.thickness_spin = spin_box(0.5, 20.0, " mm", value=DEFAULT_THICKNESS_MM, decimals=2)
        self.preset_combo = QComboBox()
        for name, value in CLEARANCE_PRESETS.items():
            self.preset_combo.addItem(f"{name} ({value:g} mm)", name)
        self.preset_combo.addItem(CUSTOM, CUSTOM)
        self.clearance_spin = spin_box(0.01, 5.0, " mm", decimals=2, step=0.05)
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)
        self.clearance_spin.valueChanged.connect(self._clearance_edited)
        self._preset_chosen()
        self.direction_combo = tables.DirectionChooser(
            self.planning, self.context.views.view_3d().view_direction
        )
        params_box = QGroupBox("Guide")
        params = QFormLayout(params_box)
        params.addRow("Wall thickness", self.thickness_spin)
        clearance = QHBoxLayout()
        clearance.addWidget(self.preset_combo)
        clearance.addWidget(self.clearance_spin)
        params.addRow("Fit clearance", clearance)
        params.addRow("Insertion", self.direction_combo)

        self.sleeves_table = tables.PlannedPartsTable("line", tables.SLEEVE_COLUMNS)
        self.slots_table = tables.PlannedPartsTable("plane", tables.SLOT_COLUMNS)
        parts_box = QGroupBox("Drill sleeves (planned lines) and saw slots (planned planes)")
        parts = QVBoxLayout(parts_box)
        parts.addWidget(self.sleeves_table)
        parts.addWidget(self.slots_table)

        self.generate_button = push_button("Generate", "Build the guide", self.generate)
        self.generate_button.setObjectName("generateGuide")
        self.cancel_button = push_button("Cancel", "Stop building the guide", self.cancel)
        self.cancel_button.setEnabled(False)
        self.export_button = push_button(
            "Export…", "Write the guide (STL), its report and provenance", self.export
        )
        self.export_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setVisible(False)
        self.status_label = QLabel("")
        self.status_label.setObjectName("guideStatus")
        self.status_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        self.contact_check = QCheckBox("See the contact face")
        self.contact_check.setObjectName("guideContactFace")
        self.contact_check.setToolTip(
            "Hide the bone and look at the face of the guide that seats on it "
            "(against the insertion direction), to read the clearance colours"
        )
        self.contact_check.setEnabled(False)
        self.contact_check.toggled.connect(self.see_contact_face)
        self.report_tree = QTreeWidget()
        self.report_tree.setObjectName("guideReport")
        self.report_tree.setHeaderLabels(["Report", "Value"])
        self.report_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

        self.report_tree.setMinimumHeight(180)
        for table in (self.sleeves_table, self.slots_table):
            table.setMinimumHeight(80)
            table.setMaximumHeight(150)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(region_box)
        layout.addWidget(params_box)
        layout.addWidget(parts_box)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.contact_check)
        layout.addWidget(self.report_tree, 1)
        scroll = QScrollArea()  # the panel is taller than a small Tools dock
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _connect_edits(self) -> None:
        """Every control of the plan stores it in the case a moment after a change."""
        self.bone_combo.currentIndexChanged.connect(self._edited)
        self.region.edited.connect(self._edited)
        self.thickness_spin.valueChanged.connect(self._edited)
        self.clearance_spin.valueChanged.connect(self._edited)
        self.preset_combo.currentIndexChanged.connect(self._edited)
        self.direction_combo.currentIndexChanged.connect(self._edited)
        self.sleeves_table.edited.connect(self._edited)
        self.slots_table.edited.connect(self._edited)

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Controls filled by the program (a loaded plan, refreshed lists) store nothing."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _edited(self, *_: object) -> None:
        if self._quiet or self.session.volume is None:
            return
        self._store_pending = True
        self.store_timer.start()

    # -- region -----------------------------------------------------------------------
    def pick_region(self) -> None:
        """Make the Guide region tool the active one (clicks on the bone set the region)."""
        self.context.viewer.set_tool(REGION_TOOL)
        self.context.show_message("Click the bone in the 3D view to set the guide's region")

    def _select_bone(self, model_id: str) -> None:
        if model_id == self.guide_model_id:
            return
        index = self.bone_combo.findData(model_id)
        if index >= 0:
            self.bone_combo.setCurrentIndex(index)

    # -- parameters -------------------------------------------------------------------
    def _preset_chosen(self, *_: object) -> None:
        name = self.preset_combo.currentData()
        if name in CLEARANCE_PRESETS:
            self.clearance_spin.blockSignals(True)
            self.clearance_spin.setValue(CLEARANCE_PRESETS[name])
            self.clearance_spin.blockSignals(False)

    def _clearance_edited(self, value: float) -> None:
        name = next((n for n, v in CLEARANCE_PRESETS.items() if abs(v - value) < 1e-9), CUSTOM)
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(name))
        self.preset_combo.blockSignals(False)

    def set_preset(self, name: str) -> None:
        """Choose a clearance preset ("SLA", "FDM") or "Custom"."""
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(name))

    def _models_changed(self, *_: object) -> None:
        chosen = self.bone_combo.currentData()
        self.bone_combo.blockSignals(True)
        self.bone_combo.clear()
        for model_id, entry in self.session.models.items():
            if "guide_id" not in entry.parameters:
                self.bone_combo.addItem(entry.name, model_id)
        index = self.bone_combo.findData(chosen)
        self.bone_combo.setCurrentIndex(max(index, 0))
        self.bone_combo.blockSignals(False)
        if self.guide_model_id is not None and self.guide_model_id not in self.session.models:
            self.guide_model_id = None

    def _case_changed(self, _volume: object = None) -> None:
        """Another case: no plan, no guide, no report (a reopened project fills them again)."""
        self.store_timer.stop()
        self._store_pending = False  # the plan belonged to the case that is gone
        self.guide_id = self.guide_model_id = None
        self.contact_view.forget()  # the views were cleared with the case
        self._forget_result()
        self.restore_job = None
        self.region.reset()
        self.show_status("")

    def _forget_result(self) -> None:
        if self.contact_view.active:
            entry = self.session.models.get(self.contact_view.bone_id or "")
            self.contact_view.restore(entry.visible if entry is not None else None)
        with self._quietly():
            self.contact_check.setChecked(False)
        self.result = self.result_plan = self.result_bone = None
        self.export_button.setEnabled(False)
        self.contact_check.setEnabled(False)
        self.report_tree.clear()

    def _planning_changed(self, payload: object = None) -> None:
        with self._quietly():
            self._refresh_planning(payload)

    def _refresh_planning(self, payload: object) -> None:
        self.sleeves_table.set_objects(self.planning.of_kind("line"))
        self.slots_table.set_objects(self.planning.of_kind("plane"))
        self.direction_combo.fill()
        if self._storing:
            return
        guides = self.planning.of_kind("guide")
        if self.guide_id is not None and self.guide_id not in self.planning:
            self.guide_id = None  # removed, or another case
            self._forget_result()
        if guides and (
            self.guide_id is None
            or (isinstance(payload, PlanningObject) and payload.object_id == self.guide_id)
        ):
            self.load_guide(guides[0])

    # -- the plan ---------------------------------------------------------------------
    def plan_record(self) -> dict[str, Any]:
        """The PLAN.json object the controls describe (bone by model name)."""
        model_id = self.bone_combo.currentData()
        entry = self.session.models.get(model_id) if model_id is not None else None
        record: dict[str, Any] = {
            "bone": {"model": entry.name if entry is not None else ""},
            "region": self.region.value(),
            "thickness_mm": float(self.thickness_spin.value()),
            "clearance_mm": float(self.clearance_spin.value()),
        }
        insertion = self.direction_combo.direction()
        if insertion is not None:
            record["insertion_direction_lps"] = insertion
        record["sleeves"] = [tables.sleeve_record(o, s) for o, s in self.sleeves_table.used()]
        record["slots"] = [tables.slot_record(o, s) for o, s in self.slots_table.used()]
        return record

    def load_guide(self, obj: PlanningObject) -> None:
        """Fill the controls from a guide planning object's plan (a reopened case) and show
        the guide saved with it (its report; its clearance colours measured in a job)."""
        self.guide_id = obj.object_id
        self.store_timer.stop()
        self._store_pending = False
        try:
            with self._quietly():
                self._load_record(obj.plan or {})
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            self.show_status(f"The saved guide plan is incomplete ({error}); check the settings.")
        models = guide_models(self.session, obj.object_id)
        self.guide_model_id = models[-1] if models else None
        self.restore_saved_guide()

    def _load_record(self, record: dict[str, Any]) -> None:
        bone = record.get("bone")
        if isinstance(bone, dict):
            index = self.bone_combo.findText(str(bone.get("model", "")))
            if index >= 0:
                self.bone_combo.setCurrentIndex(index)
        self.region.load(record.get("region") or {})
        self.thickness_spin.setValue(float(record.get("thickness_mm", DEFAULT_THICKNESS_MM)))
        if "clearance_mm" in record:
            self.clearance_spin.setValue(float(record["clearance_mm"]))
        self.direction_combo.set_saved(record.get("insertion_direction_lps"))
        for table, key, point_key in (
            (self.sleeves_table, "sleeves", "entry_lps"),
            (self.slots_table, "slots", "point_lps"),
        ):
            for row in range(table.rowCount()):
                table.set_row(row, False, {})
            for part in record.get(key, []):
                row = tables.match_row(table, part, point_key)
                if row is not None:
                    table.set_row(row, True, part)

    def flush_plan(self) -> None:
        """Store the plan the controls show now, when they changed since it was stored.

        The record is stored as it is, even when it does not parse yet (a bone not
        chosen, a region off the bone): it is what the user set up, and Generate checks it.
        A read-only case keeps its saved plan.
        """
        if not self._store_pending:
            return
        self.store_timer.stop()
        self._store_pending = False
        if self.session.volume is None or self.session.read_only:
            return
        record = self.plan_record()
        if self.guide_id in self.planning and self.planning.by_id(self.guide_id).plan == record:
            return
        self._store_plan(record)

    def _store_plan(self, record: dict[str, Any]) -> None:
        """Keep the plan in the case (a guide planning object: saved with the project)."""
        self._storing = True
        try:
            if self.guide_id is not None and self.guide_id in self.planning:
                self.planning.update(self.guide_id, plan=record)
            else:
                self.guide_id = self.planning.add("guide", (), plan=record).object_id
        finally:
            self._storing = False

    # -- generating -------------------------------------------------------------------
    def show_status(self, text: str) -> None:
        """One line under the buttons (plan errors, progress, results)."""
        self.status_label.setText(text)

    def generate(self) -> Job | None:
        """Check the plan, keep it in the case and build the guide in a job."""
        if self.job is not None:
            return None
        if self.session.read_only:
            self.show_status(READ_ONLY_MESSAGE)
            self.context.show_message(READ_ONLY_MESSAGE)
            return None
        self.store_timer.stop()
        self._store_pending = False
        record = self.plan_record()
        try:
            plan = parse_plan(record)
            bone = load_bone(plan, self.session)
        except WorkstationError as error:
            self.show_status(str(error).splitlines()[0] if str(error) else type(error).__name__)
            return None
        self._store_plan(record)
        guide_id, editor = self.guide_id, self.session.editor
        self.show_status("Building the guide…")
        self.progress_bar.setValue(0)
        self.progress_bar.setVisible(True)
        self.generate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

        def done(result: Any) -> None:
            if self.session.editor is editor and self.guide_id == guide_id:  # same case
                self._generated(result, plan, bone, guide_id, record)

        job = self.context.runner.submit(
            "Guide",
            generate_guide,
            plan,
            bone,
            on_result=done,
            on_error=self._failed,
            on_finished=self._job_ended,
        )
        job.signals.progress.connect(self._progress)
        self.job = job
        return job

    def cancel(self) -> None:
        """Stop the guide being built."""
        if self.job is not None:
            self.job.cancel()

    def _progress(self, fraction: float, text: str) -> None:
        self.progress_bar.setValue(round(1000 * fraction))
        if text:
            self.show_status(text)

    def _job_ended(self) -> None:
        self.job = None
        self.progress_bar.setVisible(False)
        self.generate_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _failed(self, error: JobError) -> None:
        if error.cancelled:
            self.show_status("Cancelled: no guide was made.")
        elif error.expected:
            self.show_status(error.message.splitlines()[0])
        else:
            self.show_status("The guide could not be built (see the error).")
            self.context.report_error(error)

    def _generated(
        self, result: Any, plan: Any, bone: Any, guide_id: str | None, record: dict[str, Any]
    ) -> None:
        if guide_id is None or guide_id not in self.planning or self.session.read_only:
            return  # the plan was removed meanwhile
        for model_id in guide_models(self.session, guide_id):
            self.session.remove_model(model_id)
        report = result.report
        statistics = {
            key: report[key] for key in ("volume_mm3", "triangles", "watertight") if key in report
        }
        entry = self.session.add_model(
            result.guide,
            statistics,
            name=GUIDE_MODEL_NAME,
            color=GUIDE_COLOR,
            parameters=guide_saved.guide_parameters(guide_id, record, report),
        )
        self.guide_model_id = entry.model_id
        self.result, self.result_plan, self.result_bone = result, plan, bone
        self.show_clearance()
        tables.fill_report(self.report_tree, report)
        self.export_button.setEnabled(True)
        self.contact_check.setEnabled(True)
        warnings = report.get("warnings", [])
        self.show_status(
            "Guide ready" + (f": {len(warnings)} warning(s), see the report" if warnings else ".")
        )

    def show_clearance(self) -> None:
        """Colour the guide by its clearance to the bone (red touching, green at the set value)."""
        if self.result is None or self.guide_model_id not in self.session.models:
            return
        measured = len(self.result.clearance_mm) == self.result.guide.n_vertices
        if self.result_plan is None or not measured:
            return  # a reopened guide whose clearance is not measured (yet)
        view = self.context.views.view_3d()
        value_range = clearance_range(self.result_plan.clearance_mm)
        view.set_model_scalars(
            self.guide_model_id, self.result.clearance_mm, value_range, title="Clearance mm"
        )
        view.schedule_refresh()
