"""Fixtures every test package may use: a real PACS (Orthanc) on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.orthanc import OrthancServer, running_orthanc


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """One Orthanc for the whole session (started on first use, stopped at the end)."""
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        yield server


@pytest.fixture
def empty_orthanc(orthanc: OrthancServer) -> OrthancServer:
    """The session's Orthanc with every stored study deleted, and the default modalities."""
    orthanc.clear()
    return orthanc


def _use_private_folders(patch: pytest.MonkeyPatch, folder) -> None:
    patch.setenv("WORKSTATION_DATABASE", str(folder / "dicom-database"))
    patch.setenv("WORKSTATION_SERVERS", str(folder / "servers.toml"))
    patch.setenv("WORKSTATION_AUDIT_LOG", str(folder / "audit" / "audit.log"))
    patch.setenv("WORKSTATION_POLICY", str(folder / "policy.toml"))


@pytest.fixture(scope="session", autouse=True)
def _private_session_folders(tmp_path_factory: pytest.TempPathFactory):
    """Session- and module-scoped fixtures (set up before any test's own folders) also
    keep away from the user's database, servers, audit log and policy."""
    with pytest.MonkeyPatch.context() as patch:
        _use_private_folders(patch, tmp_path_factory.mktemp("session-user"))
        yield


@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path_factory: pytest.TempPathFactory):
    """Every test (and every process it starts) gets its own database, server list,
    audit trail and role policy (none: the single-user default).

    A test never reads or changes the user's DICOM database, PACS configuration or audit
    log; its own MonkeyPatch keeps these even when a test calls ``monkeypatch.undo()``.
    """
    folder = tmp_path_factory.mktemp("user")
    with pytest.MonkeyPatch.context() as patch:
        _use_private_folders(patch, folder)
        yield
