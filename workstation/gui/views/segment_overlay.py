"""All visible segments coloured on the slice views, updated region by region while editing.

One uint8 *composite* label image on the volume grid holds, per voxel, the slot of the
topmost visible segment there (the last one in list order wins, 0 = none); a lookup
table turns slots into the segments' colours at their opacity.  A brush dab rewrites only
its region of the composite and marks the image modified, so the views re-cut one plane
each instead of rebuilding 100 million voxels; colour and opacity changes touch only the
lookup table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from vtkmodules.vtkCommonCore import vtkLookupTable

from workstation.core import geometry
from workstation.core.segment_history import concrete
from workstation.core.segmentation import Segment, Segmentation
from workstation.gui.views.vtk_setup import image_from_array

if TYPE_CHECKING:
    from workstation.gui.context import AppContext
    from workstation.services.segment_editor import SegmentEditor

#: Fill opacity of a segment at opacity 1 on the slice views (3D Slicer's 2D fill default).
FILL_OPACITY = 0.5
#: Height of the segment layer above the image (the threshold preview is drawn above it).
SEGMENT_Z = 0.25
#: Most segments shown at once (slots of the uint8 composite).
MAX_SLOTS = 255

Region = tuple[slice, slice, slice]
FULL: Region = (slice(None), slice(None), slice(None))


class CompositeImage:
    """The uint8 composite of a segmentation's visible segments and its lookup table."""

    def __init__(self, segmentation: Segmentation) -> None:
        self.segmentation = segmentation
        self.affine = segmentation.affine.copy()
        self.array = np.zeros(segmentation.shape, dtype=np.uint8)
        self.image, self.array = image_from_array(self.array)
        self.lut = vtkLookupTable()
        self.lut.SetNumberOfTableValues(MAX_SLOTS + 1)
        self.lut.SetTableRange(0.0, float(MAX_SLOTS))
        for slot in range(MAX_SLOTS + 1):
            self.lut.SetTableValue(slot, 0.0, 0.0, 0.0, 0.0)
        self.lut.Build()
        self._slots: dict[str, int] = {}
        self._order: list[str] = []
        self._known_empty: set[str] = set()

    # -- which segments are drawn -----------------------------------------------------
    def _shown(self) -> list[Segment]:
        """Visible segments in list order that have a slot (the first MAX_SLOTS)."""
        shown = []
        for segment in self.segmentation.segments:
            if segment.visible and self._slot(segment.segment_id):
                shown.append(segment)
        return shown

    def _slot(self, segment_id: str) -> int:
        slot = self._slots.get(segment_id)
        if slot is None:
            taken = set(self._slots.values())
            free = next((n for n in range(1, MAX_SLOTS + 1) if n not in taken), 0)
            if not free:
                return 0
            self._slots[segment_id] = slot = free
        return slot

    def slot_of(self, segment_id: str) -> int:
        """The composite value of a segment (0 when it has none)."""
        return self._slots.get(segment_id, 0)

    # -- updates ------------------------------------------------------------------------
    def rebuild(self) -> None:
        """Recompute every voxel of the composite."""
        present = {segment.segment_id for segment in self.segmentation.segments}
        self._slots = {key: slot for key, slot in self._slots.items() if key in present}
        self.array[...] = 0
        shown = self._shown()
        self._known_empty = set()
        for segment in shown:
            if segment.mask.any():
                self.array[segment.mask] = self._slots[segment.segment_id]
            else:
                self._known_empty.add(segment.segment_id)
        self._order = [segment.segment_id for segment in shown]
        self.update_colours()
        self.image.Modified()

    def update_region(self, segment_id: str, region: Region | None) -> Region | None:
        """A segment's voxels changed in ``region`` (None: anywhere); the region redrawn."""
        self._known_empty.discard(segment_id)
        if region is None:
            self.rebuild()
            return concrete(FULL, self.array.shape)
        if segment_id not in self._order:
            return None  # hidden: nothing drawn changes
        region = concrete(region, self.array.shape)
        block = np.zeros(tuple(part.stop - part.start for part in region), dtype=np.uint8)
        for segment in self._shown():
            block[segment.mask[region]] = self._slots[segment.segment_id]
        self.array[region] = block
        self.image.Modified()
        return region

    def segments_changed(self) -> bool:
        """The list or display properties changed; True when the voxels were rebuilt."""
        shown = self._shown()
        for segment in shown:
            if segment.segment_id not in self._order and not segment.mask.any():
                self._known_empty.add(segment.segment_id)
        before = [key for key in self._order if key not in self._known_empty]
        after = [s.segment_id for s in shown if s.segment_id not in self._known_empty]
        if before != after:
            self.rebuild()
            return True
        self._order = [segment.segment_id for segment in shown]
        self.update_colours()
        return False

    def update_colours(self) -> None:
        """Lookup-table entries from the segments' colours and opacities."""
        for slot in range(1, MAX_SLOTS + 1):
            self.lut.SetTableValue(slot, 0.0, 0.0, 0.0, 0.0)
        for segment in self.segmentation.segments:
            slot = self._slots.get(segment.segment_id)
            if slot:
                alpha = FILL_OPACITY * float(segment.opacity) if segment.visible else 0.0
                self.lut.SetTableValue(slot, *segment.color, alpha)
        self.lut.Modified()

    def region_corners_lps(self, region: Region) -> np.ndarray:
        """The 8 LPS corners of a voxel region (centres of its corner voxels)."""
        bounds = [(part.start, part.stop - 1) for part in region]
        corners = np.array(
            [[s, r, c] for s in bounds[0] for r in bounds[1] for c in bounds[2]], dtype=np.float64
        )
        return geometry.index_to_lps(self.affine, corners)


class SegmentOverlay:
    """Keeps the slice views' segment layers in step with the window's segment editor."""

    def __init__(self, layout: Any, context: AppContext) -> None:
        self._layout = layout
        self._editor: SegmentEditor | None = None
        self.composite: CompositeImage | None = None
        context.session.subscribe("editor", self.set_editor)
        self.set_editor(context.session.editor)

    def _views(self) -> dict[str, Any]:
        return {name: self._layout.slice_view(name) for name in ("axial", "coronal", "sagittal")}

    def set_editor(self, editor: SegmentEditor | None) -> None:
        """Follow another editor (a new volume) or none."""
        if self._editor is not None:
            self._editor.unsubscribe("segments", self._segments_changed)
            self._editor.unsubscribe("voxels", self._voxels_changed)
        self._editor = editor
        self.composite = None if editor is None else CompositeImage(editor.segmentation)
        if editor is not None and self.composite is not None:
            editor.subscribe("segments", self._segments_changed)
            editor.subscribe("voxels", self._voxels_changed)
            self.composite.rebuild()
        for view in self._views().values():
            view.set_segment_overlay(self.composite)
        self._schedule(self._views())

    def _segments_changed(self, _payload: object) -> None:
        if self.composite is not None:
            self.composite.segments_changed()
            self._schedule(self._views())

    def _voxels_changed(self, payload: tuple[str, Region | None]) -> None:
        if self.composite is None:
            return
        segment_id, region = payload
        changed = self.composite.update_region(segment_id, region)
        if changed is None:
            return
        corners = self.composite.region_corners_lps(changed)
        cut = {name: view for name, view in self._views().items() if view.cuts(corners)}
        self._schedule(cut)

    def _schedule(self, views: dict[str, Any]) -> None:
        """Redraw these views once the current event is handled (many dabs, one frame)."""
        for view in views.values():
            view.schedule_refresh()
