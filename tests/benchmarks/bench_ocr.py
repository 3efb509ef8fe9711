"""Benchmark: seconds to look for burned-in text in one image (not collected by pytest).

Two RGB ultrasound-like images with four lines of overlay text (name, ID, date, probe)
rendered in DejaVu Sans, 512x512 and 1024x768, plus the same 512x512 image without text
(speckle only). Printed per image: the median seconds of ``find_text`` (tesseract
included), the regions found, and the seconds of ``blank_regions``.

Run: .venv/bin/python tests/benchmarks/bench_ocr.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.support import burned_text  # noqa: E402
from workstation.io.deid.burned_in import blank_regions, find_text  # noqa: E402
from workstation.io.deid.ocr import tesseract_version  # noqa: E402

TEXTS = (
    (16, 12, "DOE^JOHN"),
    (16, 44, "ID 12345678"),
    (16, 76, "2026-01-15 10:42"),
    (16, 108, "C5-1 ABDOMEN"),
)


def measure(name: str, shape: tuple[int, int], texts, repeat: int) -> dict[str, object]:
    """Median seconds of find_text and blank_regions on one generated image."""
    image = burned_text.ultrasound(texts=texts, shape=shape, size=22)
    times = []
    findings = None
    for _ in range(repeat):
        findings = find_text(image.dataset)
        times.append(findings.seconds)
    assert findings is not None
    start = time.perf_counter()
    blank_regions(image.dataset, findings)
    blank_seconds = time.perf_counter() - start
    return {
        "image": name,
        "size": f"{shape[1]}x{shape[0]}",
        "ocr_seconds": round(statistics.median(times), 3),
        "regions": len(findings.regions),
        "texts_drawn": len(texts),
        "blank_seconds": round(blank_seconds, 4),
    }


def main() -> None:
    """Print one JSON line per image."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps({"tesseract": tesseract_version()}))
    for name, shape, texts in (
        ("rgb 512", (512, 512), TEXTS),
        ("rgb 1024x768", (768, 1024), TEXTS),
        ("rgb 512, no text", (512, 512), ()),
    ):
        print(json.dumps(measure(name, shape, texts, args.repeat)))


if __name__ == "__main__":
    main()
