"""The de-identification engine: PS3.15 Table E.1-1 and its options applied to a data set.

One walk over the data set (and every sequence item) looks each tag up in a table of
resolved operations built once per option set; only elements that the table names, and
dates, UIDs, sequences and private tags, are ever decoded.  Pixel data is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pydicom
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import empty_value_for_VR
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from workstation.io.deid import descriptors
from workstation.io.deid.actions import (
    DUMMY_BY_VR,
    ENHANCED_SOP_CLASSES,
    PATIENT_BIRTH_TIME,
    masked_operation,
    operations,
)
from workstation.io.deid.dates import shift_da, shift_dt
from workstation.io.deid.keys import DeidKey
from workstation.io.deid.method_codes import method_codes, method_text
from workstation.io.deid.options import DeidOption
from workstation.io.deid.private import private_tags_to_remove
from workstation.io.deid.table import load_table
from workstation.io.deid.uid_map import (
    STANDARD_UID_ROOT,
    date_offset_days,
    deidentified_uid,
    pseudonym_id,
    pseudonym_name,
)

#: UIDs naming kinds of things (classes, coding schemes), never instances: kept.
REGISTRY_UID_KEYWORDS = frozenset({
    "CodingSchemeUID", "ContextUID", "MappingResourceUID", "TransferSyntaxUID",
    "ReferencedTransferSyntaxUIDInFile", "ContextGroupExtensionCreatorUID",
    "PrivateInformationCreatorUID", "ImplementationClassUID", "SOPClassesInStudy",
})  # fmt: skip
#: File meta attributes that name the sending system: removed.
FILE_META_REMOVED = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)
_SPECIAL = frozenset({"SQ", "DA", "DT", "TM", "UI"})
_TEXT = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN", "CS"})


@dataclass(frozen=True)
class DeidSettings:
    """The key and the chosen options of one de-identification run."""

    key: DeidKey
    options: frozenset[DeidOption]


@dataclass
class DatasetReport:
    """What was done to one data set."""

    actions: dict[str, int] = field(default_factory=dict)
    removed_private: int = 0
    notes: list[str] = field(default_factory=list)
    needs_review: list[str] = field(default_factory=list)


_VR_CACHE: dict[int, str] = {}


def _vr_of(tag: int) -> str:
    """The dictionary VR of a public tag ('UN' when unknown or ambiguous)."""
    found = _VR_CACHE.get(tag)
    if found is None:
        try:
            found = dictionary_VR(tag)
        except KeyError:
            found = "UN"
        if " or " in found:
            found = found.split(" or ")[0]
        _VR_CACHE[tag] = found
    return found


def _is_registry_uid(tag: int) -> bool:
    """Whether a UI attribute names a class or scheme rather than an instance."""
    keyword = keyword_for_tag(tag)
    return keyword in REGISTRY_UID_KEYWORDS or keyword.endswith("ClassUID")


class _Walker:
    """One data set's de-identification: shared state of the recursive walk."""

    def __init__(self, ds: pydicom.Dataset, settings: DeidSettings) -> None:
        options = settings.options
        self.key = settings.key
        self.report = DatasetReport()
        enhanced = str(ds.get("SOPClassUID", "")) in ENHANCED_SOP_CLASSES
        self.ops = operations(frozenset(options), enhanced)
        self.shift = DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in options
        self.retain_uids = DeidOption.RETAIN_UIDS in options
        self.keep_safe_private = DeidOption.RETAIN_SAFE_PRIVATE in options
        patient_id = str(ds.get("PatientID", "") or "")
        self.days = date_offset_days(self.key, patient_id)
        self.pseudo_id = pseudonym_id(self.key, patient_id)
        self.pseudo_name = pseudonym_name(self.key, patient_id)
        self.uids: dict[str, str] = {}
        self.cleaner: re.Pattern[str] | None = None
        if DeidOption.CLEAN_DESCRIPTORS in options:
            self.cleaner = descriptors.cleaner(descriptors.phi_words(ds))
        self.bad_dates = 0
        self.unknown = 0

    def count(self, letter: str) -> None:
        """Count one action."""
        self.report.actions[letter] = self.report.actions.get(letter, 0) + 1

    def uid(self, value: str) -> str:
        """The keyed replacement of one UID (standard UIDs kept)."""
        text = value.strip().rstrip("\x00")
        if not text or text.startswith(STANDARD_UID_ROOT):
            return text
        mapped = self.uids.get(text)
        if mapped is None:
            mapped = self.uids[text] = deidentified_uid(self.key, text)
        return mapped

    def _map_values(self, value: object, one: Callable[[str], str | None]) -> object:
        """Apply ``one`` to each value of a (multi-)valued element."""
        if isinstance(value, MultiValue | list):
            results = [one(str(item)) for item in value]
            if any(result is None for result in results):
                return None
            return [result for result in results if result is not None]
        return one(str(value)) if value is not None else value

    def walk(self, ds: pydicom.Dataset) -> None:
        """De-identify ``ds`` and every item of its sequences, in place."""
        ops = self.ops
        private: list[int] = []
        for tag in list(ds.keys()):
            group = tag >> 16
            if group & 1:
                private.append(tag)
                continue
            if tag & 0xFFFF == 0 and group != 0x0002:
                del ds[tag]  # group lengths are retired and would be wrong
                continue
            op = ops.get(tag)
            if op is None and group >> 8 in (0x50, 0x60):
                op = masked_operation(tag)
            raw = ds.get_item(tag)
            vr = raw.VR if raw is not None and raw.VR else _vr_of(tag)
            if vr == "UN":
                vr = _vr_of(tag)
            if op is None and vr not in _SPECIAL:
                if vr == "UN":
                    self.unknown += 1
                continue
            self.apply(ds, tag, op, vr)
        if private:
            removed = private_tags_to_remove(ds, private, self.keep_safe_private)
            for gone in removed:
                del ds[gone]
            self.report.removed_private += len(removed)

    def apply(self, ds: pydicom.Dataset, tag: int, op: str | None, vr: str) -> None:
        """Carry out ``op`` (None: not in the table) on the element at ``tag``."""
        if op == "C" and vr not in _TEXT:
            op = "X"  # only text can be cleaned
        if op == "X" and not (self.shift and vr in ("DA", "DT")):
            del ds[tag]
            self.count("X")
            return
        element = ds[tag]
        vr = element.VR if element.VR != "UN" else vr
        if vr == "SQ":
            if op in (None, "K", "U", "C"):
                for item in element.value or ():
                    self.walk(item)
            else:
                element.value = Sequence()
                self.count(op)
            return
        if op == "K":
            self.count("K")
            return
        if vr in ("DA", "DT") and self.shift:
            self.shift_element(element, vr)
            return
        if vr == "TM" and self.shift and op is not None and tag != PATIENT_BIRTH_TIME:
            self.count("K")
            return
        if vr == "UI":
            self.apply_uid(element, tag, op)
            return
        if op is None:
            return
        if op == "N":
            element.value = self.pseudo_name
            self.count("D")
        elif op == "I":
            element.value = self.pseudo_id
            self.count("D")
        elif op == "C" and self.cleaner is not None:
            pattern = self.cleaner
            element.value = self._map_values(
                element.value, lambda text: descriptors.clean_text(text, pattern)
            )
            self.count("C")
        elif op == "Z" or op == "U":
            element.value = empty_value_for_VR(vr)
            self.count("Z")
        else:
            element.value = DUMMY_BY_VR.get(vr, empty_value_for_VR(vr))
            self.count("D")

    def apply_uid(self, element: pydicom.DataElement, tag: int, op: str | None) -> None:
        """Map, empty or keep a UI element."""
        if op == "Z":
            element.value = ""
            self.count("Z")
            return
        if self.retain_uids or op == "K" or (op is None and _is_registry_uid(tag)):
            return
        if element.value:
            element.value = self._map_values(element.value, self.uid)
            self.count("U")

    def shift_element(self, element: pydicom.DataElement, vr: str) -> None:
        """Move a DA or DT element by the patient's offset (a dummy if unreadable)."""
        days = self.days
        value = element.value
        if value is None or value == "":
            return
        shift = shift_da if vr == "DA" else shift_dt
        moved = self._map_values(value, lambda text: shift(text, days))
        if moved is None:
            element.value = DUMMY_BY_VR[vr]
            self.bad_dates += 1
            self.count("D")
            return
        element.value = moved
        self.count("M")


def deidentify_dataset(ds: pydicom.Dataset, settings: DeidSettings) -> DatasetReport:
    """De-identify ``ds`` in place (file meta too); pixel data is left as it is."""
    walker = _Walker(ds, settings)
    report = walker.report
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        report.needs_review.append("Burned In Annotation is YES")
    if str(ds.get("RecognizableVisualFeatures", "")).upper() == "YES":
        report.needs_review.append("Recognizable Visual Features is YES")
    identity = descriptors.patient_words(ds)
    walker.walk(ds)
    # A kept attribute that still names the patient (a scanner that wrote the name into a
    # sequence name or a comment the profile keeps) needs a human look.
    holding = descriptors.attributes_holding(ds, identity)
    if holding:
        report.needs_review.append(
            "the patient's name or ID still appears in " + ", ".join(holding[:5])
        )
    if walker.bad_dates:
        report.notes.append(f"{walker.bad_dates} unreadable date(s) replaced by a dummy date")
    if walker.unknown:
        report.notes.append(
            f"{walker.unknown} attribute(s) unknown to the dictionary kept as they are "
            "(the profile does not list them)"
        )
    _mark(ds, settings, walker.shift)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for tag in FILE_META_REMOVED:
            if tag in meta:
                del meta[tag]
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in meta and not walker.retain_uids:
            # a data set without its own SOP Instance UID: the file meta's is mapped alike
            meta.MediaStorageSOPInstanceUID = walker.uid(str(meta.MediaStorageSOPInstanceUID))
    return report


def _mark(ds: pydicom.Dataset, settings: DeidSettings, shifted: bool) -> None:
    """Say in the data set that (and how) it was de-identified."""
    options = frozenset(settings.options)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = method_text(options, load_table().edition)
    ds.DeidentificationMethodCodeSequence = method_codes(options)
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if shifted else "REMOVED"
