"""Coded meanings of segments (SNOMED CT category and type), as DICOM SEG and Slicer use them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodedConcept:
    """One coded term: value, coding scheme designator (e.g. "SCT") and its meaning."""

    value: str
    scheme: str
    meaning: str

    def as_dict(self) -> dict[str, str]:
        """JSON form: {"value", "scheme", "meaning"}."""
        return {"value": self.value, "scheme": self.scheme, "meaning": self.meaning}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> CodedConcept:
        """Inverse of ``as_dict``."""
        return cls(str(data["value"]), str(data["scheme"]), str(data["meaning"]))


TISSUE = CodedConcept("85756007", "SCT", "Tissue")
ANATOMICAL_STRUCTURE = CodedConcept("123037004", "SCT", "Anatomical Structure")
ALTERED_STRUCTURE = CodedConcept("49755003", "SCT", "Morphologically Altered Structure")

#: Common (category, type) pairs offered for a segment, by the type's meaning.
COMMON_TERMS: dict[str, tuple[CodedConcept, CodedConcept]] = {
    "Bone": (TISSUE, CodedConcept("272673000", "SCT", "Bone")),
    "Artery": (TISSUE, CodedConcept("51114001", "SCT", "Artery")),
    "Vein": (TISSUE, CodedConcept("29092000", "SCT", "Vein")),
    "Skin": (TISSUE, CodedConcept("39937001", "SCT", "Skin")),
    "Mandible": (ANATOMICAL_STRUCTURE, CodedConcept("91609006", "SCT", "Mandible")),
    "Skull": (ANATOMICAL_STRUCTURE, CodedConcept("89546000", "SCT", "Skull")),
    "Tooth": (ANATOMICAL_STRUCTURE, CodedConcept("38199008", "SCT", "Tooth")),
    "Neoplasm": (ALTERED_STRUCTURE, CodedConcept("108369006", "SCT", "Neoplasm")),
}

#: The coded meaning a segment made by a threshold preset gets (preset name → term).
PRESET_TERMS = {"bone": "Bone", "cortical-bone": "Bone", "teeth": "Tooth", "skin": "Skin"}


def preset_meaning(preset: str | None) -> dict[str, dict[str, str] | None]:
    """``{"category": ..., "type": ...}`` fields of an ``add_segment`` for a preset's segment."""
    label = PRESET_TERMS.get(preset or "")
    if label is None:
        return {"category": None, "type": None}
    category, kind = COMMON_TERMS[label]
    return {"category": category.as_dict(), "type": kind.as_dict()}
