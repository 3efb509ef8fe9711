"""VTK views of the workstation: linked slice views, 3D view and the four-view layout."""

from workstation.gui.views.layout import LAYOUT_NAMES, ViewLayout

__all__ = ["LAYOUT_NAMES", "ViewLayout"]
