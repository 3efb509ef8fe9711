"""Check the audit trail: every hash, MAC and link across segments, and the signed head.

The walk reports each problem once, in the words a reviewer needs: an edited record
(its hash no longer matches), a missing one (the sequence jumps), an inserted or
reordered one (a sequence number that does not follow), a broken line, a bad MAC, a
bad head signature and a log cut shorter than its signed head.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workstation.io.audit.chain_log import read_lines, segments
from workstation.io.audit.records import GENESIS, record_hash, record_mac
from workstation.io.audit.signing import head_problem


@dataclass(frozen=True)
class Problem:
    """One finding: what is wrong, in which file and line (0 for the head or the whole log)."""

    message: str
    file: str = ""
    line: int = 0
    seq: int | None = None


@dataclass
class VerifyResult:
    """What ``verify_log`` found."""

    log: str
    records: int = 0
    first_seq: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    segments: list[str] = field(default_factory=list)
    macs_checked: int = 0
    head: dict[str, Any] | None = None
    head_checked: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        data = asdict(self)
        data["ok"] = self.ok
        return data


@dataclass
class _Walk:
    result: VerifyResult
    key: bytes | None
    head_seq: int | None
    head_hash: str | None
    prev_seq: int = 0
    prev_hash: str = GENESIS
    started: bool = False
    mac_seen: bool = False
    head_found: bool = False

    def problem(self, message: str, file: str, line: int, seq: int | None = None) -> None:
        self.result.problems.append(Problem(message, file, line, seq))

    def check_mac(self, record: dict[str, Any], where: str, name: str, line: int) -> None:
        seq = record["seq"]
        if self.key is None:
            return
        if "mac" in record:
            self.mac_seen = True
            self.result.macs_checked += 1
            if not hmac.compare_digest(str(record["mac"]), record_mac(self.key, record)):
                self.problem(f"record {seq} ({where}) has a bad MAC", name, line, seq)
        elif self.mac_seen:
            self.problem(
                f"record {seq} ({where}) has no MAC though the records before it have one",
                name,
                line,
                seq,
            )

    def check_link(self, record: dict[str, Any], where: str, name: str, line: int) -> bool:
        """Check the sequence and the previous hash; False when the record is out of order."""
        seq = record["seq"]
        if not self.started:
            self.started = True
            self.result.first_seq = seq
            if seq > 1:
                self.problem(
                    f"records 1 to {seq - 1} are missing: the trail starts with record {seq} "
                    f"({where})",
                    name,
                    line,
                    seq,
                )
            elif record.get("previous") != GENESIS:
                self.problem(f"record {seq} ({where}) does not start the chain", name, line, seq)
            return True
        expected = self.prev_seq + 1
        if seq == expected:
            if record.get("previous") != self.prev_hash:
                self.problem(
                    f"record {seq} ({where}) does not follow record {self.prev_seq}: its "
                    "previous hash differs (a record was replaced or inserted)",
                    name,
                    line,
                    seq,
                )
            return True
        if seq > expected:
            missing = (
                f"record {expected} is missing"
                if seq == expected + 1
                else f"records {expected} to {seq - 1} are missing"
            )
            self.problem(f"{missing}: line {line} of {name} has record {seq}", name, line, seq)
            return True
        self.problem(
            f"line {line} of {name} has record {seq} after record {self.prev_seq}: a record "
            "was inserted or the records were reordered",
            name,
            line,
            seq,
        )
        return False

    def add(self, record: dict[str, Any], name: str, line: int) -> None:
        seq = record["seq"]
        where = f"line {line} of {name}"
        self.result.records += 1
        if record_hash(record) != record["hash"]:
            self.problem(f"record {seq} ({where}) was changed", name, line, seq)
        self.check_mac(record, where, name, line)
        if seq == self.head_seq:
            self.head_found = True
            if record["hash"] != self.head_hash:
                self.problem(
                    f"record {seq} ({where}) is not the one the signed head names", name, line, seq
                )
        if self.check_link(record, where, name, line):
            self.prev_seq, self.prev_hash = seq, record["hash"]


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("seq"), int)
        or isinstance(record.get("seq"), bool)
        or not isinstance(record.get("hash"), str)
    ):
        return None
    return record


def verify_log(
    log: Path,
    *,
    key: bytes | None = None,
    head: dict[str, Any] | None = None,
    signing_public_key: str | None = None,
) -> VerifyResult:
    """Walk every segment of ``log`` and check it (``head``: the signed head, if any)."""
    result = VerifyResult(str(log), head=head)
    head_seq: int | None = None
    head_hash: str | None = None
    if head is not None:
        reason = head_problem(head, signing_public_key)
        result.head_checked = True
        if reason:
            result.problems.append(Problem(reason, log.with_suffix(".head").name))
        else:
            head_seq, head_hash = int(head["seq"]), str(head["hash"])
    elif signing_public_key is not None:
        result.problems.append(
            Problem("the log has a signing key but no signed head", log.with_suffix(".head").name)
        )
    walk = _Walk(result, key, head_seq, head_hash)
    for path in segments(log):
        result.segments.append(path.name)
        try:
            lines = list(read_lines(path))
        except OSError as error:
            walk.problem(f"{path.name} cannot be read: {error.strerror or error}", path.name, 0)
            continue
        for number, line in lines:
            record = _parse(line)
            if record is None:
                walk.problem(
                    f"line {number} of {path.name} is not a record (broken line)", path.name, number
                )
                continue
            walk.add(record, path.name, number)
    result.last_seq, result.last_hash = walk.prev_seq, walk.prev_hash
    if head_seq is not None and head_seq > walk.prev_seq:
        result.problems.append(
            Problem(
                f"the log ends at record {walk.prev_seq} but its signed head names record "
                f"{head_seq}: records were removed from the end",
                log.name,
            )
        )
    return result
