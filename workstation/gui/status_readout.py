"""The status bar's read-outs: what lies under the cursor, and the window/level shown."""

from __future__ import annotations

from workstation.core.preferences import Preferences, position_text
from workstation.core.viewer_state import CursorInfo


def cursor_text(
    cursor: CursorInfo | None, units: str = "", preferences: Preferences | None = None
) -> str:
    """'Axial  R 20.0  A 20.0  I 16.0 mm   300 HU', or '' with nothing under the cursor."""
    if cursor is None:
        return ""
    position = position_text(cursor.lps, preferences or Preferences())
    text = f"{cursor.view.capitalize()}  {position}".strip()
    if cursor.value is not None:
        text += f"   {float(cursor.value):.0f} {units}".rstrip()
    return text


def window_text(center: float, width: float) -> str:
    """'W 400  L 40'."""
    return f"W {width:.0f}  L {center:.0f}"
