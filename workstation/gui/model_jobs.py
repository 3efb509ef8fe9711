"""Build a segment's surface model in the background and add it to the session.

The models panel and the segments panel both call ``start_segment_model``: it snapshots
the segment (edits may land while the model is built), runs
``modeling.make_segment_model`` in the window's job runner and adds the result as a
model that remembers its segment and the options that made it.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import TYPE_CHECKING

from workstation.services.modeling import (
    ModelOptions,
    ModelResult,
    make_segment_model,
    segment_model_options,
)

if TYPE_CHECKING:
    from workstation.gui.context import AppContext
    from workstation.gui.workers import Job


def model_options(smooth_iterations: int, decimate_fraction: float) -> ModelOptions:
    """The options of ``workstation mesh --smooth N --decimate F`` (every other flag default)."""
    return ModelOptions(
        smooth_iterations=int(smooth_iterations), decimate_fraction=float(decimate_fraction)
    )


def start_segment_model(
    context: AppContext, segment_id: str, options: ModelOptions | None = None
) -> Job | None:
    """Build a segment's model in a job (``workstation mesh`` options by default); None: no job."""
    session = context.session
    editor, volume = session.editor, session.volume
    if editor is None or volume is None:
        return None
    try:
        segment = editor.segmentation.by_id(segment_id)
    except KeyError:
        context.show_message("That segment no longer exists.")
        return None
    if segment.empty:
        context.show_message(f"Segment {segment.name} is empty: paint or threshold it first.")
        return None
    snapshot = replace(segment, mask=segment.mask.copy())
    chosen = options or ModelOptions()
    parameters = asdict(segment_model_options(snapshot, chosen))
    operations = [dict(record) for record in editor.operations]  # what made the segment now

    def done(result: ModelResult) -> None:
        if session.editor is not editor:
            return  # another volume was loaded meanwhile
        session.add_model(
            result.mesh,
            result.statistics.as_dict(),
            name=result.mesh.name,
            color=snapshot.color,
            segment_id=segment_id,
            parameters=parameters,
            operations=operations,
        )

    return context.runner.submit(
        f"Model of {segment.name}",
        make_segment_model,
        volume,
        snapshot,
        chosen,
        on_result=done,
        on_error=context.report_error,
    )
