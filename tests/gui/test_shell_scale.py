"""At 1x, 1.5x and 2x display scaling every toolbar button stays in sight (no overflow
arrow) and the slice views' texts never cover each other: the window runs in its own
process with QT_SCALE_FACTOR on a screen of 1920x1080 pixels."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.gui.conftest import REPO, run_python

pytestmark = pytest.mark.gui

PROBE = r"""
import json, os
from workstation.gui.virtual_display import ensure_display

ensure_display(3200, 2000)
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QToolButton
from workstation.core.volume import Volume
from workstation.gui.app import create_application, shutdown_application
from workstation.gui.main_window import MainWindow
from workstation.gui.views.overlays import placed_boxes

scale = float(os.environ["QT_SCALE_FACTOR"])
app = create_application()
window = MainWindow(headless=True)
window.resize(round(1920 / scale * 0.95), round(1080 / scale * 0.95))  # a 1920x1080 screen
window.show()
for _ in range(20):
    app.processEvents()
affine = np.array([[0, 0, 0.8, -51], [0, 0.8, 0, -51], [2.5, 0, 0, -75], [0, 0, 0, 1]], float)
window.session.set_volume(Volume(np.full((60, 128, 128), 40, np.int16), affine, units="HU"))
for _ in range(10):
    app.processEvents()
report = {"width": window.width(), "rows": window.toolbar_rows.rows(), "bars": {}, "views": {}}
for bar in window.toolbars:
    arrows = [b for b in bar.findChildren(QToolButton) if b.objectName() == "qt_toolbar_ext_button"]
    hidden = []
    for action in bar.actions():
        widget = None if action.isSeparator() else bar.widgetForAction(action)
        if widget is not None and not (
            widget.isVisible() and bar.rect().contains(widget.geometry())
        ):
            hidden.append(action.text() or action.toolTip())
    report["bars"][bar.objectName()] = {
        "hidden": hidden,
        "arrow": any(b.isVisible() for b in arrows),
        "count": len([a for a in bar.actions() if not a.isSeparator()]),
    }
sweep = []  # narrower and wider windows: the rows change, no button is ever hidden
for width in range(600, round(1920 / scale), 29):
    window.resize(width, window.height())
    for _ in range(3):
        app.processEvents()
    hidden = [
        action.text() for bar in window.toolbars for action in bar.actions()
        if not action.isSeparator() and not (
            bar.widgetForAction(action).isVisible()
            and bar.rect().contains(bar.widgetForAction(action).geometry())
        )
    ]
    sweep.append([window.width(), window.toolbar_rows.rows(), hidden])
report["sweep"] = sweep
window.resize(round(1920 / scale * 0.95), round(1080 / scale * 0.95))
for _ in range(5):
    app.processEvents()
for name in ("axial", "coronal", "sagittal"):
    view = window.views.slice_view(name)
    position = QPointF(view.width() * 0.6, view.height() * 0.55)
    QApplication.sendEvent(view, QMouseEvent(
        QEvent.Type.MouseMove, position, view.mapToGlobal(position), Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    view.refresh()
    boxes = dict(view.annotation_boxes())
    renderer = view.GetRenderWindow().GetRenderers().GetFirstRenderer()
    boxes["scale_bar"] = placed_boxes(renderer)["scale_bar"]
    report["views"][name] = {
        "size": list(view.GetRenderWindow().GetSize()),
        "ratio": view.devicePixelRatioF(),
        "boxes": boxes,
    }
print(json.dumps(report))
window.close()
window.deleteLater()
shutdown_application()
"""


def _probe(scale: float) -> dict:
    result = run_python(["-c", PROBE], {"QT_SCALE_FACTOR": str(scale), "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


@pytest.fixture(scope="module", params=[1.0, 1.5, 2.0], ids=["1x", "1.5x", "2x"])
def probe(request) -> dict:
    return _probe(request.param) | {"scale": request.param}


def test_every_toolbar_button_is_in_sight(probe):
    for name, bar in probe["bars"].items():
        assert bar["count"] > 0, name
        assert not bar["arrow"], f"{name} shows its overflow arrow at {probe['scale']}x"
        assert bar["hidden"] == [], f"{name} hides {bar['hidden']} at {probe['scale']}x"
    if probe["scale"] == 1.0:
        assert probe["rows"] == 1  # 1824 pixels hold every toolbar in one row
    else:
        assert probe["rows"] >= 2  # narrower (in logical pixels): the toolbars wrap
    seen = [rows for _, rows, _ in probe["sweep"]]
    assert seen == sorted(seen, reverse=True)  # a wider window never needs more rows
    if probe["scale"] < 2.0:  # at 2x (at most 960 logical pixels) every width needs 3 rows
        assert len(set(seen)) >= 2
    for width, rows, hidden in probe["sweep"]:
        assert hidden == [], f"{hidden} hidden at {width} pixels ({rows} rows)"


def test_slice_view_texts_never_cover_each_other(probe):
    for name, view in probe["views"].items():
        assert view["ratio"] == pytest.approx(probe["scale"])
        boxes = view["boxes"]
        # the slice counter and position, the window, the cursor read-out, the letters
        assert {"corner0", "corner2", "corner3", "top", "bottom", "left", "right"} <= set(boxes)
        width, height = view["size"]
        for key, (x0, x1, y0, y1) in boxes.items():
            assert x0 >= 0 and x1 <= width and y0 >= 0 and y1 <= height, (name, key, boxes)
        for (key_a, a), (key_b, b) in itertools.combinations(boxes.items(), 2):
            assert not _overlap(a, b), (probe["scale"], name, key_a, key_b, boxes)
