"""What a mutation produced and which aspects of a correct result it may change."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fuzz.elements import Layout

#: Aspects of a result a mutation may legitimately change (with a warning for geometry).
ORIENTATION, POSITION, SPACING, THICKNESS, VALUES = (
    "orientation",
    "position",
    "spacing",
    "thickness",
    "values",
)
GEOMETRY_ASPECTS = frozenset({ORIENTATION, POSITION, SPACING, THICKNESS})

#: Which aspects each top-level tag carries.
TAG_ASPECTS: dict[int, frozenset[str]] = {
    0x00200037: frozenset({ORIENTATION}),
    0x00200032: frozenset({POSITION}),
    0x00280030: frozenset({SPACING}),
    0x00180050: frozenset({THICKNESS}),
    0x00180088: frozenset({THICKNESS}),
    0x00080016: frozenset({VALUES}),
    0x00080060: frozenset({VALUES}),
    0x00280008: frozenset({VALUES, POSITION}),
    0x52009229: GEOMETRY_ASPECTS | {VALUES},
    0x52009230: GEOMETRY_ASPECTS | {VALUES},
    0x7FE00010: frozenset({VALUES}),
}


def aspects_of_tag(tag: int) -> frozenset[str]:
    """The aspects an element with this (top-level) tag can change."""
    if tag in TAG_ASPECTS:
        return TAG_ASPECTS[tag]
    group = tag >> 16
    if group in (0x0002, 0x0028):
        return frozenset({VALUES})
    return frozenset()


@dataclass(frozen=True)
class Mutation:
    """Mutated bytes, the aspects they may change, and a one-line description."""

    data: bytes
    touches: frozenset[str]
    detail: str


@dataclass(frozen=True)
class SourceInfo:
    """What a mutator needs to know about the file it mutates."""

    layout: Layout | None
    enhanced: bool
    encapsulated: bool
    syntax: str


MutateFn = Callable[[bytes, random.Random, SourceInfo], Mutation]


@dataclass(frozen=True)
class Mutator:
    """A named mutation; ``scope`` 'one' mutates one file of a series, 'all' every file."""

    name: str
    fn: MutateFn
    applies: Callable[[SourceInfo], bool] = field(default=lambda info: True)
    scope: str = "one"
