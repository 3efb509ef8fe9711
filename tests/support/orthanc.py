"""A real PACS for the network tests: Orthanc from Debian's packages, on loopback.

``start_orthanc`` writes a configuration into a folder, starts ``/usr/sbin/Orthanc`` on
free loopback ports (DIMSE and HTTP, with the DICOMweb plugin), waits until its REST API
answers and returns an ``OrthancServer``; ``stop()`` ends it.  The ``orthanc`` fixture
(see ``tests/conftest.py``) shares one server per test session; ``empty_orthanc`` gives a
test that server with every study deleted first.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ORTHANC_AET = "ORTHANC"
#: The calling AE title our clients use by default (the workstation's own).
OUR_AET = "WORKSTATION"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_orthanc() -> None:
    """Fail (not skip) with the fix when Orthanc is not installed: CI must run these tests."""
    if not ORTHANC.exists() or not DICOMWEB_PLUGIN.exists():
        pytest.fail(
            "Orthanc and its DICOMweb plugin are not installed; `bash installer/test.sh` "
            "installs them (Debian packages orthanc, orthanc-dicomweb)",
            pytrace=False,
        )


@dataclass
class OrthancServer:
    """A running Orthanc: its ports, AE title, URLs and a few REST helpers for tests."""

    folder: Path
    http_port: int
    dicom_port: int
    move_port: int
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)
    aet: str = ORTHANC_AET

    @property
    def base_url(self) -> str:
        """The REST API root, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb service root (QIDO-RS, WADO-RS, STOW-RS)."""
        return f"{self.base_url}/dicom-web"

    @property
    def dimse(self) -> str:
        """``AET@HOST:PORT`` as ``workstation pacs --dimse`` takes it."""
        return f"{self.aet}@127.0.0.1:{self.dicom_port}"

    def rest(self, method: str, path: str, body: bytes | None = None) -> Any:
        """Call the REST API; returns the decoded JSON answer (or None when empty)."""
        request = urllib.request.Request(self.base_url + path, data=body, method=method)
        if self.users:
            user, password = next(iter(self.users.items()))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = answer.read()
        return json.loads(data) if data else None

    def upload(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Store DICOM files through the REST API; returns Orthanc's instance ids."""
        ids = []
        for path in paths:
            answer = self.rest("POST", "/instances", Path(path).read_bytes())
            ids.append(answer["ID"])
        return ids

    def upload_folder(self, folder: str | os.PathLike[str]) -> list[str]:
        """Store every file under ``folder`` (sorted); returns Orthanc's instance ids."""
        return self.upload(sorted(p for p in Path(folder).rglob("*") if p.is_file()))

    def study_uids(self) -> list[str]:
        """Study Instance UIDs of every stored study."""
        uids = []
        for study in self.rest("GET", "/studies?expand"):
            uids.append(study["MainDicomTags"]["StudyInstanceUID"])
        return sorted(uids)

    def instance_count(self) -> int:
        """How many instances are stored."""
        return int(self.rest("GET", "/statistics")["CountInstances"])

    def instance_file(self, sop_instance_uid: str) -> bytes:
        """The stored DICOM file of one SOP Instance UID."""
        found = self.rest(
            "POST",
            "/tools/find",
            json.dumps(
                {"Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}}
            ).encode(),
        )
        if not found:
            raise KeyError(sop_instance_uid)
        request = urllib.request.Request(f"{self.base_url}/instances/{found[0]}/file")
        if self.users:
            user, password = next(iter(self.users.items()))
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return bytes(answer.read())

    def add_modality(self, name: str, aet: str, port: int, host: str = "127.0.0.1") -> None:
        """Let ``aet`` at ``host:port`` query, retrieve and be a C-MOVE destination."""
        body = json.dumps({"AET": aet, "Host": host, "Port": port}).encode()
        self.rest("PUT", f"/modalities/{name}", body)

    def clear(self) -> None:
        """Delete every stored patient (and so every study, series and instance)."""
        for patient in self.rest("GET", "/patients"):
            self.rest("DELETE", f"/patients/{patient}")

    def log_text(self) -> str:
        """Orthanc's log so far (for a failing test's message)."""
        logs = sorted(self.folder.glob("logs/*"))
        return "\n".join(path.read_text(errors="replace") for path in logs)[-4000:]

    def stop(self) -> None:
        """End the server and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_orthanc(
    folder: str | os.PathLike[str],
    users: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> OrthancServer:
    """Start Orthanc with its storage and log in ``folder`` on free loopback ports.

    ``users`` turns HTTP basic authentication on; ``extra`` adds configuration keys (for
    instance DICOM TLS).  HTTPS is not offered: Orthanc 1.10.1 with ``SslEnabled`` crashes
    on its first HTTPS request here, so HTTPS tests put a TLS proxy in front of it.  The
    calling AE title ``WORKSTATION`` is registered at 127.0.0.1:``move_port`` so a test's
    own storage SCP there can receive C-MOVEs.
    """
    require_orthanc()
    root = Path(folder)
    (root / "logs").mkdir(parents=True, exist_ok=True)
    http_port, dicom_port, move_port = free_port(), free_port(), free_port()
    config: dict[str, Any] = {
        "Name": "workstation-tests",
        "StorageDirectory": str(root / "storage"),
        "IndexDirectory": str(root / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": bool(users),
        "RegisteredUsers": dict(users or {}),
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomCheckModalityHost": False,
        "DicomModalities": {"workstation": [OUR_AET, "127.0.0.1", move_port]},
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StorageCompression": False,
        "HttpTimeout": 60,
        "DicomScuTimeout": 10,
        "DicomScpTimeout": 30,
        "StableAge": 1,
        "ConcurrentJobs": 2,
        "SaveJobs": False,
    }
    config.update(extra or {})
    config_path = root / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    process = subprocess.Popen(
        [str(ORTHANC), f"--logdir={root / 'logs'}", str(config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = OrthancServer(
        root,
        http_port,
        dicom_port,
        move_port,
        process,
        users=dict(users or {}),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited at start:\n{server.log_text()}")
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            server.rest("GET", "/system")
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"Orthanc did not answer within 30 s:\n{server.log_text()}")


@contextlib.contextmanager
def running_orthanc(folder: str | os.PathLike[str], **options: Any) -> Iterator[OrthancServer]:
    """``start_orthanc`` as a context manager that always stops the server."""
    server = start_orthanc(folder, **options)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(Path(folder) / "storage", ignore_errors=True)
