"""From a volume to a printable model: segment, extract, clean, smooth, decimate, repair.

This is the logic both front-ends call (the CLI ``mesh`` command and the GUI); it never
imports Qt.  Every stage is timed and reported.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from workstation.core.errors import SegmentationError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.segmentation import Segment
from workstation.core.volume import LabelMap, Volume
from workstation.core.workers import available_cpus
from workstation.processing.decimation import decimate
from workstation.processing.mesh_components import pieces, small_pieces
from workstation.processing.mesh_edit import keep_faces
from workstation.processing.mesh_repair import DEFAULT_MAX_HOLE_EDGES, repair
from workstation.processing.mesh_smoothing import smooth
from workstation.processing.mesh_statistics import (
    MeshStatistics,
    statistics_splitting_pinched_points,
)
from workstation.processing.presets import get_preset, resolve_threshold
from workstation.processing.threshold import describe_range, nothing_selected, threshold

#: Default preset of a model when no threshold is given: CT bone.
DEFAULT_PRESET = "bone"


@dataclass
class ModelOptions:
    """How to segment and mesh.  ``lower``/``upper`` override ``preset`` when given.

    Defaults make a CT bone model: bone preset, pieces outside the patient's body dropped
    (the scanner table and supports; CT in HU only, ``remove_table``), islands under
    100 mm^3 dropped (specks of noise and calcification that would print as loose crumbs;
    small bones such as phalanges stay), 20 windowed-sinc iterations with pass band 0.1
    (removes the voxel staircase, keeps volume within 1 %), and 50 % decimation (half the
    triangles, sub-voxel change) in one worker process per core.  ``decimate_fraction`` is
    the share of triangles removed; 0 switches decimation off, as ``smooth_iterations`` 0
    does smoothing.
    """

    preset: str | None = DEFAULT_PRESET
    lower: float | None = None
    upper: float | None = None
    largest: bool = False
    seed_lps: tuple[float, float, float] | None = None
    min_island_mm3: float = 100.0
    remove_table: bool = True
    fill_holes: bool = False
    smooth_iterations: int = 20
    pass_band: float = 0.1
    decimate_fraction: float = 0.5
    target_triangles: int | None = None
    max_hole_edges: int = DEFAULT_MAX_HOLE_EDGES
    coords: str = "lps"
    name: str = ""
    #: decimation processes, one slab of the mesh each (0 = in this process, which then
    #: keeps fast-simplification's buffers, ~0.4 GB per million triangles, for good)
    workers: int = field(default_factory=available_cpus)

    def validate(self) -> None:
        """Raise SegmentationError for options that cannot work, before any heavy work."""
        if self.lower is None and self.preset is None:
            raise SegmentationError("Give a threshold or a preset to segment the image.")
        if self.lower is None and self.preset is not None:
            get_preset(self.preset)
        if self.largest and self.seed_lps is not None:
            raise SegmentationError("Choose either the largest island or a seed point, not both.")
        if self.smooth_iterations < 0:
            raise SegmentationError("The number of smoothing iterations cannot be negative.")
        if not 0.0 <= self.decimate_fraction < 1.0:
            raise SegmentationError(
                f"The decimation fraction must be from 0 up to (not including) 1, "
                f"got {self.decimate_fraction:g}."
            )
        if not 0.0 < self.pass_band < 2.0:
            raise SegmentationError(
                f"The smoothing pass band must be between 0 and 2, got {self.pass_band:g}."
            )
        if self.min_island_mm3 < 0:
            raise SegmentationError("The minimum island volume cannot be negative.")


@dataclass
class ModelResult:
    """The finished mesh, its statistics, seconds per stage and what each stage changed."""

    mesh: Mesh
    statistics: MeshStatistics
    timings: dict[str, float] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)
    threshold: tuple[float, float | None] | None = None


class _Stages:
    """Times named stages and reports progress across them."""

    def __init__(self, progress: ProgressCallback, cancel: CancelToken, weights: dict[str, float]):
        self.progress = progress
        self.cancel = cancel
        self.timings: dict[str, float] = {}
        total = sum(weights.values()) or 1.0
        self._spans: dict[str, tuple[float, float]] = {}
        position = 0.0
        for name, weight in weights.items():
            self._spans[name] = (position / total, (position + weight) / total)
            position += weight

    @contextmanager
    def stage(self, name: str, text: str) -> Iterator[ProgressCallback]:
        self.cancel.raise_if_cancelled()
        start, end = self._spans.get(name, (0.0, 0.0))
        report = sub_progress(self.progress, start, end)
        report(0.0, text)
        began = time.perf_counter()
        yield report
        self.timings[name] = round(time.perf_counter() - began, 4)
        self.cancel.raise_if_cancelled()


def threshold_range(volume: Volume, options: ModelOptions) -> tuple[float, float | None]:
    """The (lower, upper) range the options select on ``volume`` (upper None = no limit)."""
    if options.lower is not None:
        return float(options.lower), None if options.upper is None else float(options.upper)
    return resolve_threshold(options.preset or DEFAULT_PRESET, volume)


def _threshold_label(
    volume: Volume, options: ModelOptions, lower: float, upper: float | None
) -> LabelMap:
    """The label map of the range; SegmentationError when it selects nothing."""
    label = threshold(volume, lower, upper, name=options.name or _default_name(options))
    if label.voxel_count == 0:
        raise SegmentationError(nothing_selected(volume, lower, upper))
    return label


def _segment(volume: Volume, options: ModelOptions, stages: _Stages, report: list[str]) -> LabelMap:
    options.validate()
    with stages.stage("threshold", "Thresholding"):
        lower, upper = threshold_range(volume, options)
        label = _threshold_label(volume, options, lower, upper)
        report.append(
            f"{describe_range(volume, lower, upper)} selects {label.voxel_count:,} voxels"
        )
    return _voxel_steps(label, options, stages, report, volume)


def _voxel_steps(
    label: LabelMap,
    options: ModelOptions,
    stages: _Stages,
    report: list[str],
    volume: Volume | None = None,
) -> LabelMap:
    """Seed / largest / table / small-island and cavity steps on a thresholded label map."""
    from workstation.processing import islands, morphology
    from workstation.processing.body import find_body

    if options.seed_lps is not None:
        with stages.stage("islands", "Keeping the island at the seed point"):
            label = islands.keep_connected_to(label, options.seed_lps)
            report.append(f"Kept the island at the seed: {label.volume_mm3:,.0f} mm^3")
    elif options.largest:
        with stages.stage("islands", "Keeping the largest island"):
            label = islands.keep_largest(label)
            report.append(f"Kept the largest island: {label.volume_mm3:,.0f} mm^3")
    elif options.min_island_mm3 > 0 or (options.remove_table and volume is not None):
        with stages.stage("islands", "Removing small islands and what lies outside the body"):
            body = find_body(volume) if options.remove_table and volume is not None else None
            before = label.voxel_count
            label, outside = islands.remove_islands(label, options.min_island_mm3, body)
            if outside:
                report.append(f"Removed {outside:,} pieces outside the patient's body")
            if options.min_island_mm3 > 0:
                report.append(
                    f"Removed islands under {options.min_island_mm3:g} mm^3 "
                    f"({before - label.voxel_count:,} voxels in all)"
                )
            if label.voxel_count == 0:
                raise _no_island_left(options)
    if options.fill_holes:
        with stages.stage("fill_holes", "Filling internal cavities"):
            before = label.voxel_count
            label = morphology.fill_cavities(label)
            report.append(f"Filled internal cavities ({label.voxel_count - before:,} voxels)")
    return label


def _no_island_left(options: ModelOptions) -> SegmentationError:
    """The error for a model whose every island was removed."""
    return SegmentationError(
        f"Every island is smaller than {options.min_island_mm3:g} mm^3; "
        "lower --min-island or change the threshold."
    )


def keep_one(options: ModelOptions) -> bool:
    """True when the options keep a single island (the largest or the one at a seed)."""
    return options.seed_lps is not None or options.largest


def _default_name(options: ModelOptions) -> str:
    if options.lower is not None:
        return "Threshold model"
    return get_preset(options.preset or DEFAULT_PRESET).label


def segment(
    volume: Volume,
    options: ModelOptions,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> LabelMap:
    """Threshold plus island and cavity steps of ``options``; SegmentationError when empty."""
    stages = _Stages(progress, cancel or CancelToken(), _SEGMENT_WEIGHTS)
    return _segment(volume, options, stages, [])


_SEGMENT_WEIGHTS = {"threshold": 1.0, "islands": 1.0, "fill_holes": 2.0}
_BUILD_WEIGHTS = {
    "surface": 2.0,
    "smooth": 2.0,
    "decimate": 3.0,
    "repair": 1.0,
    "statistics": 0.5,
}


def _surface(
    source: LabelMap | Volume,
    stages: _Stages,
    report: list[str],
    level: float | None = None,
    upper: float | None = None,
    mask: LabelMap | None = None,
) -> Mesh:
    from workstation.processing.surface import extract_surface

    with stages.stage("surface", "Extracting the surface") as progress:
        mesh = extract_surface(source, level, progress, stages.cancel, upper=upper, mask=mask)
        report.append(f"Surface: {mesh.n_faces:,} triangles")
    return mesh


def _drop_islands(
    mesh: Mesh, options: ModelOptions, stages: _Stages, report: list[str], volume: Volume | None
) -> Mesh:
    """Remove pieces outside the body and under ``min_island_mm3`` (after decimation).

    Smoothing and decimation never join or split pieces, so measuring them on the
    decimated surface finds the same islands at a tenth of the cost.
    """
    from workstation.processing.body import find_body, outside_body_pieces

    with stages.stage("islands", "Removing small islands and what lies outside the body"):
        parts = pieces(mesh)  # one labelling for both checks
        drop = np.zeros(parts.count, dtype=bool)
        body = find_body(volume) if options.remove_table and volume is not None else None
        outside = None if body is None else outside_body_pieces(mesh, parts, body)
        if outside is not None and outside.any():
            drop |= outside
            count = int(np.count_nonzero(outside & (parts.volumes > 0)))
            report.append(f"Removed {count:,} pieces outside the patient's body")
        if options.min_island_mm3 > 0:
            small = small_pieces(mesh, parts, options.min_island_mm3) & ~drop
            drop |= small
            count = int(np.count_nonzero(small & (parts.volumes > 0)))
            report.append(f"Removed {count:,} islands under {options.min_island_mm3:g} mm^3")
        if drop.any():
            mesh = keep_faces(mesh, ~drop[parts.of_face])
        if mesh.n_faces == 0:
            raise _no_island_left(options)
    return mesh


def _finish(
    mesh: Mesh,
    options: ModelOptions,
    stages: _Stages,
    report: list[str],
    islands_of: Volume | None = None,
) -> ModelResult:
    """Smooth, decimate, (drop islands of the image ``islands_of``), repair and measure."""
    if options.smooth_iterations > 0:
        with stages.stage("smooth", "Smoothing"):
            mesh = smooth(mesh, options.smooth_iterations, options.pass_band)
            report.append(mesh.report[-1])
    if options.target_triangles is not None or options.decimate_fraction > 0:
        with stages.stage("decimate", "Decimating"):
            if options.target_triangles is not None:
                decimated = decimate(mesh, None, options.target_triangles, options.workers)
            else:
                decimated = decimate(mesh, options.decimate_fraction, None, options.workers)
            if decimated is not mesh:
                report.append(decimated.report[-1])
            mesh = decimated
    if islands_of is not None:
        mesh = _drop_islands(mesh, options, stages, report, islands_of)
    with stages.stage("repair", "Cleaning and repairing"):
        mesh, changes = repair(mesh, options.max_hole_edges, split_vertices=False)
        report.extend(changes)
    with stages.stage("statistics", "Measuring the model"):
        mesh, statistics, split = statistics_splitting_pinched_points(mesh)
        if split:  # same triangles and edges; each pinched point now one per fan
            report.append(mesh.report[-1])
    if not statistics.watertight:
        report.append("Warning: the model is not watertight; check it before printing")
    mesh.report = list(report)
    if options.name:
        mesh.name = options.name
    return ModelResult(mesh, statistics, stages.timings, report)


def build_model(
    source: LabelMap | Volume,
    options: ModelOptions,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ModelResult:
    """Mesh a label map (at 0.5), or a volume at its threshold range, then post-process."""
    stages = _Stages(progress, cancel or CancelToken(), _BUILD_WEIGHTS)
    report: list[str] = []
    if isinstance(source, Volume):
        lower, upper = threshold_range(source, options)
        return _finish(_surface(source, stages, report, lower, upper), options, stages, report)
    return _finish(_surface(source, stages, report), options, stages, report)


def _surface_of_range(
    volume: Volume,
    options: ModelOptions,
    stages: _Stages,
    report: list[str],
    lower: float,
    upper: float | None,
    voxel_steps: bool,
) -> list[Mesh]:
    """The surface of the threshold range (after voxel steps), in a list the caller pops."""
    label = None
    if voxel_steps:
        label = _threshold_label(volume, options, lower, upper)
        options = replace(options, min_island_mm3=0.0, remove_table=False)  # done on the mesh
        label = _voxel_steps(label, options, stages, report, volume)
    return [_surface(volume, stages, report, lower, upper, label)]


def make_model_from_volume(
    volume: Volume,
    options: ModelOptions,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ModelResult:
    """Segment ``volume`` and build the model, with per-stage timings and a report.

    The surface follows the image's grey values (sub-voxel accurate) inside the threshold
    range; a voxel label map is made only for steps that need one (seed, largest island,
    cavity filling).  Small islands are removed as small closed pieces of the decimated
    surface: a surface piece is exactly a 6-connected island, smoothing and decimation
    never join or split pieces, and this costs far less than labelling every voxel.
    """
    options.validate()
    single = keep_one(options)
    voxel_steps = single or options.fill_holes
    order = (
        ("threshold", "islands", "fill_holes", "surface", "smooth", "decimate")
        if single
        else ("threshold", "fill_holes", "surface", "smooth", "decimate", "islands")
    )
    weights = {**_SEGMENT_WEIGHTS, **_BUILD_WEIGHTS}
    stages = _Stages(
        progress,
        cancel or CancelToken(),
        {name: weights[name] for name in (*order, "repair", "statistics")},
    )
    report: list[str] = []
    with stages.stage("threshold", "Thresholding"):
        lower, upper = threshold_range(volume, options)
        # an empty range is reported by the surface step, which scans the image anyway
        report.append(describe_range(volume, lower, upper))
    mesh_islands = not single and (options.min_island_mm3 > 0 or options.remove_table)
    # no local reference to the raw surface or the label map: each is freed once used
    surface = _surface_of_range(volume, options, stages, report, lower, upper, voxel_steps)
    result = _finish(surface.pop(), options, stages, report, volume if mesh_islands else None)
    result.threshold = (lower, upper)
    return result


def segment_model_options(segment: Segment, options: ModelOptions) -> ModelOptions:
    """The options a segment's model is built with: its threshold range when it has one."""
    changes: dict[str, object] = {"name": options.name or segment.name}
    if segment.threshold_range is not None:
        lower, upper = segment.threshold_range
        changes.update(preset=None, lower=lower, upper=upper)
    return replace(options, **changes)  # type: ignore[arg-type]


def make_segment_model(
    volume: Volume,
    segment: Segment,
    options: ModelOptions,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ModelResult:
    """The model of one segment, as ``workstation mesh`` builds it.

    A segment that holds exactly a threshold range (nothing edited since) gets the
    grey-value surface of that range, the same bytes as ``workstation mesh --threshold``;
    an edited segment gets the surface of its voxels.  Both then go through the same
    smoothing, decimation, island removal and repair.
    """
    options = segment_model_options(segment, options)
    if segment.threshold_range is not None:
        return make_model_from_volume(volume, options, progress, cancel)
    options.validate()
    if not segment.mask.any():
        raise SegmentationError(f"Segment {segment.name!r} is empty: paint or threshold it first.")
    stages = _Stages(progress, cancel or CancelToken(), _BUILD_WEIGHTS)
    report = [f"Segment {segment.name}: {segment.voxel_count:,} voxels"]
    label = LabelMap(segment.mask.view(np.uint8), volume.affine.copy(), segment.name)
    mesh_islands = options.min_island_mm3 > 0 or options.remove_table
    return _finish(
        _surface(label, stages, report), options, stages, report, volume if mesh_islands else None
    )
