"""Small widget factories the panels share: a number field and a push button."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QDoubleSpinBox, QPushButton


def spin_box(
    low: float,
    high: float,
    suffix: str = "",
    *,
    value: float | None = None,
    step: float | None = None,
    decimals: int | None = None,
    tracking: bool = True,
) -> QDoubleSpinBox:
    """A number field from ``low`` to ``high``; ``tracking=False`` reports only finished input."""
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    if decimals is not None:
        spin.setDecimals(decimals)
    if value is not None:
        spin.setValue(value)
    if step is not None:
        spin.setSingleStep(step)
    spin.setSuffix(suffix)
    spin.setKeyboardTracking(tracking)
    return spin


def push_button(text: str, tooltip: str, slot: Callable[..., object]) -> QPushButton:
    """A push button with a tooltip that calls ``slot`` when clicked."""
    widget = QPushButton(text)
    widget.setToolTip(tooltip)
    widget.clicked.connect(slot)
    return widget
