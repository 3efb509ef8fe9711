"""A case report as one self-contained HTML file: the "report" writer for ``.html``.

The same sections as the PDF (``report_sections``): the header with a "De-identified"
badge when the images were de-identified, the pictures (base64 PNG data URIs, so the file
stands alone), then the tables, flagged rows in red.  Every text from the images' headers
is escaped.  Print CSS keeps tables whole where it can and puts the tables after the
pictures' page.  Equal content gives a byte-identical file; written atomically.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np

from workstation import __version__
from workstation.core.case_report_content import ReportContent
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.atomic_write import atomic_write
from workstation.io.report_sections import (
    ReportPictureLike,
    ReportTable,
    header_rows,
    report_tables,
)
from workstation.io.writers import register_writer

PRODUCT = "Surgical Planning Workstation"

STYLE = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1d2733;
       margin: 24px auto; max-width: 1100px; font-size: 13px; }
h1 { font-size: 22px; margin: 0; }
h2 { color: #2f5d8a; font-size: 16px; margin: 22px 0 6px; border-bottom: 1px solid #b8c4d0; }
h3 { font-size: 13px; margin: 12px 0 4px; }
.top { display: flex; align-items: center; justify-content: space-between; }
.badge { background: #b3261e; color: #fff; font-weight: bold; padding: 4px 12px;
         border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin-bottom: 6px; }
th, td { border: 1px solid #b8c4d0; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #e6edf4; }
table.facts th { width: 14%; }
tr.flag td { color: #c0262d; background: #fbe9ea; }
.pictures { display: grid; gap: 12px; margin-top: 14px; }
.row3 { grid-template-columns: repeat(3, 1fr); }
.row2 { grid-template-columns: repeat(2, 1fr); }
figure { margin: 0; }
figure img { width: 100%; height: auto; display: block; border: 1px solid #b8c4d0; }
figcaption { color: #5b6877; font-size: 11px; margin-top: 3px; }
figure .title { font-weight: bold; color: #1d2733; font-size: 12px; margin-bottom: 3px; }
.note { border: 1px solid #b8c4d0; background: #f4f6f8; color: #5b6877; padding: 36px 12px;
        text-align: center; }
.empty { color: #5b6877; }
footer { color: #5b6877; font-size: 11px; border-top: 1px solid #b8c4d0; margin-top: 24px;
         padding-top: 6px; }
@media print {
  body { margin: 0; max-width: none; font-size: 10px; }
  .pictures-page { page-break-after: always; }
  table, figure { page-break-inside: avoid; }
  h2, h3 { page-break-after: avoid; }
}
"""


def png_data_uri(image: np.ndarray) -> str:
    """An RGB array as a ``data:image/png;base64,...`` URI (deterministic bytes)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), "RGB").save(
        buffer, format="PNG", optimize=False
    )
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(picture: ReportPictureLike) -> str:
    title = f'<div class="title">{escape(picture.title)}</div>'
    if picture.image is None:
        body = f'<div class="note">{escape(picture.note or "Not available.")}</div>'
    else:
        body = f'<img src="{png_data_uri(picture.image)}" alt="{escape(picture.title)}">'
    caption = f"<figcaption>{escape(picture.caption)}</figcaption>" if picture.caption else ""
    return f"<figure>{title}{body}{caption}</figure>"


def _table(table: ReportTable) -> str:
    title = f"<h3>{escape(table.title)}</h3>"
    if not table.rows:
        return f'{title}<p class="empty">{escape(table.note or "None.")}</p>'
    lines = [title, "<table>"]
    if any(table.columns):
        lines.append("<tr>" + "".join(f"<th>{escape(c)}</th>" for c in table.columns) + "</tr>")
    for index, row in enumerate(table.rows):
        flag = ' class="flag"' if index in table.flagged else ""
        cells = [escape(cell) for cell in row]
        if not any(table.columns):
            lines.append(f"<tr{flag}><th>{cells[0]}</th>"
                         + "".join(f"<td>{c}</td>" for c in cells[1:]) + "</tr>")
        else:
            lines.append(f"<tr{flag}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def report_html_text(content: ReportContent, pictures: Sequence[ReportPictureLike]) -> str:
    """The whole HTML document of a report."""
    title = content.title or "Case report"
    badge = ('<span class="badge">De-identified</span>'
             if content.identity.identity_removed else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f'<meta name="generator" content="{escape(PRODUCT)} {escape(__version__)}">',
        f"<style>{STYLE}</style></head><body>",
        '<section class="pictures-page">',
        f'<div class="top"><h1>{escape(title)}</h1>{badge}</div>',
        '<table class="facts">',
    ]
    rows = header_rows(content)
    half = (len(rows) + 1) // 2
    for index in range(half):
        left = rows[index]
        right = rows[index + half] if index + half < len(rows) else ("", "")
        parts.append(f"<tr><th>{escape(left[0])}</th><td>{escape(left[1])}</td>"
                     f"<th>{escape(right[0])}</th><td>{escape(right[1])}</td></tr>")
    parts.append("</table>")
    slices = [p for p in pictures if not p.title.lower().startswith("3d")]
    views = [p for p in pictures if p.title.lower().startswith("3d")]
    for group, css in ((slices, "row3"), (views, "row2")):
        if group:
            parts.append(f'<div class="pictures {css}">')
            parts += [_figure(picture) for picture in group]
            parts.append("</div>")
    parts.append("</section>")
    section = None
    for table in report_tables(content):
        if table.section != section:
            section = table.section
            parts.append(f"<h2>{escape(section)}</h2>")
        parts.append(_table(table))
    parts.append(f"<footer>Generated by {escape(PRODUCT)} {escape(__version__)}</footer>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report_html(
    content: ReportContent,
    path: str | os.PathLike[str],
    pictures: Sequence[ReportPictureLike] = (),
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """Write the report as one HTML file at ``path`` (atomically); returns the path."""
    target = Path(path)
    progress(0.0, f"Laying out {target.name}")
    text = report_html_text(content, pictures)
    if cancel is not None:
        cancel.raise_if_cancelled()
    with atomic_write(target) as handle:
        handle.write(text.encode("utf-8"))
    progress(1.0, f"Wrote {target.name}")
    return target


register_writer("report", ".html", write_report_html, "HTML report")
