"""Encapsulated STL: the embedded STL equals the .stl export, the object sits in its study."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.support.dicom_factory import sphere_array, write_series
from workstation.core.errors import DicomReadError, ExportError
from workstation.io.dicom.source_context import source_context
from workstation.io.encapsulated_stl import (
    ENCAPSULATED_STL_SOP_CLASS,
    encapsulated_stl_dataset,
    read_encapsulated_stl,
    write_encapsulated_stl,
)
from workstation.io.mesh_export import export_mesh
from workstation.io.writers import source_options, writer_for
from workstation.services.loading import load_volume
from workstation.services.modeling import ModelOptions, make_model_from_volume

STUDY = "1.2.826.0.1.3680043.8.498.100"
SERIES = "1.2.826.0.1.3680043.8.498.101"
FRAME = "1.2.826.0.1.3680043.8.498.102"


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A synthetic CT ball series, its loaded volume, source context and a model of it."""
    folder = tmp_path_factory.mktemp("series")
    array = sphere_array((16, 20, 20), lambda s, r, c: (c, r, s), [(10, 10, 8)], [5])
    paths = write_series(
        folder, array, study_uid=STUDY, series_uid=SERIES, frame_uid=FRAME, patient_id="P42"
    )
    loaded = load_volume(str(folder), None, purpose="model")
    options = ModelOptions(preset=None, lower=0, smooth_iterations=0, decimate_fraction=0)
    mesh = make_model_from_volume(loaded.volume, options).mesh
    mesh.name = "Ball"
    sops = [str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in paths]
    return source_context(loaded.stack, loaded.volume), mesh, sops


def test_embedded_stl_is_the_stl_export_and_object_in_study(tmp_path, case):
    source, mesh, sops = case
    written = write_encapsulated_stl(mesh, tmp_path / "ball.dcm", source=source)
    plain = export_mesh(mesh, tmp_path / "ball.stl")
    model = read_encapsulated_stl(written)
    assert model.stl_bytes == plain.read_bytes()
    assert model.frame_of_reference_uid == FRAME
    assert model.study_uid == STUDY
    assert model.referenced_series_uids == (SERIES,)
    assert model.name == "Ball"
    assert model.series_uid not in (SERIES, "")
    assert model.mesh.n_faces == mesh.n_faces
    assert model.mesh.signed_volume() == pytest.approx(mesh.signed_volume(), rel=1e-5)
    np.testing.assert_allclose(
        model.mesh.vertices.min(axis=0), mesh.vertices.min(axis=0), atol=1e-4
    )
    ds = pydicom.dcmread(written)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == ENCAPSULATED_STL_SOP_CLASS
    assert ds.Modality == "M3D" and ds.MIMETypeOfEncapsulatedDocument == "model/stl"
    assert ds.PatientID == "P42" and ds.PatientName == "Synthetic^Patient"
    units = ds.MeasurementUnitsCodeSequence[0]
    assert (units.CodeValue, units.CodingSchemeDesignator) == ("mm", "UCUM")
    assert ds.EncapsulatedDocumentLength == len(plain.read_bytes())
    assert ds.BurnedInAnnotation == "NO" and ds.Manufacturer and ds.SoftwareVersions
    referenced = ds.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == SERIES
    assert sorted(i.ReferencedSOPInstanceUID for i in referenced.ReferencedInstanceSequence) == (
        sorted(sops)
    )
    assert sorted(i.ReferencedSOPInstanceUID for i in ds.SourceInstanceSequence) == sorted(sops)


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) absent")
def test_dciodvfy_finds_no_error(tmp_path, case):
    source, mesh, _ = case
    written = write_encapsulated_stl(mesh, tmp_path / "ball.dcm", source=source)
    result = subprocess.run(
        ["dciodvfy", str(written)], capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert "EncapsulatedSTL" in output
    assert [line for line in output.splitlines() if line.startswith("Error")] == []
    broken = pydicom.dcmread(written)
    del broken.MeasurementUnitsCodeSequence  # the validator does see a missing module part
    broken.save_as(tmp_path / "broken.dcm")
    result = subprocess.run(
        ["dciodvfy", str(tmp_path / "broken.dcm")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "MeasurementUnitsCodeSequence" in result.stdout + result.stderr


def test_odd_length_document_is_padded_and_unpadded(tmp_path, case):
    source, mesh, _ = case
    text = export_mesh(mesh, tmp_path / "ascii.stl", binary=False).read_bytes()
    odd = text if len(text) % 2 else text + b"\n"
    dataset = encapsulated_stl_dataset(odd, "Ascii", source)
    assert len(dataset.EncapsulatedDocument) == len(odd) + 1
    dataset.save_as(tmp_path / "odd.dcm", enforce_file_format=True)
    model = read_encapsulated_stl(tmp_path / "odd.dcm")
    assert model.stl_bytes == odd
    assert model.mesh.n_faces == mesh.n_faces


def test_registered_as_mesh_writer_that_needs_its_source(tmp_path, case):
    source, mesh, _ = case
    writer = writer_for("mesh", tmp_path / "x.dcm")
    assert writer.needs_source and writer.write is write_encapsulated_stl
    path = writer.write(mesh, tmp_path / "x.dcm", coords="lps", **source_options(writer, source))
    assert read_encapsulated_stl(path).stl_bytes[:80].startswith(b"SPACE=LPS UNITS=mm Ball")


def test_refusals(tmp_path, case):
    source, mesh, _ = case
    with pytest.raises(ExportError, match="needs the DICOM series"):
        write_encapsulated_stl(mesh, tmp_path / "a.dcm")
    with pytest.raises(ExportError, match="LPS"):
        write_encapsulated_stl(mesh, tmp_path / "a.dcm", source=source, coords="ras")
    assert not (tmp_path / "a.dcm").exists()
    ct = Path(source.frames[0].location)
    with pytest.raises(DicomReadError, match=r"not a DICOM Encapsulated STL .*CT Image Storage"):
        read_encapsulated_stl(ct)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(DicomReadError):
        read_encapsulated_stl(junk)


def test_export_service_passes_the_source_and_records_provenance(tmp_path, case):
    from workstation.services.export import export_models
    from workstation.services.provenance import model_record, provenance_path

    source, mesh, _ = case
    items = [(mesh, tmp_path / "plain" / "ball.dcm"), (mesh, tmp_path / "plain" / "ball.stl")]
    (tmp_path / "plain").mkdir()
    written = export_models(items, source=source)
    assert read_encapsulated_stl(written[0]).stl_bytes == written[1].read_bytes()
    with pytest.raises(ExportError, match="needs the DICOM series"):
        export_models([(mesh, tmp_path / "nosource.dcm")])
    record = model_record(
        sources=[],
        operations=[],
        segment_name=None,
        segment_id=None,
        parameters={},
        statistics={},
        model_name="Ball",
    )
    records: list[dict] = []
    target = tmp_path / "recorded.dcm"
    export_models([(mesh, target)], provenance=[record], records=records, source=source)
    assert read_encapsulated_stl(target).frame_of_reference_uid == FRAME
    [entry] = records[0]["files"]
    assert entry["name"] == "recorded.dcm" and entry["format"] == "dcm"
    assert provenance_path(target).is_file()
