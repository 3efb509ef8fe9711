"""A case report's pictures as RGB arrays: three slice views and the 3D view of the models.

The slice views cut the volume on patient-aligned planes (LPS) through the centre of the
models (else of the segments, else of the volume), sampled through the inverse of the
volume's affine, so tilted and sheared grids show undistorted, with square pixels.  They
follow the window's display convention (``gui/views/planes.py``): axial seen from the
feet and coronal from the front (the patient's left on the picture's right), sagittal
from the patient's left (anterior on the left); the sides carry orientation letters and
each view a millimetre scale bar.  Segments are drawn as translucent fills with outlines.

The 3D views render the models off-screen with VTK (EGL where VTK has it, so neither an
X server nor the window's views are involved; parallel projection, light background, a
scale bar), from the front and from the patient's left.  Rendering is
deterministic: the same models give the same pixels.  Where VTK cannot render (no
OpenGL), the picture carries a note saying so instead of an image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from workstation.core import geometry
from workstation.core.case_report_content import ReportContent, ReportModel
from workstation.core.display_presets import WINDOW_PRESETS, default_window, window_to_gray
from workstation.core.segmentation import Segmentation
from workstation.core.volume import Volume

#: (right, up) LPS screen directions of each slice view, as the window shows them.
SLICE_AXES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "axial": ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
}
SLICE_VIEWS = tuple(SLICE_AXES)

#: The letters of the LPS axes' two ends: (+ end, - end).
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))

#: Longest side of a slice picture and size of a 3D picture, in pixels.
SLICE_SIZE = 420
VIEW_3D_SIZE = (560, 480)

#: Segment fill opacity on the slice views (outlines are opaque).
FILL_OPACITY = 0.35

#: Background of the 3D views (light grey-white) and the scale bar's colour.
BACKGROUND_3D = (0.97, 0.975, 0.98)
_SCALE_LENGTHS_MM = (1, 2, 5, 10, 20, 50, 100, 200, 500)

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

#: 3D camera directions (towards the camera from the centre, LPS) and view-up vectors.
VIEWS_3D = {
    "anterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "left lateral": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
}


@dataclass
class ReportPicture:
    """One picture of a report: RGB ``image`` (H, W, 3) uint8, or a ``note`` saying why not."""

    title: str
    image: np.ndarray | None
    caption: str = ""
    note: str = ""
    #: LPS direction of the picture's +x (right) and +y (up), for checks and captions
    axes: tuple[tuple[float, ...], tuple[float, ...]] = field(default=((1, 0, 0), (0, 0, 1)))
    #: millimetres per pixel (isotropic)
    pixel_mm: float = 0.0


# -- helpers --------------------------------------------------------------------------------
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The label font (DejaVu Sans Bold when present, else Pillow's own)."""
    if os.path.exists(FONT_PATH):
        return ImageFont.truetype(FONT_PATH, size)
    return ImageFont.load_default()


def direction_letter(vector: Sequence[float] | np.ndarray) -> str:
    """The patient-direction letter of an LPS axis direction (L, R, P, A, S or I)."""
    values = np.asarray(vector, dtype=np.float64)
    axis = int(np.argmax(np.abs(values)))
    return _AXIS_LETTERS[axis][0 if values[axis] > 0 else 1]


def _scale_length(width_mm: float) -> int:
    """A round bar length of at most about a quarter of the picture's width."""
    fitting = [n for n in _SCALE_LENGTHS_MM if n <= width_mm / 4.0]
    return fitting[-1] if fitting else _SCALE_LENGTHS_MM[0]


def _draw_scale_bar(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], pixel_mm: float, color: tuple[int, ...]
) -> int:
    """A bar of a round number of millimetres at the lower right; returns its length in mm."""
    width, height = size
    length_mm = _scale_length(width * pixel_mm)
    pixels = max(round(length_mm / pixel_mm), 1)
    right, bottom = width - 10, height - 10
    draw.rectangle((right - pixels, bottom - 3, right, bottom), fill=color)
    font = _font(12)
    text = f"{length_mm} mm"
    box = draw.textbbox((0, 0), text, font=font)
    draw.text((right - (box[2] - box[0]), bottom - 8 - (box[3] - box[1])), text, fill=color,
              font=font)
    return length_mm


def _draw_side_letters(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], right: np.ndarray, up: np.ndarray,
    color: tuple[int, ...],
) -> None:
    """Orientation letters at the middle of the four sides."""
    width, height = size
    font = _font(15)
    right_letter = direction_letter(right)
    up_letter = direction_letter(up)
    opposite = {"L": "R", "R": "L", "P": "A", "A": "P", "S": "I", "I": "S"}
    places = {
        right_letter: (width - 6, height / 2, "rm"),
        opposite[right_letter]: (6, height / 2, "lm"),
        up_letter: (width / 2, 5, "mt"),
        opposite[up_letter]: (width / 2, height - 5, "mb"),
    }
    halo = (0, 0, 0) if sum(color) > 384 else (255, 255, 255)  # readable on any pixel
    for letter, (x, y, anchor) in places.items():
        draw.text((x, y), letter, fill=color, font=font, anchor=anchor, stroke_width=2,
                  stroke_fill=halo)


# -- slice views ----------------------------------------------------------------------------
def picture_centre(content: ReportContent) -> np.ndarray:
    """The LPS point the slice views pass through: models' centre, else segments', else volume's."""
    boxes = [
        (model.mesh.vertices.min(axis=0), model.mesh.vertices.max(axis=0))
        for model in content.models
        if model.mesh.n_vertices
    ]
    if not boxes and content.segmentation is not None:
        for segment in content.segmentation:
            if segment.visible and not segment.empty:
                indices = np.argwhere(segment.mask)
                corners = geometry.index_to_lps(
                    content.segmentation.affine, np.array([indices.min(0), indices.max(0)])
                )
                boxes.append((corners.min(axis=0), corners.max(axis=0)))
    if boxes:
        low = np.min([box[0] for box in boxes], axis=0)
        high = np.max([box[1] for box in boxes], axis=0)
        return (low + high) / 2.0
    if content.volume is None:
        return np.zeros(3)
    low, high = content.volume.bounds()
    return (low + high) / 2.0


def report_window(volume: Volume, with_models: bool) -> tuple[float, float]:
    """The series' own window; for CT bone when there are models, else soft tissue."""
    if volume.window is None and volume.units == "HU" and with_models:
        return WINDOW_PRESETS["bone"].window
    return default_window(volume)


def _plane_points(
    volume: Volume, centre: np.ndarray, right: np.ndarray, up: np.ndarray, size: int
) -> tuple[np.ndarray, float, tuple[int, int], tuple[float, float]]:
    """LPS points (H, W, 3) of a picture through ``centre`` covering the volume, the pixel
    size (mm), the picture's size and the plane coordinates (u, v) of its top-left corner."""
    corners = geometry.corner_points(volume.shape, volume.affine) - centre
    spacing = volume.spacing
    u_values, v_values = corners @ right, corners @ up
    # the voxels' own half-extent beyond the outer centres
    margin = float(spacing.max()) / 2.0
    u_low, u_high = u_values.min() - margin, u_values.max() + margin
    v_low, v_high = v_values.min() - margin, v_values.max() + margin
    pixel_mm = max(u_high - u_low, v_high - v_low) / size
    width = max(round((u_high - u_low) / pixel_mm), 1)
    height = max(round((v_high - v_low) / pixel_mm), 1)
    u = u_low + (np.arange(width) + 0.5) * pixel_mm
    v = v_high - (np.arange(height) + 0.5) * pixel_mm  # row 0 is the top
    points = (
        centre[None, None, :]
        + u[None, :, None] * right[None, None, :]
        + v[:, None, None] * up[None, None, :]
    )
    return points, float(pixel_mm), (width, height), (float(u_low), float(v_high))


def _overlay_segments(
    rgb: np.ndarray, segmentation: Segmentation, indices: np.ndarray
) -> None:
    """Blend each visible segment's cut (nearest voxel) as a fill with an outline, in place."""
    shape = np.array(segmentation.shape)
    nearest = np.rint(indices).astype(np.int64)
    inside = np.all((nearest >= 0) & (nearest < shape[:, None, None]), axis=0)
    safe = np.where(inside[None], nearest, 0)
    for segment in segmentation:
        if not segment.visible or segment.empty:
            continue
        cut = segment.mask[safe[0], safe[1], safe[2]] & inside
        if not cut.any():
            continue
        color = np.array([round(255 * c) for c in segment.color], dtype=np.float64)
        alpha = FILL_OPACITY * float(segment.opacity)
        rgb[cut] = (1.0 - alpha) * rgb[cut] + alpha * color
        outline = cut & ~ndimage.binary_erosion(cut)
        rgb[outline] = color


def model_cut(
    vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray, normal: np.ndarray
) -> np.ndarray:
    """The line segments (K, 2, 3) where a triangle mesh crosses a plane (LPS mm)."""
    if not len(faces):
        return np.zeros((0, 2, 3))
    distance = (vertices - origin) @ normal
    distance = np.where(distance == 0.0, 1e-9, distance)  # a vertex on the plane: one side
    d = distance[faces]  # (M, 3)
    crossing_faces = np.nonzero((d.min(axis=1) < 0) & (d.max(axis=1) > 0))[0]
    if not len(crossing_faces):
        return np.zeros((0, 2, 3))
    corners = vertices[faces[crossing_faces]]  # (K, 3, 3)
    d = d[crossing_faces]
    ends = []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        gap = d[:, a] - d[:, b]
        t = d[:, a] / np.where(gap == 0.0, 1.0, gap)  # no crossing where the gap is 0
        point = corners[:, a] + (corners[:, b] - corners[:, a]) * t[:, None]
        ends.append((d[:, a] * d[:, b] < 0, point))
    segments = np.zeros((len(crossing_faces), 2, 3))
    filled = np.zeros(len(crossing_faces), dtype=int)
    for crosses, point in ends:  # exactly two edges of a crossing triangle cross
        rows = np.nonzero(crosses & (filled < 2))[0]
        segments[rows, filled[rows]] = point[rows]
        filled[rows] += 1
    return segments[filled == 2]


def _draw_model_cut(
    draw: ImageDraw.ImageDraw,
    model: ReportModel,
    centre: np.ndarray,
    right: np.ndarray,
    up: np.ndarray,
    corner: tuple[float, float],
    pixel_mm: float,
    halo: bool = False,
) -> None:
    """The model's cut through the picture's plane, as lines in the model's colour (or,
    with ``halo``, the wider dark line drawn under them)."""
    segments = model_cut(model.mesh.vertices, model.mesh.faces, centre, np.cross(right, up))
    if not len(segments):
        return
    offsets = segments - centre
    columns = (offsets @ right - corner[0]) / pixel_mm
    rows = (corner[1] - offsets @ up) / pixel_mm
    color = (20, 20, 20) if halo else tuple(round(255 * c) for c in model.color)
    width = 4 if halo else 2
    for (c0, c1), (r0, r1) in zip(columns, rows, strict=True):
        draw.line((float(c0), float(r0), float(c1), float(r1)), fill=color, width=width)


def slice_picture(
    volume: Volume,
    view: str,
    centre: np.ndarray,
    window: tuple[float, float],
    segmentation: Segmentation | None = None,
    size: int = SLICE_SIZE,
    models: Sequence[ReportModel] = (),
) -> ReportPicture:
    """One slice view (axial, coronal or sagittal) through ``centre`` (LPS mm): the
    segments as fills with outlines, the models' cuts as lines in their colours."""
    right, up = (np.array(v) for v in SLICE_AXES[view])
    centre = np.asarray(centre, dtype=np.float64)
    points, pixel_mm, (width, height), corner = _plane_points(volume, centre, right, up, size)
    indices = geometry.lps_to_index(volume.affine, points.reshape(-1, 3)).T.reshape(
        3, height, width
    )
    outside = float(np.min(volume.array)) if volume.array.size else 0.0
    values = ndimage.map_coordinates(
        volume.array, indices, order=1, mode="constant", cval=min(outside, window[0] - window[1])
    )
    gray = window_to_gray(values, *window)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    if segmentation is not None and segmentation.same_grid(volume):
        _overlay_segments(rgb, segmentation, indices)
    image = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for halo in (True, False):  # dark under the colour: visible on bone and on air
        for model in models:
            _draw_model_cut(draw, model, centre, right, up, corner, pixel_mm, halo)
    label_color = (255, 214, 90)
    _draw_side_letters(draw, image.size, right, up, label_color)
    _draw_scale_bar(draw, image.size, pixel_mm, (235, 235, 235))
    axis = {"axial": 2, "coronal": 1, "sagittal": 0}[view]
    position = float(centre[axis])
    name = ("x", "y", "z")[axis]
    caption = (
        f"{name} = {position:.1f} mm (LPS) · window {window[0]:g}/{window[1]:g} · "
        f"{pixel_mm:.2f} mm/px"
    )
    return ReportPicture(
        view.capitalize(),
        np.asarray(image),
        caption,
        axes=(tuple(float(c) for c in right), tuple(float(c) for c in up)),
        pixel_mm=pixel_mm,
    )


def slice_pictures(content: ReportContent, size: int = SLICE_SIZE) -> list[ReportPicture]:
    """Axial, coronal and sagittal views of the case's volume (notes when there is none)."""
    volume = content.volume
    if volume is None:
        return [
            ReportPicture(view.capitalize(), None, note="No image volume in this report.")
            for view in SLICE_VIEWS
        ]
    centre = picture_centre(content)
    window = report_window(volume, bool(content.models or content.segmentation))
    pictures = []
    for view in SLICE_VIEWS:
        through = _plane_through_a_model(content.models, centre, view)
        pictures.append(slice_picture(volume, view, through, window, content.segmentation, size,
                                      content.models))
    return pictures


def _plane_through_a_model(
    models: Sequence[ReportModel], centre: np.ndarray, view: str
) -> np.ndarray:
    """``centre``, moved along the view's normal onto the nearest model piece's middle when
    the plane through it would miss every model (two bones with a gap between them)."""
    right, up = (np.array(v) for v in SLICE_AXES[view])
    normal = np.cross(right, up)
    shown = [model.mesh for model in models if model.mesh.n_faces]
    if not shown or any(len(model_cut(m.vertices, m.faces, centre, normal)) for m in shown):
        return centre
    from workstation.processing.mesh_components import vertex_components

    best: tuple[float, np.ndarray] | None = None
    for mesh in shown:
        labels, count = vertex_components(mesh)
        for label in range(count):
            points = mesh.vertices[labels == label]
            if not len(points):
                continue
            middle = (points.min(axis=0) + points.max(axis=0)) / 2.0
            distance = float(np.linalg.norm(middle - centre))
            if best is None or distance < best[0]:
                best = (distance, middle)
    if best is None:
        return centre
    axis = int(np.argmax(np.abs(normal)))
    moved = centre.copy()
    moved[axis] = best[1][axis]
    return moved


# -- 3D view --------------------------------------------------------------------------------
def _offscreen_window() -> Any:
    """An off-screen render window: EGL where VTK has it (no X server, safe in a worker
    thread beside the window's own views), else VTK's default (EGL without a display)."""
    import vtkmodules.vtkRenderingOpenGL2 as opengl
    if hasattr(opengl, "vtkEGLRenderWindow"):
        return opengl.vtkEGLRenderWindow()
    if not os.environ.get("DISPLAY") and "VTK_DEFAULT_OPENGL_WINDOW" not in os.environ:
        os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"
    import vtkmodules.vtkRenderingCore as rendering
    return rendering.vtkRenderWindow()


def _model_actor(model: ReportModel):  # type: ignore[no-untyped-def]
    """A smooth-shaded VTK actor of one model in its colour and opacity."""
    import vtkmodules.vtkRenderingCore as rendering
    from vtkmodules.vtkFiltersCore import vtkPolyDataNormals

    from workstation.processing.mesh_smoothing import to_polydata

    normals = vtkPolyDataNormals()
    normals.SetInputData(to_polydata(model.mesh))
    normals.SplittingOff()
    normals.ConsistencyOff()
    normals.AutoOrientNormalsOff()
    normals.Update()
    mapper = rendering.vtkPolyDataMapper()
    mapper.SetInputData(normals.GetOutput())
    mapper.ScalarVisibilityOff()
    actor = rendering.vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*(float(c) for c in model.color))
    prop.SetOpacity(float(model.opacity))
    prop.SetAmbient(0.25)
    prop.SetDiffuse(0.75)
    prop.SetSpecular(0.1)
    prop.SetSpecularPower(20.0)
    return actor


def _render(
    models: Sequence[ReportModel], toward: np.ndarray, view_up: np.ndarray,
    size: tuple[int, int],
) -> tuple[np.ndarray, float]:
    """Render the models from ``toward`` (parallel projection); RGB image and mm per pixel."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    # The one off-screen renderer outside the window, loaded only when a report is drawn
    # (commands that draw no report never load VTK's rendering).
    window = _offscreen_window()
    import vtkmodules.vtkRenderingCore as rendering
    window.SetOffScreenRendering(1)
    window.SetMultiSamples(0)
    window.SetSize(*size)
    if not window.SupportsOpenGL():
        raise RuntimeError("no OpenGL")
    renderer = rendering.vtkRenderer()
    renderer.SetBackground(*BACKGROUND_3D)
    window.AddRenderer(renderer)
    vertices = np.concatenate([m.mesh.vertices for m in models])
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    centre = (low + high) / 2.0
    for model in models:
        renderer.AddActor(_model_actor(model))
    camera = renderer.GetActiveCamera()
    camera.ParallelProjectionOn()
    radius = float(np.linalg.norm(high - low)) / 2.0 + 1.0
    camera.SetFocalPoint(*centre)
    camera.SetPosition(*(centre + toward * (radius * 4.0)))
    camera.SetViewUp(*view_up)
    right = np.cross(-toward, view_up)
    corners = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1])
                        for z in (low[2], high[2])]) - centre
    half_width = float(np.abs(corners @ right).max())
    half_height = float(np.abs(corners @ view_up).max())
    aspect = size[0] / size[1]
    scale = 1.2 * max(half_height, half_width / aspect, 1.0)
    camera.SetParallelScale(scale)
    renderer.ResetCameraClippingRange()
    window.Render()
    grab = rendering.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.SetInputBufferTypeToRGB()
    grab.ReadFrontBufferOff()
    grab.Update()
    output = grab.GetOutput()
    width, height, _ = output.GetDimensions()
    pixels = vtk_to_numpy(output.GetPointData().GetScalars()).reshape(height, width, -1)[:, :, :3]
    window.Finalize()
    return np.ascontiguousarray(pixels[::-1]), 2.0 * scale / size[1]


def model_pictures(
    models: Sequence[ReportModel], size: tuple[int, int] = VIEW_3D_SIZE
) -> list[ReportPicture]:
    """The models from the front and from the patient's left, or notes saying why not."""
    shown = [model for model in models if model.mesh.n_faces]
    titles = {"anterior": "3D view, anterior", "left lateral": "3D view, left lateral"}
    if not shown:
        return [ReportPicture(titles[name], None, note="No models in this report.")
                for name in VIEWS_3D]
    vertices = np.concatenate([m.mesh.vertices for m in shown])
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    extent = " x ".join(f"{v:.1f}" for v in high - low)
    pictures = []
    for name, (toward, view_up) in VIEWS_3D.items():
        toward_v, up_v = np.array(toward), np.array(view_up)
        right = np.cross(-toward_v, up_v)
        try:
            pixels, pixel_mm = _render(shown, toward_v, up_v, size)
        except Exception as error:  # any rendering failure becomes a note
            pictures.append(ReportPicture(
                titles[name], None,
                note=f"The 3D view could not be rendered on this computer (no OpenGL: {error}).",
            ))
            continue
        image = Image.fromarray(pixels, "RGB")
        draw = ImageDraw.Draw(image)
        _draw_side_letters(draw, image.size, right, up_v, (70, 80, 100))
        _draw_scale_bar(draw, image.size, pixel_mm, (40, 40, 40))
        pictures.append(ReportPicture(
            titles[name],
            np.asarray(image),
            f"models' extent {extent} mm (L-R x P-A x I-S)",
            axes=(tuple(float(c) for c in right), tuple(float(c) for c in up_v)),
            pixel_mm=pixel_mm,
        ))
    return pictures


def report_pictures(content: ReportContent) -> list[ReportPicture]:
    """Every picture of a report: the three slice views, then the 3D views."""
    return [*slice_pictures(content), *model_pictures(content.models)]
