"""C-STORE to a real PACS (Orthanc): what is sent is stored, what cannot be is explained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGLosslessSV1,
    RLELossless,
)

from tests.io.pacs.dimse_support import endpoint_of, pixels, write_studies
from workstation.core.errors import PacsError
from workstation.io.pacs.client import DimseEndpoint
from workstation.io.pacs.dimse import DimseClient
from workstation.io.pacs.dimse_send import _File, batches


def test_send_stores_every_file_with_its_pixels(empty_orthanc, tmp_path) -> None:
    study = write_studies(tmp_path)[0]
    files = list(study.files.values())
    junk = tmp_path / "notes.txt"
    junk.write_text("not DICOM")
    client = DimseClient(endpoint_of(empty_orthanc), timeout_s=10)
    reports: list[tuple[float, str]] = []
    outcome = client.send([*files, junk], lambda f, t: reports.append((f, t)))

    assert sorted(outcome.sent) == sorted(str(p) for p in files)
    assert outcome.failed == [
        (str(junk), "not a DICOM file with a SOP class, instance and transfer syntax")
    ]
    assert not outcome.complete
    assert outcome.bytes_sent == sum(p.stat().st_size for p in files)
    assert empty_orthanc.instance_count() == len(files)
    assert empty_orthanc.study_uids() == [study.study_uid]
    for uid, path in study.files.items():
        assert np.array_equal(pixels(empty_orthanc.instance_file(uid)), pixels(path))
    assert [t for _, t in reports][-1] == f"Sent {len(files)} of {len(files)} files"
    assert reports[-1][0] == 1.0


def test_a_sop_class_the_server_does_not_take_is_reported_per_file(empty_orthanc, tmp_path):
    study = write_studies(tmp_path)[1]
    good = list(study.files.values())
    odd = tmp_path / "odd.dcm"
    ds = pydicom.dcmread(good[0])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.826.0.1.3680043.2.999.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(odd, enforce_file_format=True)
    client = DimseClient(endpoint_of(empty_orthanc), timeout_s=10)
    outcome = client.send([*good, odd])
    assert sorted(outcome.sent) == sorted(str(p) for p in good)
    assert outcome.failed == [
        (
            str(odd),
            f"{client.name} accepts no 1.2.826.0.1.3680043.2.999.1 in Explicit VR Little Endian",
        )
    ]
    assert empty_orthanc.instance_count() == len(good)

    with pytest.raises(PacsError) as raised:
        client.send([odd])
    assert str(raised.value) == (
        f"{client.name} accepted none of the offered presentation contexts "
        "(it does not support this service or these SOP classes)"
    )
    assert raised.value.exit_code == 14


def test_contexts_offer_own_syntax_and_little_endian_and_fit_one_association() -> None:
    ct = "1.2.840.10008.5.1.4.1.1.2"
    files = [
        _File(Path("a"), ct, ExplicitVRLittleEndian, 1),
        _File(Path("b"), ct, ImplicitVRLittleEndian, 1),
        _File(Path("c"), ct, JPEGLosslessSV1, 1),
        _File(Path("d"), ct, RLELossless, 1),
    ]
    [(contexts, members)] = batches(files)
    assert members == files
    offered = sorted((cx.abstract_syntax, tuple(cx.transfer_syntax)) for cx in contexts)
    assert offered == sorted(
        [
            (ct, (ExplicitVRLittleEndian, ImplicitVRLittleEndian)),
            (ct, (JPEGLosslessSV1,)),  # compressed files are never decompressed
            (ct, (RLELossless,)),
        ]
    )
    many = [_File(Path(str(i)), f"1.2.3.{i}", ExplicitVRLittleEndian, 1) for i in range(130)]
    split = batches(many)
    assert [len(c) for c, _ in split] == [128, 2]
    assert [m for _, ms in split for m in ms] == many


def _encapsulated_stl(path: Path, study_uid: str, payload: bytes) -> str:
    """A minimal Encapsulated STL instance in ``study_uid``; returns its SOP Instance UID."""
    from pydicom.dataset import Dataset, FileMetaDataset

    sop_class = "1.2.840.10008.5.1.4.1.1.104.3"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.PatientName, ds.PatientID = "Gamma^Greta", "PAT-G"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.Modality = "M3D"
    ds.MIMETypeOfEncapsulatedDocument = "model/stl"
    ds.EncapsulatedDocument = payload
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SOPInstanceUID)


@pytest.mark.parametrize("mode", ["get", "move"])
def test_a_model_sent_as_encapsulated_stl_comes_back_byte_for_byte(
    empty_orthanc, tmp_path, mode
) -> None:
    from io import BytesIO

    study = write_studies(tmp_path)[1]
    payload = b"solid m\n" + bytes(range(256)) * 3  # even length, as DICOM needs
    stl_uid = _encapsulated_stl(tmp_path / "model.dcm", study.study_uid, payload)
    move_port = empty_orthanc.move_port if mode == "move" else None
    client = DimseClient(endpoint_of(empty_orthanc), timeout_s=10, move_port=move_port)
    sent = client.send([*study.files.values(), tmp_path / "model.dcm"])
    assert sent.complete, sent.failed

    received: list[bytes] = []
    outcome = client.retrieve(study.study_uid, None, received.append)
    assert outcome.complete, outcome.error
    assert sorted(outcome.received) == sorted([*study.files, stl_uid])
    by_uid = {str(d.SOPInstanceUID): d for d in (pydicom.dcmread(BytesIO(b)) for b in received)}
    assert bytes(by_uid[stl_uid].EncapsulatedDocument) == payload


def test_c_get_offers_the_study_s_own_sop_classes_first_within_the_limit() -> None:
    from workstation.io.pacs.dimse_retrieve import get_contexts

    unusual = "1.2.826.0.1.3680043.2.999.7"
    contexts, roles = get_contexts("1.2.840.10008.5.1.4.1.2.2.3", [unusual])
    assert len(contexts) == 128
    assert [cx.abstract_syntax for cx in contexts[:2]] == ["1.2.840.10008.5.1.4.1.2.2.3", unusual]
    storage = {cx.abstract_syntax for cx in contexts[1:]}
    assert {
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.5.1.4.1.1.66.4",
        "1.2.840.10008.5.1.4.1.1.104.3",
    } <= storage  # CT, SEG, Encapsulated STL
    assert {r.sop_class_uid for r in roles} == storage
    assert all(r.scp_role for r in roles)


def _many_files(folder: Path, count: int) -> list[Path]:
    from tests.support.dicom_factory import write_series

    stored = np.arange(count * 16 * 16, dtype=np.int16).reshape(count, 16, 16)
    return write_series(folder, stored)


def test_many_files_go_over_parallel_associations(empty_orthanc, tmp_path) -> None:
    files = _many_files(tmp_path / "many", 40)
    reports: list[tuple[float, str]] = []
    client = DimseClient(endpoint_of(empty_orthanc), timeout_s=10)
    outcome = client.send(files, lambda f, t: reports.append((f, t)))
    assert outcome.complete
    assert sorted(outcome.sent) == sorted(str(p) for p in files)
    assert empty_orthanc.instance_count() == 40
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and reports[-1] == (1.0, "Sent 40 of 40 files")


def test_a_server_taking_one_association_at_a_time_still_gets_everything(tmp_path) -> None:
    import threading
    import time

    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage

    from tests.support.orthanc import free_port

    files = _many_files(tmp_path / "many", 32)
    stored: list[str] = []
    lock = threading.Lock()

    def on_store(event) -> int:
        time.sleep(0.01)
        with lock:
            stored.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    ae = AE(ae_title="SINGLE")
    ae.add_supported_context(CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    ae.maximum_associations = 1
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    try:
        client = DimseClient(DimseEndpoint("SINGLE", "127.0.0.1", port), timeout_s=5)
        outcome = client.send(files)
    finally:
        server.shutdown()
    assert outcome.complete, outcome.failed[:2]
    expected = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}
    assert sorted(stored) == sorted(expected)
