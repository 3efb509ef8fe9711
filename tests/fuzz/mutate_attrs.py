"""Attribute mutators: geometry, pixel-module and rescale values set to bad values."""

from __future__ import annotations

import io
import math
import random
import warnings
from collections.abc import Callable

import pydicom
from pydicom import config
from pydicom.dataset import Dataset

from tests.fuzz.mutation import (
    ORIENTATION,
    POSITION,
    SPACING,
    THICKNESS,
    VALUES,
    Mutation,
    SourceInfo,
)

#: Scalar replacements for a geometry value (as DS strings).
BAD_SCALARS = ("0", "-{v}", "nan", "1e+30", "1e-30", "inf", "-0")
#: Replacements that are invalid whatever the other files say (for every-file mutations).
INVALID_SCALARS = ("nan", "1e+30", "inf")
NON_UNIT_FACTORS = (1.01, 1.0005, 2.0)
SHEAR_RADIANS = (0.0005, 0.01, 0.5)


def _edit(data: bytes, change: Callable[[Dataset], str]) -> tuple[bytes, str]:
    """Apply ``change`` to the parsed dataset and write it back in its own transfer syntax.

    pydicom's validation is off while it edits (bad values are the point) and restored
    after, so that later reads in the same process warn as they would for a user.
    """
    settings = config.settings
    modes = settings.reading_validation_mode, settings.writing_validation_mode
    settings.reading_validation_mode = settings.writing_validation_mode = config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
            detail = change(ds)
            out = io.BytesIO()
            ds.save_as(out, enforce_file_format=False)
    finally:
        settings.reading_validation_mode, settings.writing_validation_mode = modes
    return out.getvalue(), detail


def _fmt(value: float) -> str:
    text = repr(float(value))
    return text if len(text) <= 16 else f"{value:.10g}"


def _bad_vector(
    values: list[float], rng: random.Random, every_file: bool = False
) -> tuple[list[str], str]:
    """Every component, or one, replaced by a bad scalar.

    When every file gets the same change, a negated or zeroed component can describe a
    valid other geometry, so only always-invalid values (or all components zero) are used.
    """
    kind = rng.choice((*INVALID_SCALARS, "0") if every_file else BAD_SCALARS)
    one = rng.random() < 0.5 and not (every_file and kind == "0")
    index = rng.randrange(len(values)) if one else None

    def bad(v: float) -> str:
        return kind.format(v=_fmt(v).lstrip("-")) if "{v}" in kind else kind

    out = [bad(v) if index in (None, i) else _fmt(v) for i, v in enumerate(values)]
    where = "all" if index is None else f"[{index}]"
    return out, f"{where} = {kind.replace('{v}', 'v')}"


def _orientation_variant(
    iop: list[float], rng: random.Random, every_file: bool
) -> tuple[list[str], str]:
    """IOP made non-unit, non-orthogonal, or given bad scalars."""
    row, col = [float(v) for v in iop[:3]], [float(v) for v in iop[3:6]]
    kind = rng.choice(["nonunit", "nonunit-row", "nonortho", "bad"])
    if kind == "bad":
        return _bad_vector(iop, rng, every_file)
    if kind.startswith("nonunit"):
        factor = rng.choice(NON_UNIT_FACTORS)
        row = [v * factor for v in row]
        if kind == "nonunit":
            col = [v * factor for v in col]
        return [_fmt(v) for v in row + col], f"{kind} x{factor}"
    angle = rng.choice(SHEAR_RADIANS)
    col = [math.cos(angle) * c + math.sin(angle) * r for c, r in zip(col, row, strict=True)]
    return [_fmt(v) for v in row + col], f"nonortho {angle} rad"


def _vector_variant(keyword: str, values: list[float], rng: random.Random, every_file: bool):
    if keyword == "ImageOrientationPatient":
        return _orientation_variant(values, rng, every_file)
    return _bad_vector(values, rng, every_file)


def _targets(ds: Dataset, keyword: str, rng: random.Random) -> tuple[list[Dataset], bool]:
    """Datasets holding ``keyword`` (top level, or functional-group items of one or all
    frames) and whether they are only some of the frames."""
    if keyword in ds:
        return [ds], False
    holders = []
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in ds.get(group, []):
            found = [inner for seq in item if seq.VR == "SQ" for inner in seq.value]
            holders.append([inner for inner in found if keyword in inner])
    frame_lists = [h for h in holders if h]
    if not frame_lists:
        return [], False
    if len(frame_lists) > 1 and rng.random() < 0.5:
        return rng.choice(frame_lists), True
    return [inner for h in frame_lists for inner in h], False


def geometry_attribute(keyword: str, aspect: str, every_file: bool = False):
    """A mutator setting ``keyword`` (classic or in functional groups) to a bad value."""

    def mutate(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
        variant_seed = rng.random()

        def change(ds: Dataset) -> str:
            targets, partial = _targets(ds, keyword, rng)
            whole = every_file or (info.enhanced and not partial)
            if not targets:
                return f"{keyword} absent"
            for target in targets:
                original = [float(v) for v in _as_list(target[keyword].value)]
                variant = random.Random(variant_seed)
                values, how = _vector_variant(keyword, original, variant, whole)
                target[keyword].value = values if len(values) > 1 else values[0]
            return f"{keyword} {how} in {len(targets)} place(s): {values}"

        mutated, detail = _edit(data, change)
        return Mutation(mutated, frozenset({aspect}), detail)

    return mutate


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple | pydicom.multival.MultiValue) else [value]


#: Bad values per pixel-module / frame-count attribute (None: delete it).
PIXEL_VALUES: dict[str, tuple] = {
    "Rows": (0, 1, 65535, "+1", "//2", "*2"),
    "Columns": (0, 1, 65535, "+1", "//2", "*2"),
    "BitsAllocated": (0, 1, 8, 12, 32, 64, 255),
    "BitsStored": (0, 1, 17, 33, 255, "-4"),
    "HighBit": (0, 31, 255, "-1"),
    "SamplesPerPixel": (0, 2, 3, 4, 65535),
    "PixelRepresentation": (2, 255, "flip"),
    "PhotometricInterpretation": ("RGB", "YBR_FULL", "PALETTE COLOR", "", "MONOCHROME1"),
    "NumberOfFrames": ("2147483647", "1000000000", "1e9", "0", "-1", "2", "9", "abc", None),
}
INT_KEYWORDS = {
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "SamplesPerPixel",
    "PixelRepresentation",
}


#: A valid IS written in place of an invalid string, then replaced byte for byte.
MARKER = "77777777"


def _needs_marker(value) -> bool:
    """True for strings pydicom refuses to store as IS."""
    if not isinstance(value, str):
        return False
    try:
        int(value)
    except ValueError:
        return True
    return False


#: Relative changes of an integer attribute, by their table name.
ARITHMETIC = {
    "+1": lambda v: v + 1,
    "-1": lambda v: v - 1,
    "-4": lambda v: v - 4,
    "//2": lambda v: v // 2,
    "*2": lambda v: v * 2,
}


def _new_value(keyword: str, current, choice):
    if choice is None or not isinstance(choice, str) or keyword not in INT_KEYWORDS:
        return choice
    base = int(current or 0)
    if choice == "flip":
        return 1 - base
    return ARITHMETIC[choice](base)


def pixel_attribute(keyword: str):
    """A mutator setting a pixel-module attribute (or Number of Frames) to a bad value."""

    def mutate(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
        choice = rng.choice(PIXEL_VALUES[keyword])

        def change(ds: Dataset) -> str:
            current = ds.get(keyword)
            value = _new_value(keyword, current, choice)
            if value is None:
                if keyword in ds:
                    del ds[keyword]
                return f"{keyword} deleted (was {current})"
            setattr(ds, keyword, MARKER if _needs_marker(value) else value)
            return f"{keyword} {current} -> {value}"

        mutated, detail = _edit(data, change)
        if _needs_marker(choice):
            mutated = mutated.replace(MARKER.encode(), choice.ljust(len(MARKER)).encode(), 1)
        touches = {VALUES, POSITION} if keyword == "NumberOfFrames" else {VALUES}
        return Mutation(mutated, frozenset(touches), detail)

    return mutate


RESCALE_VALUES = ("1e+30", "-1e+30", "0", "nan", "inf", "1e-30", "-1")


def rescale_attribute(keyword: str):
    """A mutator setting RescaleSlope/Intercept (classic or functional group) to a bad value."""

    def mutate(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
        value = rng.choice(RESCALE_VALUES)

        def change(ds: Dataset) -> str:
            targets, _ = _targets(ds, keyword, rng)
            if not targets:
                setattr(ds, keyword, value)
                return f"{keyword} added = {value}"
            for target in targets:
                target[keyword].value = value
            return f"{keyword} = {value} in {len(targets)} place(s)"

        mutated, detail = _edit(data, change)
        return Mutation(mutated, frozenset({VALUES}), detail)

    return mutate


GEOMETRY_KEYWORDS = {
    "ImageOrientationPatient": ORIENTATION,
    "ImagePositionPatient": POSITION,
    "PixelSpacing": SPACING,
    "SliceThickness": THICKNESS,
}
