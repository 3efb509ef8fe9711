"""Make a segmentation from a volume: replay an operation list, or build one from flags.

The command line's ``segment`` and ``mesh --ops`` and (later) batch plans use this; the
GUI records the same operations as the user edits, so a list exported from the window
replays here voxel for voxel.
"""

from __future__ import annotations

from workstation.core.coded_concepts import preset_meaning
from workstation.core.errors import SegmentationError
from workstation.core.operations import Record
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.segmentation import Segment
from workstation.core.volume import Volume
from workstation.processing.presets import get_preset, resolve_threshold
from workstation.services.segment_editor import SegmentEditor


def shortcut_operations(
    volume: Volume,
    *,
    preset: str | None = None,
    lower: float | None = None,
    upper: float | None = None,
    largest: bool = False,
    seed_lps: tuple[float, float, float] | None = None,
    name: str | None = None,
) -> list[Record]:
    """The operation list the ``--preset``/``--threshold``/``--largest``/``--seed`` flags mean.

    A preset is resolved to its numeric range on this volume, so the list says exactly
    which bounds were used (a percentile preset depends on the image).
    """
    if lower is None and preset is None:
        raise SegmentationError("Give --ops, --preset or --threshold to say what to segment.")
    if upper is not None and lower is None:
        raise SegmentationError("--upper needs --threshold LOW as well.")
    if largest and seed_lps is not None:
        raise SegmentationError("Choose either --largest or --seed, not both.")
    lower_given = lower
    if lower is None:
        lower, upper = resolve_threshold(preset or "", volume)
        default_name = get_preset(preset or "").label
    else:
        default_name = "Threshold"
    segment = name or default_name
    meaning = preset_meaning(preset if lower_given is None else None)
    records: list[Record] = [
        {"op": "add_segment", "name": segment, **meaning},
        {"op": "threshold", "segment": segment, "lower": float(lower), "upper": upper},
    ]
    if largest:
        records.append({"op": "islands", "segment": segment, "mode": "keep_largest"})
    elif seed_lps is not None:
        seed = [float(v) for v in seed_lps]
        records.append({"op": "islands", "segment": segment, "mode": "keep_seed", "seed_lps": seed})
    return records


def replay(
    volume: Volume,
    segments: list[Record],
    operations: list[Record],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> SegmentEditor:
    """A segment editor on ``volume`` with ``segments`` added and ``operations`` applied."""
    editor = SegmentEditor(volume)
    for record in segments:
        editor.apply(record)
    editor.apply_all(operations, progress, cancel or CancelToken())
    return editor


def segment_to_model(editor: SegmentEditor, name: str | None) -> Segment:
    """The segment a model is made of: the one called ``name``, or the only non-empty one."""
    segmentation = editor.segmentation
    if name is not None:
        segment = segmentation.by_name(name)
        if segment is None:
            known = ", ".join(repr(n) for n in segmentation.names) or "none"
            raise SegmentationError(f"No segment called {name!r}; the segments are: {known}.")
        return segment
    filled = [segment for segment in segmentation if not segment.empty]
    if len(filled) == 1:
        return filled[0]
    if not filled:
        raise SegmentationError("The operations leave every segment empty: nothing to model.")
    names = ", ".join(repr(segment.name) for segment in filled)
    raise SegmentationError(f"Several segments hold voxels ({names}); choose one with --segment.")
