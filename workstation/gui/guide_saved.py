"""A generated guide kept in the case: its report in the model's record, its colours recomputed.

The Guide model's ``parameters`` hold the plan it was made from (``plan``, the PLAN.json
object) and its printability report (``guide_report``, plain JSON), so a saved project
brings both back.  The clearance colours are not saved: on reopening they are measured
again (the signed distance of each guide vertex to the bone model) in a background job,
and a ``GuideResult`` is rebuilt from the saved surface, report and new distances, so the
guide exports again without being regenerated.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress

if TYPE_CHECKING:  # the guide code is imported on first use: the window starts lighter
    from workstation.processing.guides.guide_builder import GuideResult

#: The guide model's parameter keys: the plan it came from and its report.
PLAN_KEY = "plan"
REPORT_KEY = "guide_report"
#: The bone is cropped to the guide's box plus this (mm) before measuring distances.
CROP_MARGIN_MM = 10.0


def plain_report(report: dict[str, Any]) -> dict[str, Any]:
    """The report as plain JSON values (numpy numbers converted, non-finite ones null)."""
    from workstation.services.guides import report_json

    plain: dict[str, Any] = json.loads(report_json(report))
    return plain


def guide_parameters(
    guide_id: str, record: dict[str, Any], report: dict[str, Any]
) -> dict[str, Any]:
    """The Guide model's parameters: its planning object, the plan and the report."""
    return {
        "tool": "guide",
        "guide_id": guide_id,
        PLAN_KEY: record,
        REPORT_KEY: plain_report(report),
    }


def saved_report(parameters: dict[str, Any]) -> dict[str, Any] | None:
    """The report a Guide model carries, or None (made before reports were kept)."""
    report = parameters.get(REPORT_KEY)
    return report if isinstance(report, dict) else None


def measure_clearance(
    guide: Mesh,
    bone: Mesh,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Signed distance (mm) of every guide vertex to the bone (> 0 outside the bone)."""
    from workstation.processing.guides.contact_base import crop_to_box
    from workstation.processing.guides.distance_field import DistanceField

    progress(0.0, "Measuring the guide's clearance")
    lower = guide.vertices.min(axis=0) - CROP_MARGIN_MM
    upper = guide.vertices.max(axis=0) + CROP_MARGIN_MM
    local = crop_to_box(bone, lower, upper)
    if not local.n_faces:
        return np.full(len(guide.vertices), np.inf)
    if cancel is not None:
        cancel.raise_if_cancelled()
    distance = DistanceField(local)
    values = distance.signed(guide.vertices, cancel)
    progress(1.0, "Clearance measured")
    return np.asarray(values, dtype=np.float64)


def rebuilt_result(
    guide: Mesh, report: dict[str, Any], clearance: np.ndarray | None = None
) -> GuideResult:
    """A GuideResult of a saved guide (no clearance yet: an empty array)."""
    from workstation.processing.guides.guide_builder import GuideResult

    values = np.zeros(0) if clearance is None else np.asarray(clearance, dtype=np.float64)
    return GuideResult(guide=guide, report=dict(report), clearance_mm=values)
