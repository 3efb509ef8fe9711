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
