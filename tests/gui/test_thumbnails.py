"""Study-browser thumbnails: compressed frames decoded in a worker, damaged ones left out."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from pydicom.uid import RLELossless

from tests.support.dicom_factory import rewrite_transfer_syntax, write_series
from workstation.gui.thumbnails import make_thumbnails, middle_frame, thumbnail_of
from workstation.io.dicom import decode_pool
from workstation.io.dicom.pixels import decode_frame
from workstation.io.dicom.scan import scan_path

ITEM = b"\xfe\xff\x00\xe0"


def _series(folder: Path, number: int, rle: bool) -> list[Path]:
    stored = (np.arange(5 * 40 * 48).reshape(5, 40, 48) * (7 + number) % 1500).astype(np.int16)
    paths = write_series(folder, stored, series_number=number, series_description=f"s{number}")
    if rle:
        for path in paths:
            rewrite_transfer_syntax(path, path, RLELossless)
    return paths


def _damage_rle_header(path: Path) -> None:
    """Point the first RLE segment of the frame far beyond its fragment."""
    raw = bytearray(path.read_bytes())
    table = raw.index(ITEM, raw.rindex(b"\xe0\x7f\x10\x00"))  # the Basic Offset Table item
    (table_length,) = struct.unpack_from("<I", raw, table + 4)
    fragment = table + 8 + table_length
    assert raw[fragment : fragment + 4] == ITEM
    struct.pack_into("<I", raw, fragment + 8 + 4, 0x7FFFFFF0)  # after the segment count
    path.write_bytes(bytes(raw))


def test_thumbnails_of_native_rle_and_damaged_series(tmp_path: Path) -> None:
    _series(tmp_path / "native", 1, rle=False)
    _series(tmp_path / "rle", 2, rle=True)
    for path in _series(tmp_path / "damaged", 3, rle=True):
        _damage_rle_header(path)
    scan = scan_path(tmp_path, workers=1)
    by_number = {stack.identity.series_number: stack for stack in scan.stacks}
    thumbnails = make_thumbnails(scan)
    assert set(thumbnails) == {by_number["1"].stack_id, by_number["2"].stack_id}
    for number in ("1", "2"):
        frame = middle_frame(by_number[number])
        expected = thumbnail_of(frame, decode_frame(frame))  # the loader's own decode
        np.testing.assert_array_equal(thumbnails[by_number[number].stack_id], expected)


def test_decode_each_keeps_the_good_frames(tmp_path: Path) -> None:
    _series(tmp_path / "good", 1, rle=True)
    bad = _series(tmp_path / "bad", 2, rle=True)
    _damage_rle_header(bad[0])
    frames = {
        frame.location: frame
        for stack in scan_path(tmp_path, workers=1).stacks
        for frame in stack.frames
    }
    ordered = sorted(frames)
    values = decode_pool.decode_each([frames[location] for location in ordered])
    for location, value in zip(ordered, values, strict=True):
        if location == str(bad[0]):
            assert value is None
        else:
            assert value is not None
            np.testing.assert_array_equal(value, decode_frame(frames[location]))
