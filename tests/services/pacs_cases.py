"""A small synthetic study with known UIDs and pixels, and helpers to check retrieves of it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from tests.support.dicom_factory import write_series


@dataclass
class StudyTruth:
    """What was uploaded: UIDs per series and each instance's pixel bytes."""

    folder: Path
    patient_id: str
    study_uid: str
    series: dict[str, list[str]] = field(default_factory=dict)
    pixels: dict[str, bytes] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @property
    def sop_uids(self) -> set[str]:
        return {sop for sops in self.series.values() for sop in sops}

    @property
    def n_instances(self) -> int:
        return sum(len(sops) for sops in self.series.values())


def write_study(
    folder: Path, patient_id: str = "PACS001", sizes: tuple[int, ...] = (6, 4)
) -> StudyTruth:
    """One study with a series per entry of ``sizes`` (that many 16x16 slices each)."""
    study_uid = generate_uid()
    truth = StudyTruth(folder, patient_id, study_uid)
    rng = np.random.default_rng(len(sizes) * 7 + sum(sizes))
    for number, count in enumerate(sizes, start=1):
        series_uid = generate_uid()
        stored = rng.integers(-1000, 2000, size=(count, 16, 16)).astype(np.int16)
        paths = write_series(
            folder / f"series{number}",
            stored,
            study_uid=study_uid,
            series_uid=series_uid,
            patient_id=patient_id,
            series_number=number,
            series_description=f"Series {number}",
        )
        truth.files.extend(paths)
        for path in paths:
            dataset = pydicom.dcmread(path)
            truth.series.setdefault(series_uid, []).append(str(dataset.SOPInstanceUID))
            truth.pixels[str(dataset.SOPInstanceUID)] = bytes(dataset.PixelData)
    return truth


def check_folder(root: Path, truth: StudyTruth, series_uid: str | None = None) -> None:
    """``root/<study>/<series>/<sop>.dcm`` holds exactly the uploaded instances, pixels equal."""
    wanted = {series_uid: truth.series[series_uid]} if series_uid else truth.series
    found = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    expected = sorted(
        Path(truth.study_uid) / series / f"{sop}.dcm"
        for series, sops in wanted.items()
        for sop in sops
    )
    assert found == expected
    for relative in found:
        dataset = pydicom.dcmread(root / relative)
        sop = str(dataset.SOPInstanceUID)
        assert relative.stem == sop
        assert str(dataset.SeriesInstanceUID) == relative.parent.name
        assert str(dataset.StudyInstanceUID) == truth.study_uid
        assert bytes(dataset.PixelData) == truth.pixels[sop]


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word; yields the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)  # kept open, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        listener.close()


def tls_certificates(folder: Path) -> dict[str, Path]:
    """A test CA and a certificate for 127.0.0.1 it signed (openssl CLI)."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.pem" for name in ("ca", "ca_key", "server", "server_key")}

    def openssl(*args: object) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=Planning test CA", "-keyout", paths["ca_key"], "-out", paths["ca"])  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
            paths["server_key"], "-out", folder / "server.csr")  # fmt: skip
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", folder / "server.csr", "-CA", paths["ca"], "-CAkey",
            paths["ca_key"], "-CAcreateserial", "-days", "2", "-extfile", folder / "ext.cnf",
            "-out", paths["server"])  # fmt: skip
    return paths
