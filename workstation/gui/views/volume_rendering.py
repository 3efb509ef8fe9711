"""Direct volume rendering of the scan in the 3D view, from plain preset numbers."""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPiecewiseFunction
from vtkmodules.vtkRenderingCore import (
    vtkColorTransferFunction,
    vtkRenderer,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkOpenGLGPUVolumeRayCastMapper

from workstation.core.display_presets import (
    VolumeRenderingPreset,
    default_volume_rendering_preset,
    volume_rendering_preset,
)
from workstation.core.volume import Volume
from workstation.gui.views.vtk_setup import image_from_array, index_to_lps_matrix, vtk_matrix

#: Longest side (voxels) of the copy sent to the volume renderer (software GL is slow).
VOLUME_RENDERING_MAX_SIDE = 256


def volume_rendering_input(
    volume: Volume, max_side: int = VOLUME_RENDERING_MAX_SIDE
) -> tuple[np.ndarray, np.ndarray]:
    """A strided copy (longest side <= max_side) of the voxels and its matching affine."""
    steps = [max(1, int(np.ceil(n / max_side))) for n in volume.shape]
    array = np.ascontiguousarray(volume.array[:: steps[0], :: steps[1], :: steps[2]])
    affine = volume.affine @ np.diag([*steps, 1]).astype(np.float64)
    return array, affine


class VolumeRendering:
    """The volume actor of one renderer and the preset it shows (kept while it is off)."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self.actor: vtkVolume | None = None
        self.preset = ""
        self._keepalive: np.ndarray | None = None

    def show(self, volume: Volume, preset: str = "") -> None:
        """Render ``volume`` with preset key ``preset`` (else the last one, else its default)."""
        key = preset or self.preset or default_volume_rendering_preset(volume)
        settings = volume_rendering_preset(key)
        self.preset = key
        if self.actor is None:
            array, affine = volume_rendering_input(volume)
            image, self._keepalive = image_from_array(array)
            mapper = volume_mapper()
            mapper.SetInputData(image)
            actor = vtkVolume()
            actor.SetMapper(mapper)
            actor.SetUserMatrix(vtk_matrix(index_to_lps_matrix(affine)))
            actor.SetProperty(vtkVolumeProperty())
            self._renderer.AddVolume(actor)
            self.actor = actor
        apply_preset(self.actor.GetProperty(), settings)

    def hide(self, preset: str = "") -> None:
        """Stop rendering; a given preset key is remembered for the next ``show``."""
        self.remove()
        if preset:
            self.preset = preset

    def remove(self) -> None:
        """Drop the volume actor and its copy of the voxels."""
        if self.actor is not None:
            self._renderer.RemoveVolume(self.actor)
            self.actor = None
            self._keepalive = None


def volume_mapper() -> vtkOpenGLGPUVolumeRayCastMapper:
    """OpenGL ray casting with jittered ray starts, also under software OpenGL.

    Measured here (llvmpipe, 2 cores, sample CT strided to 256x256x134, 780x920 view):
    vtkFixedPointVolumeRayCastMapper 0.2-0.8 s per frame but with strong "wood-grain"
    rings on smooth surfaces (skin, bone), the jittered GPU mapper 0.5-1.8 s without
    them.  While the camera moves the mapper coarsens its sampling to keep the frame
    rate (AutoAdjustSampleDistances), so rotating stays usable.
    """
    mapper = vtkOpenGLGPUVolumeRayCastMapper()
    mapper.UseJitteringOn()
    mapper.AutoAdjustSampleDistancesOn()
    return mapper


def apply_preset(prop: vtkVolumeProperty, preset: VolumeRenderingPreset) -> None:
    """Fill a vtkVolumeProperty from plain preset numbers."""
    opacity = vtkPiecewiseFunction()
    for value, alpha in preset.opacity:
        opacity.AddPoint(value, alpha)
    colors = vtkColorTransferFunction()
    for value, red, green, blue in preset.colors:
        colors.AddRGBPoint(value, red, green, blue)
    gradient = vtkPiecewiseFunction()
    for value, alpha in preset.gradient_opacity:
        gradient.AddPoint(value, alpha)
    prop.SetScalarOpacity(opacity)
    prop.SetColor(colors)
    if any(alpha < 1.0 for _, alpha in preset.gradient_opacity):
        prop.SetGradientOpacity(gradient)
    else:
        prop.DisableGradientOpacityOn()
    prop.SetInterpolationTypeToLinear()
    prop.SetShade(preset.shade)
    prop.SetAmbient(preset.ambient)
    prop.SetDiffuse(preset.diffuse)
    prop.SetSpecular(preset.specular)
    prop.SetSpecularPower(preset.specular_power)
