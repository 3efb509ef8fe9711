"""Recognise results stored as DICOM during a scan: Segmentations and Encapsulated STL models.

They are not images to load but belong to a series of the study: a scan lists them as
``DerivedObject`` (kind, UIDs, the series they reference, a label) so a browser can show
them on their series and open them as segments or models there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from workstation.core.provenance import SeriesIdentity
from workstation.io.dicom.model import DerivedObject

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: SOP Class UIDs of the derived objects a scan lists, and their kind.
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
ENCAPSULATED_STL_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.104.3"
DERIVED_KINDS = {SEG_SOP_CLASS: "seg", ENCAPSULATED_STL_SOP_CLASS: "stl"}

#: How a user reads each kind.
KIND_NAMES = {"seg": "DICOM SEG", "stl": "Encapsulated STL"}


def derived_kind(sop_class_uid: str) -> str | None:
    """ "seg" or "stl" for a SOP class a scan lists as a derived object, else None."""
    return DERIVED_KINDS.get(sop_class_uid)


def _text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element reads as absent
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _referenced_series(ds: Dataset) -> tuple[str, ...]:
    """Series UIDs in the Referenced Series Sequence (SEG, STL) or Source Series of an STL."""
    found: list[str] = []
    for keyword in ("ReferencedSeriesSequence", "SourceSeriesSequence"):
        try:
            items = ds.get(keyword) or []
        except Exception:
            continue
        for item in items:
            uid = _text(item, "SeriesInstanceUID")
            if uid:
                found.append(uid)
    return tuple(dict.fromkeys(found))


def _segment_labels(ds: Dataset, most: int = 4) -> str:
    """'Mandible bone, Lesion': what a SEG holds, for a series described only as a SEG."""
    try:
        labels = [_text(item, "SegmentLabel") for item in ds.get("SegmentSequence") or []]
    except Exception:  # a malformed sequence reads as absent
        return ""
    labels = [label for label in labels if label]
    more = f" and {len(labels) - most} more" if len(labels) > most else ""
    return ", ".join(labels[:most]) + more


def derived_from_dataset(
    kind: str, ds: Dataset, location: str, identity: SeriesIdentity
) -> DerivedObject:
    """The DerivedObject of a parsed SEG or Encapsulated STL header at ``location``."""
    if kind == "stl":
        names = ("DocumentTitle", "SeriesDescription", "ContentLabel")
    else:
        names = ("SeriesDescription", "ContentLabel", "ContentDescription")
    label = next((text for text in (_text(ds, name) for name in names) if text), "")
    if kind == "seg" and label.lower() in ("", "segmentation"):
        label = _segment_labels(ds) or label
    return DerivedObject(
        kind=kind,
        location=location,
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        series_uid=identity.series_uid,
        study_uid=identity.study_uid,
        frame_of_reference_uid=identity.frame_of_reference_uid,
        referenced_series_uids=_referenced_series(ds),
        label=label or KIND_NAMES[kind],
        identity=identity,
    )


def distinct_objects(
    objects: Iterable[DerivedObject],
) -> tuple[list[DerivedObject], list[tuple[DerivedObject, DerivedObject]]]:
    """``objects`` without repeats of one SOP Instance UID, and the (repeat, kept) pairs."""
    seen: dict[str, DerivedObject] = {}
    repeats: list[tuple[DerivedObject, DerivedObject]] = []
    for item in objects:
        key = item.sop_instance_uid or item.location
        if key in seen:
            repeats.append((item, seen[key]))
        else:
            seen[key] = item
    return list(seen.values()), repeats


def describe_derived(objects: Iterable[DerivedObject]) -> str:
    """'2 DICOM SEG, 1 Encapsulated STL' ('' for none)."""
    counts = Counter(item.kind for item in objects)
    return ", ".join(f"{counts[kind]} {KIND_NAMES[kind]}" for kind in KIND_NAMES if counts[kind])
