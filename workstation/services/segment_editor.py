"""The segment editor: applies operation records to a segmentation, with undo and redo.

Qt-free and shared by the GUI and ``workstation segment``.  An edit runs in two parts:
``compute(record)`` reads the segmentation and returns a ``PendingEdit`` (heavy work,
may run in a worker thread, changes nothing), then ``commit(pending)`` writes it, records
one undo step and the operation, and emits events (on the caller's thread).  The GUI
runs edits one at a time, in order, so a computation always sees every earlier commit.
Brush strokes apply dab by dab (``begin_stroke``/``dab``/``end_stroke``) for live
feedback and become one undo step and one ``paint`` record.

Events (``subscribe(event, callback)``):

- ``"segments"``: the list or a segment's properties changed (payload None);
- ``"voxels"``: voxels changed, payload ``(segment_id, region)`` (region None = all);
- ``"history"``: payload ``(can_undo, can_redo)``;
- ``"operations"``: the recorded operation list changed (payload the list).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workstation.core import geometry
from workstation.core.events import EventSource
from workstation.core.operations import OperationError, Record, normalise
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.segment_history import (
    AddAtom,
    Atom,
    MoveAtom,
    Region,
    RemoveAtom,
    SegmentSnapshot,
    Step,
    UpdateAtom,
    write_mask,
)
from workstation.core.segmentation import Segment, Segmentation
from workstation.core.volume import Volume

EVENTS = ("segments", "voxels", "history", "operations")

#: Most undo steps kept.
HISTORY_MAX_STEPS = 50
#: Bytes the undo and redo history may hold before the oldest steps are dropped.
HISTORY_BUDGET_BYTES = 512 * 1024 * 1024

FULL: Region = (slice(None), slice(None), slice(None))


# -- what an operation asks to change ---------------------------------------------------------
@dataclass
class Write:
    """Set a segment's voxels in ``region`` to ``values`` (a threshold also sets its range)."""

    segment_id: str
    region: Region
    values: np.ndarray
    threshold_range: tuple[float, float | None] | None = None


@dataclass
class AddSegment:
    """Add a segment (its id is chosen at compute time so later actions can name it)."""

    segment_id: str
    name: str
    color: tuple[float, float, float] | None = None
    mask: np.ndarray | None = None
    index: int | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class RemoveSegment:
    segment_id: str


@dataclass
class UpdateSegment:
    segment_id: str
    changes: dict[str, Any]


@dataclass
class MoveSegment:
    segment_id: str
    index: int


Action = Write | AddSegment | RemoveSegment | UpdateSegment | MoveSegment


@dataclass
class PendingEdit:
    """The outcome of ``compute``: actions to commit, with the record that made them."""

    record: Record
    description: str
    actions: list[Action] = field(default_factory=list)
    #: one-line notes for the user (e.g. "kept 1 of 12 islands")
    notes: list[str] = field(default_factory=list)
    #: the segmentation state the computation saw (commit refuses a stale edit)
    generation: int = 0


class EditContext:
    """What an operation implementation may read while it computes."""

    def __init__(
        self,
        editor: SegmentEditor,
        record: Record,
        index: int | None,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> None:
        self.editor = editor
        self.volume = editor.volume
        self.segmentation = editor.segmentation
        self.record = record
        self.index = index
        self.progress = progress
        self.cancel = cancel
        self._new_ids: set[str] = set()

    def fail(self, message: str) -> OperationError:
        """The error for this operation (raise it)."""
        return OperationError(self.index, str(self.record.get("op", "")), message)

    def segment(self, name: str, writable: bool = True) -> Segment:
        """The segment called ``name``; a clear error when absent (or locked, for writes)."""
        segment = self.segmentation.by_name(name)
        if segment is None:
            known = ", ".join(repr(n) for n in self.segmentation.names) or "none yet"
            raise self.fail(f"unknown segment {name!r} (segments: {known})")
        if writable and segment.locked:
            raise self.fail(f"segment {name!r} is locked; unlock it to edit it")
        return segment

    def new_segment_id(self) -> str:
        """An id for a segment this operation adds (distinct from all present and pending)."""
        while True:
            candidate = self.segmentation.new_id()
            if candidate not in self._new_ids:
                self._new_ids.add(candidate)
                return candidate

    def index_of(self, point_lps: list[float], field_name: str) -> np.ndarray:
        """Continuous voxel index of an LPS point; an error when it lies outside the volume."""
        index = geometry.lps_to_index(self.segmentation.affine, np.asarray([point_lps], float))[0]
        shape = np.asarray(self.segmentation.shape)
        if np.any(index < -0.5) or np.any(index > shape - 0.5):
            text = ", ".join(f"{v:g}" for v in point_lps)
            raise self.fail(f"{field_name} [{text}] lies outside the volume")
        return index

    def voxel_of(self, point_lps: list[float], field_name: str) -> tuple[int, int, int]:
        """The voxel whose centre is nearest to an LPS point inside the volume."""
        index = np.rint(self.index_of(point_lps, field_name)).astype(int)
        index = np.clip(index, 0, np.asarray(self.segmentation.shape) - 1)
        return int(index[0]), int(index[1]), int(index[2])


Implementation = Callable[[EditContext], PendingEdit]


class SegmentEditor(EventSource):
    """One volume's segmentation with its operations, undo/redo history and events."""

    def __init__(self, volume: Volume, segmentation: Segmentation | None = None) -> None:
        super().__init__(EVENTS, "editor")
        self.volume = volume
        self.segmentation = segmentation or Segmentation.for_volume(volume)
        if not self.segmentation.same_grid(volume):
            raise ValueError("the segmentation's grid differs from the volume's grid")
        self.operations: list[Record] = []
        self._undone_operations: list[Record] = []
        self._undo: list[Step] = []
        self._redo: list[Step] = []
        self._lock = threading.RLock()
        self._generation = 0
        self._stroke: _Stroke | None = None

    # -- operations ---------------------------------------------------------------------
    def compute(
        self,
        record: Record,
        index: int | None = None,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> PendingEdit:
        """Validate ``record`` and compute its changes without applying them."""
        from workstation.services.segment_ops import implementation_of

        normalised = normalise(record, index)
        with self._lock:
            context = EditContext(self, normalised, index, progress, cancel or CancelToken())
            pending = implementation_of(normalised["op"])(context)
            pending.generation = self._generation
        return pending

    def commit(self, pending: PendingEdit) -> Step:
        """Apply a computed edit: one undo step, one recorded operation, events."""
        with self._lock:
            if self._stroke is not None:
                raise RuntimeError("finish the brush stroke before another edit")
            if pending.generation != self._generation:
                raise RuntimeError("the segmentation changed since this edit was computed")
            step = Step(pending.description, pending.record)
            for action in pending.actions:
                atom = self._perform(action)
                if atom is not None:
                    step.atoms.append(atom)
            self._record(step)
        self._announce_step(step)
        return step

    def apply(
        self,
        record: Record,
        index: int | None = None,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> PendingEdit:
        """Compute and commit one operation (the command line's path)."""
        pending = self.compute(record, index, progress, cancel)
        self.commit(pending)
        return pending

    def apply_all(
        self,
        records: list[Record],
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
        first_index: int = 0,
    ) -> list[str]:
        """Apply records in order; returns the notes.  Errors name the record's index."""
        notes: list[str] = []
        count = max(len(records), 1)
        for number, record in enumerate(records):
            op = record.get("op", "?") if isinstance(record, dict) else "?"
            progress(number / count, f"Operation {number + 1} of {len(records)}: {op}")
            pending = self.apply(record, first_index + number, no_progress, cancel)
            notes.extend(pending.notes)
        progress(1.0, "Operations applied")
        return notes

    def _perform(self, action: Action) -> Atom | None:
        seg = self.segmentation
        if isinstance(action, Write):
            return write_mask(
                seg, action.segment_id, action.region, action.values, action.threshold_range
            )
        if isinstance(action, AddSegment):
            seg.add(
                action.name,
                action.color,
                action.mask,
                index=action.index,
                segment_id=action.segment_id,
                **action.properties,
            )
            return AddAtom(SegmentSnapshot.of(seg, action.segment_id))
        if isinstance(action, RemoveSegment):
            snapshot = SegmentSnapshot.of(seg, action.segment_id)
            seg.remove(action.segment_id)
            return RemoveAtom(snapshot)
        if isinstance(action, UpdateSegment):
            segment = seg.by_id(action.segment_id)
            before = {name: getattr(segment, name) for name in action.changes}
            seg.update(action.segment_id, **action.changes)
            return UpdateAtom(action.segment_id, before, dict(action.changes))
        before_index = seg.index_of(action.segment_id)
        seg.move(action.segment_id, action.index)
        return MoveAtom(action.segment_id, before_index, seg.index_of(action.segment_id))

    def _record(self, step: Step) -> None:
        self._generation += 1
        if step.record is not None:
            self.operations.append(dict(step.record))
            self._undone_operations.clear()
        self._undo.append(step)
        self._redo.clear()
        while len(self._undo) > HISTORY_MAX_STEPS or (
            len(self._undo) > 1 and self.history_bytes() > HISTORY_BUDGET_BYTES
        ):
            self._undo.pop(0)

    def _announce(self, structure: bool, touched: list[tuple[str, Region | None]]) -> None:
        if structure:
            self._emit("segments", None)
        for segment_id, region in touched:
            self._emit("voxels", (segment_id, region))
        self._emit("history", self.history_state())
        self._emit("operations", self.operations)

    # -- display properties (not edits: no undo, not recorded) ------------------------
    def set_display(
        self, segment_id: str, *, visible: bool | None = None, opacity: float | None = None
    ) -> None:
        """Show/hide a segment or change its opacity."""
        changes: dict[str, Any] = {}
        if visible is not None:
            changes["visible"] = bool(visible)
        if opacity is not None:
            changes["opacity"] = min(max(float(opacity), 0.0), 1.0)
        with self._lock:
            self.segmentation.update(segment_id, **changes)
        self._emit("segments", None)

    # -- brush strokes ----------------------------------------------------------------
    def begin_stroke(self, record: Record) -> None:
        """Start a paint stroke; ``record`` is a paint record whose points are filled by dabs."""
        normalised = normalise({**record, "points_lps": record.get("points_lps") or [[0, 0, 0]]})
        if normalised["op"] != "paint":
            raise ValueError("a stroke is a paint operation")
        with self._lock:
            context = EditContext(self, normalised, None, no_progress, CancelToken())
            segment = context.segment(normalised["segment"])
            normalised["points_lps"] = []
            self._stroke = _Stroke(normalised, segment.segment_id, Step("Paint", None))

    def dab(self, point_lps: list[float] | np.ndarray) -> Region | None:
        """Paint (or erase) one dab of the current stroke now; the changed region or None."""
        from workstation.services.segment_ops import paint_dab

        stroke = self._stroke
        if stroke is None:
            raise RuntimeError("dab outside a stroke")
        point = [float(v) for v in point_lps]
        with self._lock:
            context = EditContext(self, stroke.record, None, no_progress, CancelToken())
            context.index_of(point, "brush point")
            stroke.record["points_lps"].append(point)
            write = paint_dab(context, stroke.segment_id, point)
            if write is None:
                return None
            atom = write_mask(self.segmentation, write.segment_id, write.region, write.values)
            if atom is None:
                return None
            stroke.step.atoms.append(atom)
        self._emit("voxels", (stroke.segment_id, write.region))
        return write.region

    def end_stroke(self) -> Step | None:
        """Finish the stroke: one undo step and one paint record (None for an empty stroke)."""
        with self._lock:
            stroke, self._stroke = self._stroke, None
            if stroke is None or not stroke.record["points_lps"]:
                return None
            erase = stroke.record["erase"]
            step = stroke.step
            step.description = f"{'Erase' if erase else 'Paint'} {stroke.record['segment']}"
            step.record = stroke.record
            self._record(step)
        self._announce(False, [])  # the voxels were announced dab by dab
        return step

    @property
    def stroke_active(self) -> bool:
        """True between ``begin_stroke`` and ``end_stroke``."""
        return self._stroke is not None

    # -- history ------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def history_state(self) -> tuple[bool, bool]:
        """(can_undo, can_redo)."""
        return self.can_undo, self.can_redo

    def undo_description(self) -> str:
        """What undo would revert, or ''."""
        return self._undo[-1].description if self._undo else ""

    def redo_description(self) -> str:
        """What redo would re-apply, or ''."""
        return self._redo[-1].description if self._redo else ""

    def undo(self) -> bool:
        """Revert the last step; False when there is none."""
        return self._replay(self._undo, self._redo, self.operations, self._undone_operations, False)

    def redo(self) -> bool:
        """Re-apply the last undone step; False when there is none."""
        return self._replay(self._redo, self._undo, self._undone_operations, self.operations, True)

    def _replay(
        self,
        source: list[Step],
        target: list[Step],
        records_from: list[Record],
        records_to: list[Record],
        forward: bool,
    ) -> bool:
        """Move the last step of ``source`` to ``target``, undoing or redoing it."""
        with self._lock:
            if not source or self._stroke is not None:
                return False
            step = source.pop()
            if forward:
                step.redo(self.segmentation)
            else:
                step.undo(self.segmentation)
            target.append(step)
            if step.record is not None and records_from:
                records_to.append(records_from.pop())
            self._generation += 1
        self._announce_step(step)
        return True

    def _announce_step(self, step: Step) -> None:
        touched = [atom.touched() for atom in step.atoms]
        structure = any(region is None for _, region in touched)
        self._announce(structure, [t for t in touched if t[1] is not None])

    def history_bytes(self) -> int:
        """Memory held by the undo and redo history."""
        return sum(step.nbytes for step in self._undo + self._redo)


@dataclass
class _Stroke:
    record: Record
    segment_id: str
    step: Step
