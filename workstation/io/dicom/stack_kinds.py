"""Classify frames and stacks: object category, image type, kind, confidence and label."""

from __future__ import annotations

from collections.abc import Sequence

from workstation.io.dicom.header_geometry import has_geometry
from workstation.io.dicom.model import FrameRef, Stack
from workstation.io.dicom.pixels import MONOCHROME
from workstation.io.dicom.slice_geometry import SINGLE_IMAGE_WARNING
from workstation.io.sources import display_name

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
SEGMENTATION_SOP_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}
)

#: Image type values (beyond ORIGINAL/DERIVED and PRIMARY/SECONDARY) that mark a
#: different kind of image and therefore a different stack.
SIGNIFICANT_IMAGE_TYPES = frozenset(
    {
        "LOCALIZER", "SCOUT", "MOSAIC", "M", "MAGNITUDE", "P", "PHASE", "R", "REAL",
        "I", "IMAGINARY", "FIELD_MAP", "B0", "B0MAP", "ADC", "EADC", "TRACE", "FA",
        "DIFFUSION", "MIP", "MINIP", "PROJECTION IMAGE", "MPR", "CPR", "REFORMATTED",
        "T1 MAP", "T2 MAP", "T2_STAR_MAP", "PERFUSION", "SUBTRACTION", "CALC", "WATER",
        "FAT", "IN_PHASE", "OUT_PHASE",
    }
)  # fmt: skip
#: Philips-style image type values "M_FFE", "P_SE": the letter before "_" is the component.
COMPONENT_LETTERS = frozenset({"M", "P", "R", "I"})

KIND_BASE_CONFIDENCE = {
    "volume": 0.55,
    "multi-volume": 0.45,
    "single-slice": 0.2,
    "localizer": 0.08,
    "secondary-capture": 0.05,
    "unsupported": 0.02,
}


def significant_image_type(image_type: Sequence[str]) -> tuple[str, ...]:
    """The parts of an image type that distinguish stacks (see SIGNIFICANT_IMAGE_TYPES)."""
    values = [value.upper() for value in image_type]
    key = list(values[:2])
    for value in values[2:]:
        if value in SIGNIFICANT_IMAGE_TYPES:
            key.append(value)
        elif "_" in value and value.split("_", 1)[0] in COMPONENT_LETTERS:
            key.append(value.split("_", 1)[0])
    return tuple(dict.fromkeys(key))


def frame_category(frame: FrameRef) -> str:
    """What sort of object a frame is, for the hard split."""
    if frame.sop_class_uid in SEGMENTATION_SOP_CLASSES or frame.bits_allocated == 1:
        return "unsupported:segmentation"
    if frame.samples_per_pixel != 1 or frame.photometric not in MONOCHROME:
        return "unsupported:colour"
    if "MOSAIC" in frame.image_type:
        return "unsupported:mosaic"
    if frame.sop_class_uid.startswith(SECONDARY_CAPTURE_PREFIX):
        return "secondary-capture"
    if "LOCALIZER" in frame.image_type or "SCOUT" in frame.image_type:
        return "localizer"
    return "image"


def stack_kind(category: str, unsupported: bool, frames: Sequence[FrameRef]) -> str:
    """The kind of a stack from its object category, unsupported flag and frames."""
    if category == "secondary-capture":
        return "secondary-capture"
    if category == "localizer":
        return "localizer"
    if category.startswith("unsupported") or unsupported:
        return "unsupported"
    if len(frames) == 1:
        return "single-slice"
    if not all(has_geometry(frame) for frame in frames):
        return "unsupported"
    return "volume"


def category_warnings(category: str, frames: Sequence[FrameRef]) -> list[str]:
    """Warnings that follow from a stack's object category and missing geometry."""
    warnings = []
    if category == "unsupported:mosaic":
        warnings.append(
            "Siemens MOSAIC images (many slices tiled in one image) are not supported as volumes"
        )
    elif category == "unsupported:colour":
        photometric = frames[0].photometric
        warnings.append(f"Colour images ({photometric}) cannot be loaded as a volume")
    elif category == "unsupported:segmentation":
        warnings.append("Segmentation objects are not loaded as images")
    elif category == "secondary-capture":
        warnings.append("Secondary capture (screenshot-like image): not for 3D use")
    elif category == "localizer":
        warnings.append("Localizer (scout) image: not for 3D use")
    refused = [frame for frame in frames if frame.geometry_problem]
    if refused:
        warnings.append(geometry_problem_warning(refused, len(frames)))
    missing = sum(1 for frame in frames if not has_geometry(frame) and not frame.geometry_problem)
    if missing and category != "unsupported:mosaic":
        warnings.append(
            f"Missing geometry: {missing} of {len(frames)} images have no "
            "Image Position/Orientation (Patient)"
        )
    if len(frames) == 1 and category == "image":
        warnings.append(SINGLE_IMAGE_WARNING)
    return warnings


def geometry_problem_warning(refused: Sequence[FrameRef], total: int) -> str:
    """Why frames were refused for 3D, naming the first file and how many there are."""
    first = refused[0]
    files = list(dict.fromkeys(frame.location for frame in refused))
    where = display_name(files[0])
    if len(files) > 1:
        where += f" and {len(files) - 1} more files"
    return (
        f"Not usable for 3D ({len(refused)} of {total} images, {where}): {first.geometry_problem}"
    )


def stack_confidence(
    kind: str, modality: str, frames: Sequence[FrameRef], orientation: str, warnings: Sequence[str]
) -> float:
    """How likely a stack is a useful volume (0.01..1): kind, modality, type, size, warnings."""
    score = KIND_BASE_CONFIDENCE.get(kind, 0.02)
    if kind in ("volume", "multi-volume"):
        if modality in ("CT", "MR"):
            score += 0.1
        image_type = frames[0].image_type
        if image_type[:2] == ("ORIGINAL", "PRIMARY"):
            score += 0.1
        elif image_type[:1] == ("DERIVED",):
            score -= 0.1
        score += 0.15 * min(len(frames), 100) / 100.0
        if orientation == "axial":
            score += 0.05
        score -= min(0.05 * len(warnings), 0.2)
        if not warnings:
            score += 0.05
    return round(min(max(score, 0.01), 1.0), 3)


def stack_label(stack: Stack, details: Sequence[str], several: bool) -> str:
    """Display label: modality, series number, description, dims and (if several) details."""
    first = stack.frames[0]
    identity = stack.identity
    head = " ".join(part for part in (identity.modality, identity.series_number) if part) or "?"
    text = f"{head}: {identity.series_description or '(no description)'}"
    text += f" ({first.columns}x{first.rows}x{len(stack.frames)})"
    if several and details:
        text += f" [{', '.join(details)}]"
    elif several and stack.kind in ("localizer", "secondary-capture"):
        text += f" [{stack.kind}]"
    return text
