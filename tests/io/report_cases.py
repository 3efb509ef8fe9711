"""A case report's content for the writer tests: a cube volume, a box model, measurements,
planning objects, a dose record over a reference level and a QC record that fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from workstation.core.case_report_content import ReportContent, ReportModel
from workstation.core.measurements import Measurement
from workstation.core.mesh import Mesh
from workstation.core.planning import PlanningObject
from workstation.core.provenance import SeriesIdentity
from workstation.core.volume import Volume
from workstation.processing.mesh_statistics import mesh_statistics

MODEL_COLOR = (0.85, 0.2, 0.15)
PATIENT = "Doe Jane"


def box_mesh(low: np.ndarray, high: np.ndarray, name: str = "Box") -> Mesh:
    """A closed, outward-wound box from ``low`` to ``high`` (LPS mm)."""
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                        for z in (low[2], high[2])])
    faces = np.array([
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ])
    return Mesh(corners, faces, name=name)


def report_content(patient: str = PATIENT, identity_removed: bool = False) -> ReportContent:
    """A case with everything a report shows."""
    array = np.full((30, 40, 40), -1000.0, dtype=np.float32)
    array[8:22, 10:30, 10:30] = 1200.0
    affine = np.diag([2.0, 1.0, 1.0, 1.0])[[2, 1, 0, 3]]
    affine[:3, 3] = (-20.0, -20.0, 0.0)
    volume = Volume(array, affine, units="HU")
    mesh = box_mesh(np.array([-10.0, -10.0, 16.0]), np.array([10.0, 10.0, 44.0]), "Bone")
    model = ReportModel("Bone", mesh, MODEL_COLOR, 1.0, mesh_statistics(mesh).as_dict(),
                        ["Bone.stl"])
    identity = SeriesIdentity(
        patient_id="P-77", patient_name=patient, study_uid="1.2.3", study_date="20260101",
        study_description="CT knee", series_uid="1.2.3.4", series_number="3",
        series_description="Bone 1.0", modality="CT", identity_removed=identity_removed,
    )
    dose = {
        "study_uid": "1.2.3",
        "total_dlp_mgycm": 912.5,
        "events": [{"protocol": "Knee", "ctdivol_mgy": 18.25, "dlp_mgycm": 912.5}],
        "reference_levels": {"table": "Example", "checks": [
            {"exam": "Knee", "quantity": "DLP", "value": 912.5, "level": 790.0,
             "unit": "mGy·cm", "exceeded": True},
            {"exam": "Knee", "quantity": "CTDIvol", "value": 18.25, "level": 20.0,
             "unit": "mGy", "exceeded": False},
        ]},
        "exceeded": ["Knee: DLP 912.5 mGy·cm EXCEEDED the level 790 mGy·cm"],
    }
    qc = {"series_uid": "1.2.3.4", "rule": "Knee CT", "status": "fail",
          "reasons": ["slice thickness 3.0 mm above 2.0 mm"],
          "checks": [{"check": "kvp", "status": "pass", "reason": ""},
                     {"check": "slice_thickness", "status": "fail",
                      "reason": "slice thickness 3.0 mm above 2.0 mm"}]}
    return ReportContent(
        title="Case report: knee",
        identity=identity,
        volume=volume,
        models=[model],
        segment_statistics=[{"name": "Bone", "statistics": {"voxels": 5600,
                                                             "volume_mm3": 11200.0}}],
        measurements=[Measurement("m1", "distance", ((0, 0, 0), (30, 40, 0)), "axial",
                                  "50.0 mm", {"value": 50.0}, "Width")],
        planning=[PlanningObject("p1", "point", "Entry", ((1.0, 2.0, 3.0),))],
        dose=dose,
        qc=qc,
        provenance=[{"model": {"name": "Bone"}, "files": [
            {"name": "Bone.stl", "sha256": "ab" * 32, "size": 684}],
            "sources": [{"series_instance_uid": "1.2.3.4", "modality": "CT",
                         "files": [{"name": "1.dcm", "sha256": "cd" * 32}]}],
            "software": {"name": "surgical planning workstation", "version": "0.1.0"}}],
        warnings=["A made-up warning for the test."],
        created="2026-12-02T03:00:00Z",
        facts={"Plan": "Bone (digest 1234abcd)"},
    )


def need_poppler() -> None:
    """Skip unless pdftoppm and pdftotext (poppler-utils) are installed."""
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftoppm, pdftotext) is not installed: installer/test.sh")


def pdf_text(path: Path) -> str:
    """The PDF's text (layout kept)."""
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def pdf_pages(path: Path, folder: Path) -> list[np.ndarray]:
    """Every page as an RGB array at 50 dpi."""
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), str(folder / "page")],
                   check=True, capture_output=True)
    return [np.asarray(Image.open(page).convert("RGB")) for page in
            sorted(folder.glob("page-*.png"))]
