"""The working state of one workstation window, Qt-free.

A ``Session`` holds the scan result of the opened path, the loaded volume, its segment
editor (segments, operations, undo/redo) and the surface models.  Front-ends subscribe
plain-Python listeners to its events; the GUI only forwards them to Qt.

Events (``Session.subscribe(event, callback)``; callbacks get one payload argument):

- ``"scan"``: a new ScanResult (or None) was set.
- ``"volume"``: a new Volume (or None) was set; segments and models were reset.
- ``"editor"``: a new SegmentEditor (or None) replaced the previous one.
- ``"model_added"`` / ``"model_removed"`` / ``"model_changed"``: payload the ModelEntry.
- ``"modified"``: the case gained or lost unsaved changes, payload ``modified`` (bool).

``modified`` is True once segments, models, measurements or planning objects changed
since the case was loaded or saved; front-ends ask before such work is discarded.  The
measurements are a ``MeasurementList`` (``session.measurements``), the planning objects
(points, lines, planes, guides) a ``PlanningList`` (``session.planning``), each with
events of its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from workstation.core.events import EventSource
from workstation.core.measurements import MeasurementList
from workstation.core.mesh import Mesh
from workstation.core.planning import PlanningList
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.provenance import SeriesIdentity
from workstation.core.volume import Volume
from workstation.io.dicom.model import ScanResult, Stack
from workstation.io.source_files import SourceSeries, describe_sources
from workstation.services.segment_editor import SegmentEditor

EVENTS = (
    "scan",
    "volume",
    "editor",
    "model_added",
    "model_removed",
    "model_changed",
    "modified",
)

#: Colours handed to new models in turn (RGB 0..1): bone, red, blue, green, yellow, purple.
MODEL_COLOURS = (
    (0.90, 0.85, 0.70),
    (0.85, 0.30, 0.25),
    (0.30, 0.55, 0.90),
    (0.35, 0.75, 0.40),
    (0.95, 0.80, 0.25),
    (0.65, 0.40, 0.80),
)


@dataclass
class ModelEntry:
    """One surface model shown in the 3D view and listed in the models panel.

    ``segment_id`` names the segment it was built from (None for a model made straight
    from the image), ``parameters`` the model options that made it and ``operations``
    the segmentation's operation list when it was built (None: not known), which its
    provenance record names.
    """

    model_id: str
    mesh: Mesh
    name: str
    color: tuple[float, float, float]
    opacity: float = 1.0
    visible: bool = True
    statistics: dict[str, Any] = field(default_factory=dict)
    segment_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    operations: list[dict[str, Any]] | None = None


def _rgb(color: tuple[float, float, float] | list[float]) -> tuple[float, float, float]:
    red, green, blue = (float(c) for c in color)
    return red, green, blue


class Session(EventSource):
    """Scan, volume, segment editor and models of one open study."""

    def __init__(self) -> None:
        super().__init__(EVENTS, "session")
        self.source_path: str | None = None
        self.scan: ScanResult | None = None
        self.stack: Stack | None = None
        self.volume: Volume | None = None
        self.editor: SegmentEditor | None = None
        self.models: dict[str, ModelEntry] = {}
        self.measurements = MeasurementList()
        self.planning = PlanningList()
        self.modified = False
        #: the project file the case was opened from or last saved to (None: not saved yet)
        self.project_path: str | None = None
        #: True when the case's source files changed: it is shown, but not edited or saved
        self.read_only = False
        #: the loaded volume's source files with their SHA-256 (None until hashed)
        self.sources: SourceSeries | None = None
        #: provenance records of the models exported from this case (JSON-ready dicts)
        self.provenance: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        for event in ("added", "removed", "changed", "cleared"):
            self.measurements.subscribe(event, self._changed)
            self.planning.subscribe(event, self._changed)

    # -- unsaved changes --------------------------------------------------------------
    @property
    def identity(self) -> SeriesIdentity | None:
        """The loaded volume's patient, study and series facts (None without a volume);
        exports read ``identity_removed`` from it to know whether the data is de-identified."""
        return None if self.volume is None else self.volume.source.identity

    def set_modified(self, modified: bool) -> None:
        """Mark the case as holding unsaved changes (True) or as just saved/loaded (False)."""
        if modified != self.modified:
            self.modified = modified
            self._emit("modified", modified)

    def _changed(self, _payload: object = None) -> None:
        self.set_modified(True)

    # -- sources --------------------------------------------------------------------
    def ensure_sources(
        self, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
    ) -> SourceSeries | None:
        """The loaded volume's source files with their SHA-256, hashed once and then kept.

        None when no volume from a scanned stack is loaded (nothing to record).
        """
        if self.sources is None and self.volume is not None and self.stack is not None:
            root = self.source_path or (self.scan.root if self.scan else "")
            volume, stack = self.volume, self.stack
            sources = describe_sources(stack, volume, root, progress, cancel)
            if self.volume is volume:  # still the same case when hashing ends
                self.sources = sources
            return sources
        return self.sources

    # -- data -----------------------------------------------------------------------
    def set_scan(self, scan: ScanResult | None, path: str | None = None) -> None:
        """Record the scan of a newly opened path (the volume stays until one is loaded)."""
        self.scan = scan
        self.source_path = path if path is not None else (scan.root if scan else None)
        self._emit("scan", scan)

    def set_volume(self, volume: Volume | None, stack: Stack | None = None) -> None:
        """Show a new volume with a new, empty segmentation; the models are cleared."""
        self.set_volume_with_editor(
            volume, stack, None if volume is None else SegmentEditor(volume)
        )

    def set_volume_with_editor(
        self, volume: Volume | None, stack: Stack | None, editor: SegmentEditor | None
    ) -> None:
        """Show ``volume`` with a prepared editor (a reopened case's segments); models cleared.

        The case counts as unmodified afterwards: it is exactly what was loaded.
        """
        for model_id in list(self.models):
            self.remove_model(model_id)
        self.measurements.clear()
        self.planning.clear()
        self.sources = None
        self.provenance = []
        self.project_path = None
        self.read_only = False
        if self.editor is not None:
            for event in ("segments", "operations"):
                self.editor.unsubscribe(event, self._changed)
        self.volume = volume
        self.stack = stack
        self.editor = editor
        if editor is not None:
            for event in ("segments", "operations"):
                editor.subscribe(event, self._changed)
        self._emit("volume", volume)
        self._emit("editor", self.editor)
        self.set_modified(False)

    # -- models ---------------------------------------------------------------------
    def add_model(
        self,
        mesh: Mesh,
        statistics: dict[str, Any] | None = None,
        name: str | None = None,
        color: tuple[float, float, float] | None = None,
        segment_id: str | None = None,
        parameters: dict[str, Any] | None = None,
        model_id: str | None = None,
        operations: list[dict[str, Any]] | None = None,
    ) -> ModelEntry:
        """Add a surface model and return its entry (with a new unique id, or ``model_id``
        when that one is free: a reopened project keeps its models' ids)."""
        number = next(self._ids)
        while f"model-{number}" in self.models:
            number = next(self._ids)
        if not model_id or model_id in self.models:
            model_id = f"model-{number}"
        entry = ModelEntry(
            model_id=model_id,
            mesh=mesh,
            name=name or mesh.name or f"Model {number}",
            color=_rgb(color) if color else MODEL_COLOURS[(number - 1) % len(MODEL_COLOURS)],
            statistics=dict(statistics or {}),
            segment_id=segment_id,
            parameters=dict(parameters or {}),
            operations=None if operations is None else [dict(r) for r in operations],
        )
        self.models[model_id] = entry
        self._emit("model_added", entry)
        self._changed()
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
        self._changed()
        return entry

    def remove_model(self, model_id: str) -> None:
        """Remove a model; KeyError for an unknown id."""
        entry = self.models.pop(model_id)
        self._emit("model_removed", entry)
        self._changed()
