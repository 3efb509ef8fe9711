"""Benchmark: audit records appended per second (the cost an audited action adds).

Run: ``.venv/bin/python tests/benchmarks/bench_audit.py [--records 2000] [--key]
[--signing]``.  Appends records through ``services.audit.record`` (lock, tail read,
one write, fdatasync) into a fresh log in a temporary folder and prints records per
second and the median and 99th percentile milliseconds per record; ``--key`` adds the
HMAC chain key, ``--signing`` the Ed25519 head signed after every record.  A final
``verify`` of the whole log is timed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workstation.core.audit_actions import AuditAction, AuditObject  # noqa: E402
from workstation.io.audit.signing import new_chain_key, new_signing_key  # noqa: E402
from workstation.services import audit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--key", action="store_true", help="with the HMAC chain key")
    parser.add_argument("--signing", action="store_true", help="sign the head every record")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "audit.log"
        os.environ["WORKSTATION_AUDIT_LOG"] = str(log)
        os.environ["WORKSTATION_POLICY"] = str(Path(folder) / "policy.toml")
        if args.key:
            new_chain_key(log.with_suffix(".key"))
        if args.signing:
            new_signing_key(log.with_name("audit-signing.key"))
        study = [AuditObject("study", "1.2.826.0.1.3680043.8.498.1", "CT head")]
        times = []
        start = time.perf_counter()
        for number in range(args.records):
            began = time.perf_counter()
            audit.record(AuditAction.OPEN_STUDY, objects=study, detail=f"record {number}")
            times.append(time.perf_counter() - began)
        total = time.perf_counter() - start
        times.sort()
        median = statistics.median(times) * 1000
        p99 = times[int(len(times) * 0.99) - 1] * 1000
        print(
            f"{args.records} records in {total:.2f} s: {args.records / total:.0f} per second; "
            f"median {median:.3f} ms, 99th percentile {p99:.3f} ms per record "
            f"(key: {args.key}, signed head: {args.signing}; log {log.stat().st_size} bytes)"
        )
        began = time.perf_counter()
        result = audit.verify()
        print(
            f"verify: {result.records} records in {time.perf_counter() - began:.3f} s, "
            f"ok={result.ok}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
