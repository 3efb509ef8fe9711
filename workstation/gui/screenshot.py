"""Capture the whole main window, VTK views included, as a PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPoint
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QWidget

from workstation.core.errors import ExportError
from workstation.io.atomic_write import atomic_write


def qimage_to_array(image: QImage) -> np.ndarray:
    """An (H, W, 3) uint8 copy of a QImage."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    rows = buffer.reshape(height, image.bytesPerLine())
    return rows[:, : width * 3].reshape(height, width, 3).copy()


def array_to_qimage(array: np.ndarray) -> QImage:
    """A QImage owning a copy of an (H, W, 3) uint8 array."""
    array = np.ascontiguousarray(array[..., :3], dtype=np.uint8)
    height, width, _ = array.shape
    return QImage(array.data, width, height, width * 3, QImage.Format.Format_RGB888).copy()


def region_is_blank(image: np.ndarray, x: int, y: int, width: int, height: int) -> bool:
    """True when a region is a single colour (e.g. the black a failed GL grab gives)."""
    region = image[max(y, 0) : y + height, max(x, 0) : x + width]
    return region.size == 0 or int(region.max()) - int(region.min()) < 3


def capture_window(window: QWidget, views: QWidget | None = None) -> QImage:
    """The window as shown on screen; falls back to compositing the VTK views when blank.

    Under X, ``QScreen.grabWindow`` reads the window's pixels from the server, which
    includes the OpenGL views.  When the views' area comes back uniform (some GL
    drivers), ``views.render_to_image()`` is painted into ``window.grab()`` instead.
    """
    app = QApplication.instance()
    for _ in range(3):
        app.processEvents()
    screen = window.screen() or QApplication.primaryScreen()
    image = screen.grabWindow(window.winId()).toImage()
    if views is None or image.isNull():
        return image if not image.isNull() else window.grab().toImage()
    origin = views.mapTo(window, QPoint(0, 0))
    pixels = qimage_to_array(image)
    ratio = image.devicePixelRatio() or 1.0
    if not region_is_blank(
        pixels,
        int(origin.x() * ratio),
        int(origin.y() * ratio),
        int(views.width() * ratio),
        int(views.height() * ratio),
    ):
        return image
    return composite_window(window, views)


def composite_window(window: QWidget, views: QWidget) -> QImage:
    """``window.grab()`` with ``views.render_to_image()`` painted where the views are."""
    base = window.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rendered = array_to_qimage(views.render_to_image())
    origin = views.mapTo(window, QPoint(0, 0))
    painter = QPainter(base)
    painter.drawImage(origin, rendered)
    painter.end()
    return base


def save_png(image: QImage, path: str | os.PathLike[str]) -> Path:
    """Write ``image`` as PNG atomically (``atomic_write``: umask-honouring, no partial file)."""
    target = Path(path).expanduser().resolve()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    saved = image.save(buffer, "PNG")
    buffer.close()
    if not saved:
        raise ExportError(f"Cannot write the screenshot {target}: the image could not be encoded.")
    with atomic_write(target) as handle:
        handle.write(data.data())
    return target
