"""Intensity histogram (log counts) with two draggable threshold bounds, drawn with QPainter."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

#: At most this many voxels are counted (a strided subsample of larger volumes).
HISTOGRAM_SAMPLE_VOXELS = 2_000_000
HISTOGRAM_BINS = 256
#: A press within this many pixels of a bound grabs it.
GRAB_PIXELS = 8


def compute_histogram(
    array: np.ndarray, bins: int = HISTOGRAM_BINS, max_samples: int = HISTOGRAM_SAMPLE_VOXELS
) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of a volume's intensities from a strided subsample."""
    step = max(1, int(np.ceil((array.size / max_samples) ** (1.0 / 3.0))))
    sample = array[::step, ::step, ::step] if array.ndim == 3 else array.ravel()[::step]
    sample = np.asarray(sample).ravel()
    low, high = float(sample.min()), float(sample.max())
    if high <= low:
        high = low + 1.0
    counts, edges = np.histogram(sample, bins=bins, range=(low, high))
    return edges, counts


class HistogramWidget(QWidget):
    """Shows a histogram and a [lower, upper] range the user drags.

    ``range_changed(lower, upper)`` fires while dragging, ``range_released`` when the
    mouse is released.  ``set_range`` moves the bounds without emitting.
    """

    range_changed = Signal(float, float)
    range_released = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("histogram")
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)
        self.edges: np.ndarray | None = None
        self.counts: np.ndarray | None = None
        self.lower = 0.0
        self.upper = 1.0
        self._dragging: str | None = None

    def sizeHint(self) -> QSize:
        return QSize(260, 110)

    # -- data -----------------------------------------------------------------------
    def set_histogram(self, edges: np.ndarray | None, counts: np.ndarray | None) -> None:
        """Show new (edges, counts), or nothing."""
        self.edges, self.counts = edges, counts
        self.update()

    def set_range(self, lower: float, upper: float) -> None:
        """Place the bounds (no signal)."""
        self.lower, self.upper = float(min(lower, upper)), float(max(lower, upper))
        self.update()

    def value_range(self) -> tuple[float, float]:
        """Intensities at the left and right edges of the plot."""
        if self.edges is None:
            return 0.0, 1.0
        return float(self.edges[0]), float(self.edges[-1])

    # -- coordinates ----------------------------------------------------------------
    def _plot_rect(self) -> QRectF:
        return QRectF(4, 4, max(self.width() - 8, 1), max(self.height() - 8, 1))

    def value_to_x(self, value: float) -> float:
        """Widget x of an intensity (clamped to the plot)."""
        low, high = self.value_range()
        rect = self._plot_rect()
        fraction = (value - low) / (high - low) if high > low else 0.0
        return rect.left() + min(max(fraction, 0.0), 1.0) * rect.width()

    def x_to_value(self, x: float) -> float:
        """Intensity at widget x (clamped to the data range)."""
        low, high = self.value_range()
        rect = self._plot_rect()
        fraction = min(max((x - rect.left()) / rect.width(), 0.0), 1.0)
        return low + fraction * (high - low)

    # -- painting -------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(30, 30, 34))
        rect = self._plot_rect()
        if self.counts is None or self.edges is None or not len(self.counts):
            painter.setPen(QColor(160, 160, 160))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "No image")
            return
        heights = np.log1p(self.counts.astype(np.float64))
        top = heights.max() or 1.0
        path = QPainterPath(QPointF(rect.left(), rect.bottom()))
        for index, height in enumerate(heights):
            x0 = rect.left() + rect.width() * index / len(heights)
            x1 = rect.left() + rect.width() * (index + 1) / len(heights)
            y = rect.bottom() - rect.height() * height / top
            path.lineTo(x0, y)
            path.lineTo(x1, y)
        path.lineTo(rect.right(), rect.bottom())
        path.closeSubpath()
        painter.fillPath(path, QColor(150, 150, 160))
        x_low, x_high = self.value_to_x(self.lower), self.value_to_x(self.upper)
        painter.fillRect(
            QRectF(x_low, rect.top(), max(x_high - x_low, 1.0), rect.height()),
            QColor(255, 150, 30, 70),
        )
        for x in (x_low, x_high):
            painter.setPen(QPen(QColor(255, 160, 40), 2))
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            painter.setBrush(QColor(255, 160, 40))
            painter.drawRect(QRectF(x - 4, rect.top(), 8, 10))

    # -- mouse ----------------------------------------------------------------------
    def _nearest_bound(self, x: float) -> str | None:
        distances = {
            "lower": abs(x - self.value_to_x(self.lower)),
            "upper": abs(x - self.value_to_x(self.upper)),
        }
        name = min(distances, key=distances.get)  # type: ignore[arg-type]
        return name if distances[name] <= GRAB_PIXELS else None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.edges is not None:
            self._dragging = self._nearest_bound(event.position().x())
            if self._dragging is None:
                # a press elsewhere moves the closer bound there
                value = self.x_to_value(event.position().x())
                self._dragging = (
                    "lower" if abs(value - self.lower) <= abs(value - self.upper) else "upper"
                )
                self._drag_to(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging is not None:
            self._drag_to(event.position().x())
        elif self.edges is not None:
            near = self._nearest_bound(event.position().x())
            self.setCursor(Qt.CursorShape.SizeHorCursor if near else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._dragging is not None:
            self._dragging = None
            self.range_released.emit(self.lower, self.upper)

    def _drag_to(self, x: float) -> None:
        value = self.x_to_value(x)
        if self._dragging == "lower":
            self.lower = min(value, self.upper)
        else:
            self.upper = max(value, self.lower)
        self.update()
        self.range_changed.emit(self.lower, self.upper)
