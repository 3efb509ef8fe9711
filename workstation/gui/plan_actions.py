"""File → Save case plan… / Apply case plan…: the one plan format from and to the window.

Save writes the open case as a plan (``services.plan_session.plan_from_session``: its
operation list and its models' options), the file ``workstation batch --plan`` reads.
Apply reads a plan (.json) or a project (.wsproj, ``services.plan_sources.load_plan``) in
a job and runs it on the open series: its operations go through the edit queue (one undo
step each, computed off the UI thread, shown in the progress panel with its Cancel
button), then its models are built in a job with the plan's options, as batch builds
them.  When an edit or a model fails or is cancelled, the plan's edits are undone again,
so the case is as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu

from workstation.core.case_plan import Plan, write_plan_text
from workstation.core.errors import WorkstationError
from workstation.core.operations import Record
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.gui.context import AppContext
from workstation.gui.edit_queue import describe_record
from workstation.gui.workers import Job, JobError
from workstation.io.atomic_write import atomic_write
from workstation.services.segment_editor import PendingEdit, SegmentEditor

SAVE_TEXT = "Save case pla&n…"
SAVE_TIP = "Save the case's segmentation edits and model options as a plan batch can run"
APPLY_TEXT = "Appl&y case plan…"
APPLY_TIP = "Run a case plan (or a project's edits and models) on the open series"
PLAN_FILTER = "Case plans (*.json)"
APPLY_FILTER = "Case plans and projects (*.json *.wsproj);;Case plans (*.json);;Projects (*.wsproj)"


def _load_job(path: str, key: Any, progress: ProgressCallback, cancel: CancelToken) -> Plan:
    """The plan of a plan file or a project (in a job: a project may be large)."""
    from workstation.services.plan_sources import load_plan

    progress(0.0, f"Reading {Path(path).name}")
    return load_plan(path, key)


@dataclass
class _Run:
    """A plan being applied: its edits (in the edit queue), then its models (a job)."""

    plan: Plan
    editor: SegmentEditor
    records: list[Record]
    #: the editor's operation count before the plan's first edit
    base: int
    committed: int = 0
    job: Job | None = None


class PlanActions(QObject):
    """The Save case plan… and Apply case plan… entries of one window's File menu."""

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent or context.parent)
        self.context = context
        window = context.parent
        self.save_action = QAction(SAVE_TEXT, window)
        self.save_action.setObjectName("saveCasePlanAction")
        self.save_action.setStatusTip(SAVE_TIP)
        self.save_action.setToolTip(SAVE_TIP)
        self.save_action.triggered.connect(lambda: self.save_plan())
        self.apply_action = QAction(APPLY_TEXT, window)
        self.apply_action.setObjectName("applyCasePlanAction")
        self.apply_action.setStatusTip(APPLY_TIP)
        self.apply_action.setToolTip(APPLY_TIP)
        self.apply_action.triggered.connect(lambda: self.apply_plan())
        self.last_plan: Path | None = None
        #: the plan being applied (None when none is)
        self.run: _Run | None = None
        context.edits.edit_done.connect(self._edit_done)
        context.edits.edit_failed.connect(self._edit_failed)
        context.session.subscribe("editor", self._editor_changed)
        self._editor_changed(context.session.editor)

    def _editor_changed(self, editor: SegmentEditor | None) -> None:
        run = self.run
        if run is not None and run.editor is not editor:  # another series: the plan stops
            if run.job is not None:
                run.job.cancel()
            self.run = None
        self.save_action.setEnabled(editor is not None)
        self.apply_action.setEnabled(editor is not None and self.run is None)

    def _start_dir(self) -> str:
        if self.last_plan is not None:
            return str(self.last_plan.parent)
        project = self.context.session.project_path
        return str(Path(project).parent) if project else os.path.expanduser("~")

    def _fail(self, title: str, problem: BaseException) -> None:
        self.context.report_error(JobError(title, problem, ""))

    # -- saving -----------------------------------------------------------------------------
    def save_plan(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the open case as a plan at ``path`` (asked for when None); the path written."""
        from workstation.services.plan_session import plan_from_session

        if self.context.edits.busy():
            self.context.show_message("Wait until the edits in progress are applied.")
            return None
        if path is None:
            start = str(Path(self._start_dir()) / "case-plan.json")
            chosen, _ = QFileDialog.getSaveFileName(
                self.context.parent, "Save case plan", start, PLAN_FILTER
            )
            if not chosen:
                return None
            path = chosen if chosen.lower().endswith(".json") else chosen + ".json"
        target = Path(path)
        try:
            plan = plan_from_session(self.context.session, name=target.stem)
            with atomic_write(target) as handle:
                handle.write(write_plan_text(plan).encode("utf-8"))
        except WorkstationError as problem:
            self._fail("Save case plan", problem)
            return None
        self.last_plan = target
        self.context.show_message(f"Saved the case plan to {target}")
        return target

    # -- applying ---------------------------------------------------------------------------
    def apply_plan(self, path: str | os.PathLike[str] | None = None, key: Any = None) -> Job | None:
        """Read a plan or project (asked for when None) in a job, then run it on the series."""
        if self.context.session.editor is None:
            self.context.show_message("Load a series before applying a case plan.")
            return None
        if self.run is not None or self.context.edits.busy():
            self.context.show_message("Wait until the edits in progress are applied.")
            return None
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self.context.parent, "Apply case plan", self._start_dir(), APPLY_FILTER
            )
            if not chosen:
                return None
            path = chosen
        path = str(path)
        if key is None and path.lower().endswith(".wsproj"):
            key = self._project_key(path)
            if key is False:
                return None
        editor = self.context.session.editor
        return self.context.runner.submit(
            f"Reading {Path(path).name}",
            _load_job,
            path,
            key,
            on_result=lambda plan: self._loaded(editor, Path(path), plan),
            on_error=self.context.report_error,
        )

    def _project_key(self, path: str) -> Any:
        """The key of an encrypted project (None: not encrypted; False: not given)."""
        from workstation.gui.passphrase_dialog import (
            ask_passphrase,
            passphrase_key,
            project_is_encrypted,
        )

        if not project_is_encrypted(path):
            return None
        text = ask_passphrase(self.context.parent, Path(path).name)
        if text is None:
            self.context.show_message(f"Applying {Path(path).name} cancelled.")
            return False
        return passphrase_key(text)

    def _loaded(self, editor: SegmentEditor, path: Path, plan: Plan) -> None:
        self.last_plan = path
        self.start_plan(plan, editor)

    def start_plan(self, plan: Plan, editor: SegmentEditor | None = None) -> bool:
        """Run ``plan`` on the open series (its edits first); False when it cannot start."""
        from workstation.services.plan_session import check_applicable, plan_records

        session = self.context.session
        if editor is not None and editor is not session.editor:
            return False  # another series was loaded while the plan was read
        editor = session.editor
        if editor is None or session.volume is None:
            self.context.show_message("Load a series before applying a case plan.")
            return False
        if self.run is not None or self.context.edits.busy():
            self.context.show_message("Wait until the edits in progress are applied.")
            return False
        try:
            records = plan_records(plan, session.volume)
            check_applicable(session, plan, records)
        except WorkstationError as problem:
            self._fail(f"Apply {plan.name}", problem)
            return False
        self.run = _Run(plan, editor, records, len(editor.operations))
        self.apply_action.setEnabled(False)
        self.context.show_message(f"Applying {plan.name}: {len(records)} edits, then the models")
        run = self.run
        for record in records:
            if self.run is not run:
                break  # refused at once (the window's error box says why)
            self.context.edits.submit(record, title=f"{plan.name}: {describe_record(record)}")
        return self.run is run

    def busy(self) -> bool:
        """True while a plan is being applied."""
        return self.run is not None

    def _edit_done(self, _pending: PendingEdit) -> None:
        run = self.run
        if run is None or run.job is not None or run.committed >= len(run.records):
            return
        run.committed += 1
        if run.committed == len(run.records):
            self._build_models(run)

    def _edit_failed(self, error: JobError) -> None:
        run = self.run
        if run is None or run.job is not None:
            return
        # the queue has dropped the plan's later edits; the error box comes from the window
        self._undo(run, f"{run.plan.name} was not applied")

    def _build_models(self, run: _Run) -> None:
        from workstation.services.plan_session import build_plan_models, plan_model_jobs

        session = self.context.session
        try:
            jobs = plan_model_jobs(run.plan, session, run.records)
        except WorkstationError as problem:
            self._undo(run, f"{run.plan.name} was not applied")
            self._fail(f"Apply {run.plan.name}", problem)
            return
        run.job = self.context.runner.submit(
            f"Models of {run.plan.name}",
            build_plan_models,
            session.volume,
            jobs,
            on_result=lambda built, run=run: self._models_built(run, built),
            on_error=lambda error, run=run: self._models_failed(run, error),
        )

    def _models_built(self, run: _Run, built: list[Any]) -> None:
        from workstation.services.plan_session import add_plan_models

        if run is not self.run:
            return
        self._finish()
        session = self.context.session
        if session.editor is not run.editor:
            return  # another series was loaded meanwhile
        entries = add_plan_models(session, built, run.editor.operations)
        names = ", ".join(entry.name for entry in entries)
        self.context.show_message(f"Applied {run.plan.name}: {names}")

    def _models_failed(self, run: _Run, error: JobError) -> None:
        if run is not self.run:
            return
        self._undo(run, f"{run.plan.name} was not applied")
        self.context.report_error(error)

    def _undo(self, run: _Run, text: str) -> None:
        """Undo the plan's edits when they are still the editor's last ones; end the run."""
        self._finish()
        from workstation.services.plan_session import undo_steps

        editor = run.editor
        ours = len(editor.operations) == run.base + run.committed
        if editor is self.context.session.editor and ours and not self.context.edits.busy():
            undo_steps(editor, run.committed)
            self.context.show_message(f"{text}; its edits were undone.")
        elif run.committed:
            self.context.show_message(f"{text}; its edits stay (Edit → Undo reverts them).")

    def _finish(self) -> None:
        self.run = None
        self.apply_action.setEnabled(self.context.session.editor is not None)


def install_plan_actions(menu: QMenu, context: AppContext) -> PlanActions:
    """Add Save case plan… and Apply case plan… to ``menu`` (the File menu)."""
    actions = PlanActions(context)
    menu.addAction(actions.save_action)
    menu.addAction(actions.apply_action)
    return actions
