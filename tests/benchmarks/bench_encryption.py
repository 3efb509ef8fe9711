"""Benchmark: encryption at rest, MB/s to encrypt and decrypt a 200 MB project.

Run: ``.venv/bin/python tests/benchmarks/bench_encryption.py [--megabytes 200]``.  Writes a
zip of random and zero members (a project's mix of stored meshes and deflated JSON)
through ``EncryptingWriter`` into a temporary folder, as ``save_project`` does, then
reads it back with ``open_decrypted`` (memory, and the private temporary file) and
prints MB/s for each, and the scrypt key derivation time (n=2**15, r=8, p=1).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workstation.io.encryption import (  # noqa: E402
    EncryptingWriter,
    KeySource,
    _scrypt,
    open_decrypted,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    began = time.perf_counter()
    _scrypt("passphrase", os.urandom(16), 1 << 15, 8, 1)
    print(f"scrypt n=2**15 r=8 p=1: {time.perf_counter() - began:.3f} s")
    key = KeySource.passphrase("a benchmark passphrase")
    block = os.urandom(1 << 20)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.wsproj"
        digest = hashlib.sha256()
        began = time.perf_counter()
        with open(path, "wb") as handle:
            sealed = EncryptingWriter(handle, key)
            archive = zipfile.ZipFile(sealed, "w")  # type: ignore[arg-type]
            with archive.open(zipfile.ZipInfo("meshes.ply"), "w", force_zip64=True) as out:
                for index in range(args.megabytes):
                    chunk = block if index % 2 else bytes(len(block))
                    out.write(chunk)
            archive.close()
            sealed.finish()
        seconds = time.perf_counter() - began
        size = path.stat().st_size / 1e6
        print(f"encrypt: {size:.0f} MB in {seconds:.2f} s = {size / seconds:.0f} MB/s")
        for label, limit in (("memory", 1 << 40), ("temporary file", 0)):
            began = time.perf_counter()
            with open_decrypted(path, key, memory_limit=limit) as plain:
                while data := plain.read(1 << 20):
                    digest.update(data)
            seconds = time.perf_counter() - began
            print(f"decrypt ({label}): {size / seconds:.0f} MB/s ({seconds:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
