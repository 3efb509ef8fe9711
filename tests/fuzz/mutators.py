"""The registry of named mutators the fuzz cases draw from."""

from __future__ import annotations

import random
import struct

from tests.fuzz import mutate_attrs, mutate_bytes, mutate_stream
from tests.fuzz.elements import layout_of, transfer_syntax_of
from tests.fuzz.mutation import Mutation, Mutator, SourceInfo

#: Pseudo-mutator name: a byte-identical copy of one file is added to the series.
DUPLICATE_FILE = "duplicate_file"
#: The Per-frame Functional Groups Sequence tag (5200,9230) as stored in either byte order.
PER_FRAME_GROUPS_LE, PER_FRAME_GROUPS_BE = b"\x00\x52\x30\x92", b"\x52\x00\x92\x30"


def source_info(data: bytes) -> SourceInfo:
    """Parse what the mutators need to know about one pristine file."""
    try:
        layout = layout_of(data)
    except (ValueError, IndexError, struct.error):
        layout = None
    syntax = layout.transfer_syntax if layout else transfer_syntax_of(data)
    enhanced = PER_FRAME_GROUPS_LE in data or PER_FRAME_GROUPS_BE in data
    encapsulated = bool(layout and layout.fragments)
    return SourceInfo(layout, enhanced, encapsulated, syntax)


def _build() -> list[Mutator]:
    registry = [
        Mutator("header_flip", mutate_bytes.header_flip),
        Mutator("truncate", mutate_bytes.truncate),
        Mutator("truncate_pixels", mutate_bytes.truncate_pixels),
        Mutator("header_then_zeros", mutate_bytes.header_then_zeros),
        Mutator("append_zeros", mutate_bytes.append_zeros),
        Mutator("element_length", mutate_bytes.element_length, mutate_bytes.is_parsed),
        Mutator("vr_change", mutate_bytes.vr_change, mutate_bytes.is_explicit_parsed),
        Mutator("fragment_flip", mutate_stream.fragment_flip, mutate_stream.is_encapsulated),
        Mutator(
            "fragment_truncate", mutate_stream.fragment_truncate, mutate_stream.is_encapsulated
        ),
        Mutator(
            "fragment_structure", mutate_stream.fragment_structure, mutate_stream.is_encapsulated
        ),
        Mutator(
            "codestream_dimensions",
            mutate_stream.codestream_dimensions,
            mutate_stream.is_jpeg_family,
        ),
        Mutator("rle_header", mutate_stream.rle_header, mutate_stream.is_rle),
        Mutator(DUPLICATE_FILE, _unchanged, scope="duplicate"),
        Mutator("havoc", havoc),
    ]
    for keyword, aspect in mutate_attrs.GEOMETRY_KEYWORDS.items():
        one = mutate_attrs.geometry_attribute(keyword, aspect)
        every = mutate_attrs.geometry_attribute(keyword, aspect, every_file=True)
        registry.append(Mutator(f"geometry.{keyword}", one))
        registry.append(Mutator(f"geometry.{keyword}.all", every, scope="all"))
    for keyword in mutate_attrs.PIXEL_VALUES:
        registry.append(Mutator(f"pixel.{keyword}", mutate_attrs.pixel_attribute(keyword)))
    for keyword in ("RescaleSlope", "RescaleIntercept"):
        registry.append(Mutator(f"rescale.{keyword}", mutate_attrs.rescale_attribute(keyword)))
    return registry


HAVOC_STEPS = (2, 3, 4)


def havoc(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Two to four mutators stacked on one file (a step that cannot parse its input is skipped)."""
    touched: set[str] = set()
    details = []
    for _ in range(rng.choice(HAVOC_STEPS)):
        choices = [m for m in MUTATORS.values() if m.scope == "one" and m.applies(info)]
        mutator = rng.choice([m for m in choices if m.name != "havoc"])
        try:
            mutation = mutator.fn(data, rng, info)
        except Exception:
            continue
        data = mutation.data
        touched |= mutation.touches
        details.append(f"{mutator.name}: {mutation.detail}")
        info = source_info(data)
    return Mutation(data, frozenset(touched), " | ".join(details))


def _unchanged(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    return Mutation(data, frozenset(), "byte-identical duplicate")


MUTATORS: dict[str, Mutator] = {mutator.name: mutator for mutator in _build()}
