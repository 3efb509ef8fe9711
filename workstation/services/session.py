"""The working state of one workstation window, Qt-free.

A ``Session`` holds the scan result of the opened path, the loaded volume, the current
label map (with an undo/redo history of its edits) and the surface models.  Front-ends
subscribe plain-Python listeners to its events; the GUI only forwards them to Qt.

Events (``Session.subscribe(event, callback)``; callbacks get one payload argument):

- ``"scan"``: a new ScanResult (or None) was set.
- ``"volume"``: a new Volume (or None) was set; label, history and models were reset.
- ``"label"``: the current LabelMap (or None) changed.
- ``"history"``: undo/redo availability changed; payload ``(can_undo, can_redo)``.
- ``"model_added"`` / ``"model_removed"`` / ``"model_changed"``: payload the ModelEntry.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workstation.core.mesh import Mesh
from workstation.core.volume import LabelMap, Volume
from workstation.io.dicom.model import ScanResult, Stack

EVENTS = ("scan", "volume", "label", "history", "model_added", "model_removed", "model_changed")

#: Bytes the undo/redo history may hold in total before the oldest steps are dropped.
HISTORY_BUDGET_BYTES = 600 * 1024 * 1024

#: Most undo steps kept, whatever their size.
HISTORY_MAX_STEPS = 30

#: Colours handed to new models in turn (RGB 0..1): bone, red, blue, green, yellow, purple.
MODEL_COLOURS = (
    (0.90, 0.85, 0.70),
    (0.85, 0.30, 0.25),
    (0.30, 0.55, 0.90),
    (0.35, 0.75, 0.40),
    (0.95, 0.80, 0.25),
    (0.65, 0.40, 0.80),
)

Listener = Callable[[Any], None]


@dataclass
class ModelEntry:
    """One surface model shown in the 3D view and listed in the models panel."""

    model_id: str
    mesh: Mesh
    name: str
    color: tuple[float, float, float]
    opacity: float = 1.0
    visible: bool = True
    statistics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Snapshot:
    """A compact copy of one label map state for the history."""

    description: str
    name: str
    color: tuple[float, float, float]
    shape: tuple[int, int, int]
    packed: np.ndarray | None  # packbits of a 0/1 mask
    raw: np.ndarray | None  # full uint8 copy when values exceed 1
    empty: bool  # True for "no label map"

    @property
    def nbytes(self) -> int:
        data = self.packed if self.packed is not None else self.raw
        return 0 if data is None else int(data.nbytes)


def _snapshot(label: LabelMap | None, description: str) -> _Snapshot:
    if label is None:
        return _Snapshot(description, "", (0.0, 0.0, 0.0), (0, 0, 0), None, None, True)
    array = label.array
    if array.size and int(array.max()) <= 1:
        packed, raw = np.packbits(array.ravel().astype(bool)), None
    else:
        packed, raw = None, array.copy()
    return _Snapshot(description, label.name, tuple(label.color), label.shape, packed, raw, False)


def _restore(snapshot: _Snapshot, affine: np.ndarray) -> LabelMap | None:
    if snapshot.empty:
        return None
    if snapshot.packed is not None:
        count = int(np.prod(snapshot.shape))
        array = np.unpackbits(snapshot.packed, count=count).reshape(snapshot.shape)
    else:
        array = snapshot.raw.copy()  # type: ignore[union-attr]
    return LabelMap(array, affine.copy(), snapshot.name, snapshot.color)


class Session:
    """Scan, volume, label map with undo/redo, and models of one open study."""

    def __init__(self) -> None:
        self.source_path: str | None = None
        self.scan: ScanResult | None = None
        self.stack: Stack | None = None
        self.volume: Volume | None = None
        self.label: LabelMap | None = None
        self.models: dict[str, ModelEntry] = {}
        self._undo: list[_Snapshot] = []
        self._redo: list[_Snapshot] = []
        self._listeners: dict[str, list[Listener]] = {name: [] for name in EVENTS}
        self._ids = itertools.count(1)

    # -- events ---------------------------------------------------------------------
    def subscribe(self, event: str, callback: Listener) -> None:
        """Call ``callback(payload)`` whenever ``event`` happens."""
        if event not in self._listeners:
            raise ValueError(f"unknown session event {event!r}; known: {', '.join(EVENTS)}")
        self._listeners[event].append(callback)

    def unsubscribe(self, event: str, callback: Listener) -> None:
        """Stop calling ``callback`` for ``event`` (no error when it was not subscribed)."""
        if callback in self._listeners.get(event, []):
            self._listeners[event].remove(callback)

    def _emit(self, event: str, payload: Any) -> None:
        for callback in list(self._listeners[event]):
            callback(payload)

    # -- data -----------------------------------------------------------------------
    def set_scan(self, scan: ScanResult | None, path: str | None = None) -> None:
        """Record the scan of a newly opened path (the volume stays until one is loaded)."""
        self.scan = scan
        self.source_path = path if path is not None else (scan.root if scan else None)
        self._emit("scan", scan)

    def set_volume(self, volume: Volume | None, stack: Stack | None = None) -> None:
        """Show a new volume: the label map, its history and the models are cleared."""
        for model_id in list(self.models):
            self.remove_model(model_id)
        self.volume = volume
        self.stack = stack
        self.label = None
        self._undo.clear()
        self._redo.clear()
        self._emit("volume", volume)
        self._emit("label", None)
        self._emit("history", self.history_state())

    def set_label(self, label: LabelMap | None, description: str = "Edit") -> None:
        """Replace the current label map, recording the previous one for undo."""
        if label is not None:
            if self.volume is None:
                raise ValueError("cannot set a label map without a volume")
            if not label.same_grid(self.volume):
                raise ValueError("label map grid differs from the volume grid")
        self._undo.append(_snapshot(self.label, description))
        self._redo.clear()
        self._trim_history()
        self.label = label
        self._emit("label", label)
        self._emit("history", self.history_state())

    # -- history --------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        """True when there is an edit to undo."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """True when there is an undone edit to redo."""
        return bool(self._redo)

    def history_state(self) -> tuple[bool, bool]:
        """(can_undo, can_redo)."""
        return self.can_undo, self.can_redo

    def undo_description(self) -> str:
        """What undo would revert, or '' when nothing."""
        return self._undo[-1].description if self._undo else ""

    def redo_description(self) -> str:
        """What redo would re-apply, or '' when nothing."""
        return self._redo[-1].description if self._redo else ""

    def undo(self) -> bool:
        """Go back one label-map edit; False when there is nothing to undo."""
        return self._step(self._undo, self._redo)

    def redo(self) -> bool:
        """Re-apply the last undone edit; False when there is nothing to redo."""
        return self._step(self._redo, self._undo)

    def _step(self, source: list[_Snapshot], target: list[_Snapshot]) -> bool:
        """Restore the last snapshot of ``source``, saving the current label map to ``target``."""
        if not source or self.volume is None:
            return False
        snapshot = source.pop()
        target.append(_snapshot(self.label, snapshot.description))
        self.label = _restore(snapshot, self.volume.affine)
        self._emit("label", self.label)
        self._emit("history", self.history_state())
        return True

    def history_bytes(self) -> int:
        """Memory held by the undo and redo history."""
        return sum(step.nbytes for step in self._undo + self._redo)

    def _trim_history(self) -> None:
        while len(self._undo) > HISTORY_MAX_STEPS or (
            len(self._undo) > 1 and self.history_bytes() > HISTORY_BUDGET_BYTES
        ):
            self._undo.pop(0)

    # -- models ---------------------------------------------------------------------
    def add_model(
        self,
        mesh: Mesh,
        statistics: dict[str, Any] | None = None,
        name: str | None = None,
        color: tuple[float, float, float] | None = None,
    ) -> ModelEntry:
        """Add a surface model and return its entry (with a new unique id)."""
        number = next(self._ids)
        model_id = f"model-{number}"
        entry = ModelEntry(
            model_id=model_id,
            mesh=mesh,
            name=name or mesh.name or f"Model {number}",
            color=tuple(color) if color else MODEL_COLOURS[(number - 1) % len(MODEL_COLOURS)],
            statistics=dict(statistics or {}),
        )
        self.models[model_id] = entry
        self._emit("model_added", entry)
        return entry

    def update_model(
        self,
        model_id: str,
        *,
        name: str | None = None,
        color: tuple[float, float, float] | None = None,
        opacity: float | None = None,
        visible: bool | None = None,
    ) -> ModelEntry:
        """Change a model's display properties; KeyError for an unknown id."""
        entry = self.models[model_id]
        if name is not None:
            entry.name = name.strip() or entry.name
            entry.mesh.name = entry.name
        if color is not None:
            entry.color = tuple(float(c) for c in color)  # type: ignore[assignment]
        if opacity is not None:
            entry.opacity = min(max(float(opacity), 0.0), 1.0)
        if visible is not None:
            entry.visible = bool(visible)
        self._emit("model_changed", entry)
        return entry

    def remove_model(self, model_id: str) -> None:
        """Remove a model; KeyError for an unknown id."""
        entry = self.models.pop(model_id)
        self._emit("model_removed", entry)
