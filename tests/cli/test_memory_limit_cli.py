"""``--memory-limit``: a load over the limit is refused with the amount, in one line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.support.dicom_factory import write_series
from workstation.cli.main import main


@pytest.fixture
def series(tmp_path: Path) -> Path:
    write_series(tmp_path / "ct", np.zeros((8, 32, 32), np.int16), pixel_spacing=(0.5, 0.5))
    return tmp_path / "ct"


def test_load_over_the_limit_exits_9_with_one_line(series: Path, capsys) -> None:
    assert main(["--memory-limit", "10K", "info", str(series)]) == 9
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "needs about 16.4 kB of memory; the limit is 10.2 kB" in lines[0]
    assert "WORKSTATION_MEMORY_LIMIT" not in os.environ  # restored after the command


def test_load_within_the_limit_runs(series: Path, capsys) -> None:
    assert main(["--memory-limit", "1M", "info", str(series)]) == 0
    assert "Dimensions:" in capsys.readouterr().out


def test_limit_that_is_no_size_is_a_usage_error(series: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--memory-limit", "lots", "info", str(series)])
    assert stop.value.code == 2
    assert "not a memory size: 'lots'" in capsys.readouterr().err
