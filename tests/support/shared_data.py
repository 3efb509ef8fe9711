"""The public DICOM collection beside the repository (../shared/data), or a clean skip."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Where the collection lives: next to the checkout, as in CI.
SHARED_DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def shared_data_path(relative: str = "") -> Path:
    """``SHARED_DATA / relative``; skips the calling test with the reason when it is absent."""
    path = SHARED_DATA / relative if relative else SHARED_DATA
    if not path.exists():
        pytest.skip(f"real test data not available at {path}")
    return path
