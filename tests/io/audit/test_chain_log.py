"""The chained log: appends chain, rotation keeps the chain, concurrent appends serialise."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import threading
from pathlib import Path

import pytest

from tests.io.audit.audit_cases import fields, lines, parsed, write_log
from workstation.core.errors import AuditLogError
from workstation.io.audit import chain_log
from workstation.io.audit.chain_log import (
    append_records,
    chain_end,
    iter_records,
    last_record,
    locked,
    segments,
)
from workstation.io.audit.records import GENESIS, record_hash
from workstation.io.audit.verify import verify_log


def test_appends_chain_and_number_from_one(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    assert chain_end(log) == (0, GENESIS)
    written = write_log(log, 5)
    records = [parsed(line) for line in lines(log)]
    assert records == written
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    previous = GENESIS
    for record in records:
        assert record["previous"] == previous
        assert record_hash(record) == record["hash"]
        previous = record["hash"]
    assert chain_end(log) == (5, records[-1]["hash"])
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_last_record_is_read_from_the_end_only(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write_log(log, 3)
    # a long last record spanning several tail blocks
    with locked(log):
        big = fields(4)
        big["detail"] = "x" * (3 * chain_log._TAIL_BLOCK)
        append_records(log, [big])
    assert last_record(log)["seq"] == 4
    assert last_record(log)["detail"] == big["detail"]
    # a damaged first line is not read at all by an append
    content = lines(log)
    content[0] = b"{ not json"
    log.write_bytes(b"\n".join(content) + b"\n")
    assert chain_end(log)[0] == 4


def test_damaged_last_line_refuses_the_append(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write_log(log, 2)
    with open(log, "ab") as handle:
        handle.write(b'{"seq": 3, "trunc')
    with pytest.raises(AuditLogError, match=r"last line .* damaged"):
        chain_end(log)


def test_short_write_leaves_no_partial_line(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "audit.log"
    write_log(log, 2)
    before = log.read_bytes()
    real_write = os.write

    def half_write(descriptor: int, data: bytes) -> int:
        return real_write(descriptor, data[: len(data) // 2])

    monkeypatch.setattr(chain_log.os, "write", half_write)
    with pytest.raises(OSError), locked(log):
        append_records(log, [fields(3)])
    monkeypatch.undo()
    assert log.read_bytes() == before
    assert verify_log(log).ok


def test_rotation_renames_read_only_segments_and_keeps_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    written = write_log(log, 12, max_bytes=1500)
    files = segments(log)
    assert len(files) >= 3 and files[-1] == log
    for segment in files[:-1]:
        assert segment.name.startswith("audit-") and segment.suffix == ".log"
        assert stat.S_IMODE(segment.stat().st_mode) == 0o444
        stamp, last = segment.stem.split("-")[1:]
        assert len(stamp) == 15 and stamp[8] == "T"
        assert int(last) == json.loads(segment.read_bytes().splitlines()[-1])["seq"]
    assert [r["seq"] for r in iter_records(log)] == list(range(1, 13))
    assert list(iter_records(log)) == written
    result = verify_log(log)
    assert result.ok and result.records == 12 and len(result.segments) == len(files)
    # the first record of the current log chains from the last of the previous segment
    first_current = parsed(lines(log)[0])
    last_before = parsed(files[-2].read_bytes().splitlines()[-1])
    assert first_current["previous"] == last_before["hash"]
    assert first_current["seq"] == last_before["seq"] + 1


def _append_many(log: str, count: int, tag: int) -> None:
    path = Path(log)
    for number in range(count):
        with locked(path):
            append_records(path, [fields(tag * 1000 + number)], max_bytes=4000)


def test_processes_and_threads_serialise(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_append_many, args=(str(log), 25, tag)) for tag in (1, 2, 3)
    ]
    for process in processes:
        process.start()
    threads = [threading.Thread(target=_append_many, args=(str(log), 25, tag)) for tag in (4, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    records = list(iter_records(log))
    assert [r["seq"] for r in records] == list(range(1, 126))
    details = sorted(r["detail"] for r in records)
    expected = sorted(
        f"record number {tag * 1000 + n}" for tag in (1, 2, 3, 4, 5) for n in range(25)
    )
    assert details == expected
    result = verify_log(log)
    assert result.ok, result.problems
    assert len(result.segments) > 1  # rotation happened while others appended
