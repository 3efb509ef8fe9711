"""DICOM SEG and Encapsulated STL of a study: their rows in the browser, and opening them.

A scan lists the derived objects it found (``ScanResult.derived``); each gets a row under
the series it references ("Segmentation: Bone", "3D model: Skull"), or under its study
when that series is not in the scan.  Opening one checks it against the loaded series
(``services.derived_objects``) in a job; a SEG's import record then goes through the
edit queue (one undo step, replayable), an STL's model joins the session on the UI
thread.  When another series is loaded, the referenced one is loaded first (after asking).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMenu, QMessageBox, QStyle, QTreeWidget, QTreeWidgetItem

from workstation.core.errors import SeriesNotFoundError
from workstation.gui.workers import Job, JobError
from workstation.io.dicom.model import ScanResult, Stack

if TYPE_CHECKING:
    from workstation.gui.context import AppContext
    from workstation.services.derived_objects import DerivedModel

#: The tree role holding a derived object's SOP Instance UID.
DERIVED_ROLE = Qt.ItemDataRole.UserRole + 3
KIND_TITLES = {"seg": "Segmentation", "stl": "3D model"}


def derived_title(derived: Any) -> str:
    """'Segmentation: Bone' or '3D model: Skull'."""
    kind = KIND_TITLES.get(derived.kind, derived.kind)
    label = (derived.label or "").strip()
    if label.lower() in {"", kind.lower(), "segmentation", "3d model", "model"}:
        return kind  # a label that only repeats the kind
    return f"{kind}: {label}"


def referenced_stack(scan: ScanResult | None, derived: Any) -> Stack | None:
    """The stack of the series ``derived`` was made from (a 3D-loadable one first)."""
    if scan is None:
        return None
    references = set(derived.referenced_series_uids)
    candidates = [stack for stack in scan.stacks if stack.identity.series_uid in references]
    candidates.sort(key=lambda stack: not stack.loadable_3d)
    return candidates[0] if candidates else None


def add_derived_items(
    tree: QTreeWidget,
    scan: ScanResult,
    stack_items: dict[str, QTreeWidgetItem],
    study_items: dict[str, QTreeWidgetItem],
) -> dict[str, Any]:
    """Add one row per derived object of ``scan``; returns them by SOP Instance UID.

    ``stack_items`` are the rows by stack id, ``study_items`` by Study Instance UID.
    """
    found: dict[str, Any] = {}
    icons = {
        "seg": tree.style().standardIcon(QStyle.StandardPixmap.SP_FileDialogDetailedView),
        "stl": tree.style().standardIcon(QStyle.StandardPixmap.SP_DriveCDIcon),
    }
    for derived in getattr(scan, "derived", []) or []:
        stack = referenced_stack(scan, derived)
        parent = stack_items.get(stack.stack_id) if stack is not None else None
        if parent is None:
            parent = study_items.get(derived.study_uid)
        item = QTreeWidgetItem([derived_title(derived)])
        item.setData(0, DERIVED_ROLE, derived.sop_instance_uid)
        item.setData(0, Qt.ItemDataRole.UserRole + 2, "derived")  # the browser's KIND_ROLE
        if derived.kind in icons:
            item.setIcon(0, icons[derived.kind])
        item.setToolTip(
            0,
            f"{derived_title(derived)}\n{derived.location}\n"
            + ("Double-click to open it on its series" if stack else "Its series is not here"),
        )
        if parent is None:
            tree.addTopLevelItem(item)
        else:
            parent.addChild(item)
        item.setFirstColumnSpanned(True)
        found[derived.sop_instance_uid] = derived
    return found


def show_derived_menu(
    tree: QTreeWidget, item: QTreeWidgetItem | None, derived: dict[str, Any], open_it: Callable
) -> QMenu | None:
    """The context menu of a derived row ("Open"); None for other rows."""
    uid = item.data(0, DERIVED_ROLE) if item is not None else None
    if not uid or uid not in derived:
        return None
    menu = QMenu(tree)
    menu.addAction("Open", lambda: open_it(derived[uid]))
    return menu


class DerivedOpener(QObject):
    """Opens derived objects onto their series; ``opened(names)`` when one was added."""

    opened = Signal(object)

    def __init__(self, context: AppContext, load_stack: Callable[[Stack], Job | None]) -> None:
        super().__init__(context.parent)
        self.context = context
        self.load_stack = load_stack
        #: asks whether to load the referenced series first (replaceable, e.g. by tests)
        self.confirm_load: Callable[[Any, Stack], bool] = self._ask_load
        self.last_opened: list[str] = []

    def _ask_load(self, derived: Any, stack: Stack) -> bool:
        series = stack.label or stack.identity.series_description or "its series"
        answer = QMessageBox.question(
            self.context.parent,
            "Open",
            f"{derived_title(derived)} belongs to {series}. Load that series and open it?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def open(self, derived: Any) -> Job | None:
        """Open ``derived`` on the loaded series, loading its own series first when needed."""
        session = self.context.session
        stack = referenced_stack(session.scan, derived)
        loaded = session.stack
        references = set(derived.referenced_series_uids)
        on_loaded = loaded is not None and session.volume is not None
        if on_loaded and (loaded.identity.series_uid in references or not references):
            return self._start(derived)
        if stack is None:
            self.context.report_error(
                JobError(
                    f"Open {derived_title(derived)}",
                    SeriesNotFoundError(
                        f"{derived_title(derived)} was made on series "
                        f"{', '.join(derived.referenced_series_uids) or '(unknown)'}, which "
                        "is not in this study; open the folder that holds it."
                    ),
                    "",
                )
            )
            return None
        if not self.confirm_load(derived, stack):
            return None
        job = self.load_stack(stack)
        if job is not None:
            job.signals.result.connect(lambda _volume, derived=derived: self._start(derived))
        return job

    def _start(self, derived: Any) -> Job:
        # imported on first use: reading SEG and STL files is not needed to start the window
        from workstation.services.derived_objects import read_stl_model, seg_import_records

        title = f"Open {derived_title(derived)}"
        self.context.show_message(f"Opening {derived_title(derived)}…")
        session = self.context.session
        editor = session.editor
        if derived.kind == "seg":
            return self.context.runner.submit(
                title,
                seg_import_records,
                session,
                derived,
                on_result=lambda records, derived=derived, editor=editor: self._import(
                    derived, editor, records
                ),
                on_error=self.context.report_error,
            )
        return self.context.runner.submit(
            title,
            read_stl_model,
            session,
            derived,
            on_result=lambda found, derived=derived, editor=editor: self._add_model(
                derived, editor, found
            ),
            on_error=self.context.report_error,
        )

    def _import(self, derived: Any, editor: Any, records: list[dict[str, Any]]) -> None:
        """Apply the SEG's import record through the edit queue (one undo step)."""
        if editor is not self.context.session.editor or not records:
            return  # another volume was loaded meanwhile
        before = {segment.segment_id for segment in editor.segmentation.segments}
        edits = self.context.edits
        last = records[-1]

        def stop_waiting() -> None:
            edits.edit_done.disconnect(committed)
            edits.edit_failed.disconnect(failed)

        def committed(pending: Any) -> None:
            if pending.record.get("path") != last.get("path"):
                return
            stop_waiting()
            added = [s.name for s in editor.segmentation.segments if s.segment_id not in before]
            self._done(derived, added)

        def failed(_error: JobError) -> None:
            stop_waiting()  # the window shows the error; the segments are unchanged

        edits.edit_done.connect(committed)
        edits.edit_failed.connect(failed)
        for record in records:
            edits.submit(record, title=f"Open {derived_title(derived)}")

    def _add_model(self, derived: Any, editor: Any, found: DerivedModel) -> None:
        """Add a model read off the UI thread (``read_stl_model``) where the views show it."""
        session = self.context.session
        if editor is not session.editor:
            return  # another volume was loaded meanwhile
        entry = session.add_model(
            found.mesh, found.statistics, name=found.name, parameters=found.parameters
        )
        self._done(derived, [entry.name])

    def _done(self, derived: Any, names: list[str]) -> None:
        self.last_opened = list(names)
        what = "segment" if derived.kind == "seg" else "model"
        count = len(names)
        self.context.show_message(
            f"Opened {count} {what}{'s' if count != 1 else ''}: " + ", ".join(names)
        )
        self.opened.emit(list(names))
