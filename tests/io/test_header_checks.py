"""Physical and size checks of header values, against independent arithmetic."""

from __future__ import annotations

import io
import math
import time

import numpy as np
import pytest

from workstation.core.errors import MemoryLimitError
from workstation.core.memory_budget import check_memory, format_size, memory_limit, parse_size
from workstation.io.dicom.bounded_reader import (
    DEADLINE_CHECK_EVERY,
    BoundedReader,
    HeaderTimeLimitExceeded,
)
from workstation.io.dicom.header_checks import (
    bits_problem,
    check_orientation,
    check_position,
    check_spacing,
    frames_problem,
)
from workstation.io.dicom.pixel_extent import PixelExtent


def _angle_degrees(row: np.ndarray, col: np.ndarray) -> float:
    cosine = row @ col / (np.linalg.norm(row) * np.linalg.norm(col))
    return math.degrees(math.acos(cosine))


def test_exact_orientation_passes_unchanged_and_silent() -> None:
    checked = check_orientation([1, 0, 0, 0, 1, 0])
    assert checked.value == (1, 0, 0, 0, 1, 0)
    assert checked.note is None and checked.problem is None


def test_decimal_rounding_is_corrected_silently() -> None:
    checked = check_orientation([0.999999, 0.001414, 0, -0.001414, 0.999999, 0])
    assert checked.problem is None and checked.note is None
    row, col = np.array(checked.value[:3]), np.array(checked.value[3:])
    assert np.linalg.norm(row) == pytest.approx(1, abs=1e-12)
    assert abs(row @ col) < 1e-12


@pytest.mark.parametrize("scale", [1.0005, 0.9995])
def test_small_length_error_is_normalised_with_a_note(scale: float) -> None:
    checked = check_orientation([scale, 0, 0, 0, 1, 0])
    assert checked.value == pytest.approx((1, 0, 0, 0, 1, 0), abs=1e-12)
    assert checked.note is not None and "5.0e-04" in checked.note


def test_small_shear_is_made_perpendicular_symmetrically() -> None:
    angle = 5e-4  # radians off the right angle
    row = np.array([1.0, 0.0, 0.0])
    col = np.array([math.sin(angle), math.cos(angle), 0.0])
    checked = check_orientation([*row, *col])
    assert checked.problem is None and checked.note is not None
    fixed_row, fixed_col = np.array(checked.value[:3]), np.array(checked.value[3:])
    assert _angle_degrees(fixed_row, fixed_col) == pytest.approx(90, abs=1e-9)
    # each vector turned by half the error: the bisector of the two stays where it was
    assert _angle_degrees(fixed_row, row) == pytest.approx(math.degrees(angle / 2), rel=1e-3)
    bisector = (row + col) / np.linalg.norm(row + col)
    fixed_bisector = (fixed_row + fixed_col) / np.linalg.norm(fixed_row + fixed_col)
    assert fixed_bisector == pytest.approx(bisector, abs=1e-9)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ([1.01, 0, 0, 0, 1, 0], "row direction 1.0100"),
        ([1, 0, 0, 0, 2, 0], "column direction 2.0000"),
        ([1, 0, 0, 0.05, 0.99875, 0], "87.134° apart"),
        ([1, 0, 0, 1, 0, 0], "0.000° apart"),
    ],
)
def test_beyond_tolerance_is_refused_with_the_amount(values: list[float], words: str) -> None:
    checked = check_orientation(values)
    assert checked.value is None
    assert checked.problem is not None and words in checked.problem


@pytest.mark.parametrize(
    ("values", "ok"),
    [([0.5, 0.5], True), ([1e-3, 1e3], True), ([1e-30, 1e-30], False), ([0.5, 0], False),
     ([-0.5, 0.5], False), ([1e30, 1], False)],
)  # fmt: skip
def test_spacing_range(values: list[float], ok: bool) -> None:
    checked = check_spacing(values, "PixelSpacing")
    assert (checked.problem is None) is ok
    if not ok:
        assert "outside the physical range 0.001-1000 mm" in checked.problem


def test_position_far_from_origin_is_refused() -> None:
    assert check_position([1e5, -2e5, 3e5]).problem is None
    problem = check_position([0, 0, 1e30]).problem
    assert problem is not None and "1e+30" in problem


def test_bits() -> None:
    assert bits_problem(16, 12) is None
    assert "Bits Stored 17" in (bits_problem(16, 17) or "")
    assert "Bits Allocated 12" in (bits_problem(12, 12) or "")
    assert bits_problem(16, 0) is not None


def test_frames_against_native_length() -> None:
    one_frame = 32 * 32 * 2
    assert frames_problem(1, 32, 32, 1, 16, PixelExtent(one_frame, None)) is None
    assert frames_problem(3, 32, 32, 1, 16, PixelExtent(3 * one_frame + 1, None)) is None
    problem = frames_problem(2147483647, 32, 32, 1, 16, PixelExtent(one_frame, None))
    assert problem is not None and "2147483647 frames" in problem and "1 whole frame" in problem
    problem = frames_problem(1, 65535, 65535, 1, 16, PixelExtent(one_frame, None))
    assert problem is not None and "8.6 GB" in problem


def test_frames_against_fragments_and_unknown_extent() -> None:
    assert frames_problem(4, 64, 64, 1, 16, PixelExtent(None, 4)) is None
    problem = frames_problem(1_000_000_000, 64, 64, 1, 16, PixelExtent(None, 4))
    assert problem is not None and "4 fragments" in problem
    assert frames_problem(10**9, 64, 64, 1, 16, None) is None


def test_bounded_reader_clamps_reads_to_the_file() -> None:
    raw = io.BytesIO(b"x" * 100)
    reader = BoundedReader(raw, 100)
    raw.seek(90)
    assert reader.read(1 << 40) == b"x" * 10  # no allocation of the claimed length
    assert reader.read(5) == b""


def test_bounded_reader_stops_after_its_time_limit() -> None:
    reader = BoundedReader(io.BytesIO(b"x" * 100), 100, limit_seconds=0.01)
    time.sleep(0.02)
    with pytest.raises(HeaderTimeLimitExceeded, match=r"longer than 0\.01 s"):
        for _ in range(DEADLINE_CHECK_EVERY):  # the clock is read every so many reads
            reader.read(1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8G", 8 << 30), ("1500M", 1500 << 20), ("2.5GiB", int(2.5 * (1 << 30))),
     ("4096", 4096), ("10kb", 10 << 10)],
)  # fmt: skip
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_parse_size_refuses_words() -> None:
    with pytest.raises(ValueError, match="not a memory size"):
        parse_size("lots")


def test_memory_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSTATION_MEMORY_LIMIT", "1M")
    assert memory_limit() == 1 << 20
    check_memory(1 << 20, "Loading it")
    with pytest.raises(MemoryLimitError) as caught:
        check_memory(3 * 10**9, "Loading it")
    assert "needs about 3.0 GB" in caught.value.message
    assert "WORKSTATION_MEMORY_LIMIT" in caught.value.message
    assert caught.value.exit_code == 9


def test_memory_limit_default_is_half_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKSTATION_MEMORY_LIMIT", raising=False)
    import os

    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = memory_limit()
    assert limit is not None and limit <= physical // 2 + 1


def test_bad_environment_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKSTATION_MEMORY_LIMIT", "plenty")
    with pytest.raises(MemoryLimitError, match="WORKSTATION_MEMORY_LIMIT"):
        memory_limit()


def test_format_size() -> None:
    assert format_size(8.6e9) == "8.6 GB"
    assert format_size(512) == "512 bytes"
