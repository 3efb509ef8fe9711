"""Pick island: a click keeps only the island (connected part) of the selected segment there."""

from __future__ import annotations

from workstation.gui.tools.base import Pointer, ToolHandler, editing_target, inside_volume
from workstation.gui.tools.registry import register_handler


class PickIslandTool(ToolHandler):
    """Click an island of the selected segment: one ``islands`` keep_seed record."""

    def press(self, pointer: Pointer) -> None:
        target = editing_target(self.view)
        volume = self.view.volume
        if target is None or volume is None:
            return
        if not inside_volume(volume.shape, volume.affine, pointer.lps):
            return
        context, segment = target
        record = {
            "op": "islands",
            "segment": segment.name,
            "mode": "keep_seed",
            "seed_lps": [float(v) for v in pointer.lps],
        }
        context.edits.submit(record, f"Keep the clicked island of {segment.name}")


register_handler("pick_island", PickIslandTool)
