"""The HTML report: one self-contained file with the pictures as PNG data URIs, every text
escaped, the same sections as the PDF, flagged rows marked, byte-identical for equal
content."""

from __future__ import annotations

import base64
import io
import re

import numpy as np

from tests.io.report_cases import MODEL_COLOR, PATIENT, report_content
from workstation.services.case_report import write_report


def _pictures(text: str) -> list[np.ndarray]:
    from PIL import Image

    found = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
            for data in found]


def test_the_file_stands_alone_with_five_pictures(tmp_path):
    path = write_report(report_content(), tmp_path / "case.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # nothing loaded from elsewhere
    assert "<link" not in text and "<script" not in text and 'src="http' not in text
    pictures = _pictures(text)
    assert len(pictures) == 5  # three slice views, two 3D views
    # the 3D views show the model's colour
    for view in pictures[3:]:
        image = view.astype(int)
        ratio = MODEL_COLOR[1] / MODEL_COLOR[0]
        coloured = (image[:, :, 0] > 80) & (np.abs(image[:, :, 1] - ratio * image[:, :, 0]) < 25)
        assert coloured.sum() > 1000
    for heading in ("Models and segments", "Radiation dose", "Protocol QC", "Provenance"):
        assert f"<h2>{heading}</h2>" in text
    assert PATIENT in text and "11,200.0" in text
    assert '<tr class="flag">' in text  # the exceeded reference level, the failed check
    assert "@media print" in text


def test_text_from_the_images_is_escaped(tmp_path):
    content = report_content('<script>alert("x")</script> & Co')
    content.warnings.append("<b>bold</b>")
    text = write_report(content, tmp_path / "case.html").read_text(encoding="utf-8")
    assert "<script>" not in text and "<b>bold</b>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text


def test_equal_content_gives_identical_bytes(tmp_path):
    first = write_report(report_content(), tmp_path / "a.html").read_bytes()
    second = write_report(report_content(), tmp_path / "b.html").read_bytes()
    assert first == second


def test_non_latin_names_and_the_deidentified_badge(tmp_path):
    text = write_report(report_content("山田 太郎"), tmp_path / "n.html").read_text("utf-8")
    assert "山田 太郎" in text and 'class="badge"' not in text
    anonymous = write_report(report_content("ANON-7", identity_removed=True),
                             tmp_path / "d.html").read_text("utf-8")
    assert '<span class="badge">De-identified</span>' in anonymous
    assert PATIENT not in anonymous and "ANON-7" in anonymous


def test_missing_pictures_are_framed_notes(tmp_path):
    content = report_content()
    content.models = []
    text = write_report(content, tmp_path / "case.html").read_text("utf-8")
    assert len(_pictures(text)) == 3
    assert text.count('<div class="note">No models in this report.</div>') == 2
