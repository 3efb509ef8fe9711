"""A batch's summary: totals and one row per case (summary.json and summary.csv)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation import __version__
from workstation.core.case_plan import Plan
from workstation.services.batch_cluster import ClusterInfo
from workstation.services.batch_inputs import BatchCase

NOT_RUN = "not run"


def summary_row(record: dict[str, Any] | None, case: BatchCase) -> dict[str, Any]:
    """One case as a summary row (the CSV columns; a case that did not run says so)."""
    if record is None:
        return {"case_id": case.case_id, "label": case.label, "status": NOT_RUN}
    models = (record.get("statistics") or {}).get("models") or {}
    status = "skipped" if record.get("skipped") else record.get("status", "")
    qc = record.get("qc") or {}
    dose = record.get("dose") or {}
    return {
        "case_id": record.get("case_id", case.case_id),
        "label": record.get("label", case.label),
        "status": status,
        "reason": record.get("reason", ""),
        "seconds": record.get("seconds"),
        "worker": record.get("worker", ""),
        "model": list(models),
        "triangles": [stats.get("triangles") for stats in models.values()],
        "volume_mm3": [_rounded(stats.get("volume_mm3")) for stats in models.values()],
        "qc_status": qc.get("status", "") if isinstance(qc, dict) else "",
        "ctdivol_mgy": dose_value(dose, "ctdivol", record.get("series_uid", "")),
        "dlp_mgycm": dose_value(dose, "dlp", record.get("series_uid", "")),
        "outputs": list(record.get("outputs") or []),
    }


def summary_document(
    plan: Plan,
    digest: str,
    root: Path,
    cases: Sequence[BatchCase],
    records: dict[str, dict[str, Any]],
    info: ClusterInfo | None,
    began: float,
    interrupted: bool,
    inputs: Sequence[str],
) -> dict[str, Any]:
    """summary.json: the plan, where it ran, totals and every case's row and record facts."""
    rows = []
    for case in cases:
        record = records.get(case.case_id)
        row = summary_row(record, case)
        row.update(
            input=case.input,
            series_uid=(record or {}).get("series_uid", case.series_uid),
            study_uid=case.study_uid,
            case_hash=(record or {}).get("case_hash", ""),
            folder=f"cases/{case.case_id}" if record else "",
            warnings=list((record or {}).get("warnings") or []),
        )
        rows.append(row)
    statuses = [row["status"] for row in rows]
    return {
        "version": __version__,
        "plan": plan.to_json(),
        "plan_name": plan.name,
        "plan_digest": digest,
        "inputs": list(inputs),
        "output": str(root),
        "started": datetime.fromtimestamp(began, UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - began, 3),
        "interrupted": interrupted,
        "cluster": None
        if info is None
        else {
            "address": info.address,
            "workers": info.workers,
            "memory_limit_bytes": info.memory_limit,
            "dashboard": info.dashboard,
            "local": info.local,
        },
        "totals": {
            "cases": len(rows),
            "done": statuses.count("done"),
            "failed": statuses.count("failed"),
            "skipped": statuses.count("skipped"),
            "not_run": statuses.count(NOT_RUN),
        },
        "cases": rows,
    }


def dose_value(dose: Any, kind: str, series_uid: str) -> float | None:
    """The series' CTDIvol (mGy) or the study's total DLP (mGy·cm) from the case's dose."""
    if not isinstance(dose, dict):
        return None
    if kind == "dlp":
        return _number(dose.get("total_dlp_mgycm"))
    for series in dose.get("series") or []:
        if isinstance(series, dict) and series.get("series_uid") == series_uid:
            return _number(series.get("ctdivol_mgy"))
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value
