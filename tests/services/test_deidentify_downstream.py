"""What is made from a de-identified case holds no original identity either.

STL, 3MF, Encapsulated STL, DICOM SEG, a project, provenance records and a FHIR
ImagingStudy are written from the de-identified copy by the ``workstation`` command; no
original name, ID, birth date, accession, institution, description or UID may occur in
any byte of them (zip containers are opened and searched member by member).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pydicom
import pytest

from tests.services.deid_cases import leaks, write_case
from tests.support.cli import run_workstation
from workstation.io.deid.options import DEFAULT_OPTIONS
from workstation.services.deidentify import deidentify_path


def _contents(path: Path) -> list[tuple[str, bytes]]:
    """The file's bytes, and every member of a zip container (recursively)."""
    data = path.read_bytes()
    found = [(path.name, data)]
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                member = archive.read(name)
                found.append((f"{path.name}::{name}", member))
                if zipfile.is_zipfile(io.BytesIO(member)):
                    with zipfile.ZipFile(io.BytesIO(member)) as inner:
                        found += [(f"{name}::{n}", inner.read(n)) for n in inner.namelist()]
    return found


@pytest.fixture(scope="module")
def deidentified(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("downstream")
    case = write_case(root / "in", size=24, slices=10)
    out = root / "deid"
    deidentify_path(case.root / "Bobbert_Smithly", out, key_file=None, options=DEFAULT_OPTIONS)
    forbidden = case.phi | case.uids | {"20260105", "Synthetic series", "Synthetic study"}
    return out, root / "made", forbidden


@pytest.mark.parametrize(
    "command, name",
    [
        (["mesh", "--threshold", "300"], "model.stl"),
        (["mesh", "--threshold", "300"], "model.3mf"),
        (["mesh", "--threshold", "300"], "model.dcm"),
        (["segment", "--threshold", "300"], "seg.dcm"),
        (["segment", "--threshold", "300"], "case.wsproj"),
    ],
)
def test_exports_from_a_deidentified_case_hold_no_phi(deidentified, command, name) -> None:
    source, made, forbidden = deidentified
    target = made / name.replace(".", "_")
    target.mkdir(parents=True, exist_ok=True)
    result = run_workstation(command[0], str(source), "-o", str(target / name), *command[1:])
    assert result.returncode == 0, result.stderr
    written = sorted(path for path in target.rglob("*") if path.is_file())
    assert target / name in written
    for path in written:  # the output and its provenance record, if any
        for member, data in _contents(path):
            assert leaks(data, forbidden) == [], member


def test_fhir_imaging_study_holds_no_phi(deidentified) -> None:
    source, made, forbidden = deidentified
    study = str(pydicom.dcmread(next(source.rglob("*.dcm"))).StudyInstanceUID)
    target = made / "fhir" / "study.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    result = run_workstation("fhir", str(source), "--study", study, "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert study in target.read_text()
    assert leaks(target.read_bytes(), forbidden) == []
