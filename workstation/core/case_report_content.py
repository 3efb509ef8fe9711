"""What a case report shows, gathered once so the GUI, ``workstation report`` and batch agree.

The report service renders this (pictures first: three slice views and the 3D view with
the models, then statistics, measurements, planning objects, the guide's printability
report, dose, QC and provenance).  Everything here is plain data: the volume and the
models in patient LPS millimetres, the rest as the JSON records the services already
write (dose, QC and provenance records), so a report can be rebuilt from a batch case's
result files as well as from the open case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workstation.core.measurements import Measurement
from workstation.core.mesh import Mesh
from workstation.core.planning import PlanningObject
from workstation.core.provenance import SeriesIdentity
from workstation.core.segmentation import Segmentation
from workstation.core.volume import Volume


@dataclass
class ReportModel:
    """One model as the report shows it: its mesh (LPS mm), colour and statistics."""

    name: str
    mesh: Mesh
    color: tuple[float, float, float] = (0.9, 0.85, 0.7)
    opacity: float = 1.0
    #: MeshStatistics.as_dict() (volume_mm3, area_mm2, triangles, watertight, …)
    statistics: dict[str, Any] = field(default_factory=dict)
    #: the file(s) written for it, as the report should name them
    files: list[str] = field(default_factory=list)


@dataclass
class ReportContent:
    """Everything one case report holds."""

    title: str
    #: patient and study header; for de-identified images the de-identified values
    identity: SeriesIdentity
    volume: Volume | None = None
    segmentation: Segmentation | None = None
    models: list[ReportModel] = field(default_factory=list)
    #: per-segment statistics (services.segment_statistics.segment_summary records)
    segment_statistics: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    planning: list[PlanningObject] = field(default_factory=list)
    #: a guide's printability report (services.guides report dict), when there is one
    guide_report: dict[str, Any] | None = None
    #: services.dose StudyDose.to_json() for the case's study, when known
    dose: dict[str, Any] | None = None
    #: services.qc result record for the case's series, when QC ran
    qc: dict[str, Any] | None = None
    #: provenance records of the models (services.provenance records)
    provenance: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: when the report is made, ISO 8601 UTC (fixed by the caller so GUI and CLI agree)
    created: str = ""
    #: extra facts shown in the header table (e.g. the batch plan's name and digest)
    facts: dict[str, str] = field(default_factory=dict)
