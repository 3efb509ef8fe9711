"""Protocol QC: does each series follow its protocol's rule (kVp, slices, kernel, dose...)?

The facts come from the scan (series, frames, their positions) and from ONE header per
series (kVp, protocol name, body part, contrast), read up to its pixels; CTDIvol comes
from the dose records (``services.dose``).  The first rule whose match keys all fit a
series applies.  A check whose value the images do not record warns, never passes; an
expectation not met fails (or warns, with the rule's ``severity = "warn"``).  A series no
rule matches warns: a department wants to know about unexpected protocols.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from workstation.core.errors import DicomReadError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.volume import Volume
from workstation.io.dicom.header_geometry import orientation_label, stack_geometry
from workstation.io.dicom.headers import read_header
from workstation.io.dicom.model import Stack
from workstation.io.dicom.scan import scan_path
from workstation.io.qc_rules import Expectations, Rule, RuleSet, glob_matches, read_rules

__all__ = [
    "Finding",
    "RuleSet",
    "SeriesFacts",
    "SeriesQc",
    "check_facts",
    "check_source",
    "check_stack",
    "load_rules",
    "series_facts",
]

STATUSES = ("pass", "warn", "fail")
NO_RULE = "no protocol rule matches"
#: Stack kinds that are no protocol scan (scouts, screenshots): check_source leaves them out.
NOT_SCANS = ("localizer", "secondary-capture")
#: Slice positions carry rounding: a spacing within this of the limit still meets it.
SPACING_TOLERANCE_MM = 0.01
SPACING_RELATIVE_TOLERANCE = 0.005


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """The rules of a QC rule file; PlanError (one line) when it cannot be used."""
    return read_rules(path)


@dataclass(frozen=True)
class SeriesFacts:
    """What a series records that its protocol rule can check; None: not recorded."""

    series_uid: str
    stack_id: str
    series_number: str
    series_description: str
    protocol_name: str
    body_part_examined: str
    modality: str
    kvp: float | None
    reconstruction_kernel: str
    contrast: bool  # a contrast agent is recorded (0018,0010 present, or Enhanced usage)
    contrast_agent: str
    orientation: str  # axial, coronal, sagittal, oblique; "unknown" without an IOP
    slice_thickness_mm: float | None  # the thickest Slice Thickness tag of the frames
    slice_spacing_mm: float | None  # the largest step between slice positions
    n_slices: int  # distinct slice positions (frames without a position: frames)
    ctdivol_mgy: float | None

    def match_values(self) -> dict[str, str]:
        """The values rules match on, by match key."""
        return {
            "series_description": self.series_description,
            "protocol_name": self.protocol_name,
            "body_part_examined": self.body_part_examined,
            "modality": self.modality,
        }

    def to_json(self) -> dict[str, Any]:
        """Plain JSON of the facts."""
        return asdict(self)


@dataclass(frozen=True)
class Finding:
    """One check that did not pass: its expectation key, warn or fail, and the reason."""

    check: str
    status: str
    reason: str
    expected: str = ""
    found: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON of the finding."""
        return asdict(self)


@dataclass
class SeriesQc:
    """The QC outcome of one series: the rule that applied, pass/warn/fail and why."""

    series_uid: str
    description: str
    rule: str | None
    status: str
    findings: list[Finding] = field(default_factory=list)
    facts: SeriesFacts | None = None
    stack_id: str = ""

    def reasons(self) -> list[str]:
        """One line per check that warned or failed (``NO_RULE`` when no rule matched)."""
        return [finding.reason for finding in self.findings]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: the ``qc --json`` series record and the batch case's ``qc.json``."""
        return {
            "series_uid": self.series_uid,
            "stack_id": self.stack_id,
            "description": self.description,
            "rule": self.rule,
            "status": self.status,
            "reasons": self.reasons(),
            "findings": [finding.to_json() for finding in self.findings],
            "facts": None if self.facts is None else self.facts.to_json(),
        }


# -- facts -----------------------------------------------------------------------------------
def _item(ds: Dataset | None, keyword: str) -> Dataset | None:
    """The first item of a sequence, or None."""
    if ds is None:
        return None
    try:
        value = ds.get(keyword)
        return value[0] if value else None
    except (TypeError, IndexError, KeyError, ValueError):
        return None


def _group(ds: Dataset, frame_index: int | None, keyword: str) -> Dataset | None:
    """A functional group of an Enhanced object's frame: per-frame first, then shared."""
    if frame_index is not None:
        try:
            per_frame = ds.get("PerFrameFunctionalGroupsSequence")
            item = _item(per_frame[frame_index], keyword) if per_frame else None
        except (TypeError, IndexError, KeyError, ValueError):
            item = None
        if item is not None:
            return item
    return _item(_item(ds, "SharedFunctionalGroupsSequence"), keyword)


def _text(ds: Dataset | None, keyword: str) -> str:
    if ds is None:
        return ""
    try:
        value = ds.get(keyword)
    except (TypeError, ValueError, KeyError):
        return ""
    if value is None:
        return ""
    if not isinstance(value, str) and hasattr(value, "__iter__"):
        value = "\\".join(str(part) for part in value)
    return str(value).replace("\x00", "").strip()


def _number(ds: Dataset | None, keyword: str) -> float | None:
    """The first value of a numeric attribute; a malformed or empty one is not recorded."""
    text = _text(ds, keyword).split("\\")[0]
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _kvp(ds: Dataset, frame_index: int | None) -> float | None:
    """KVP (0018,0060): top level, or the Enhanced CT X-Ray Details functional group."""
    found = _number(ds, "KVP")
    if found is None:
        found = _number(_group(ds, frame_index, "CTXRayDetailsSequence"), "KVP")
    return found if found is not None and found > 0 else None


def _contrast(ds: Dataset, frame_index: int | None) -> tuple[bool, str]:
    """(recorded, agent): Contrast/Bolus Agent (0018,0010) present, even empty (a
    de-identified agent), or an Enhanced contrast agent / usage item that says YES."""
    if "ContrastBolusAgent" in ds:
        return True, _text(ds, "ContrastBolusAgent")
    agent = _item(ds, "ContrastBolusAgentSequence")
    if agent is not None:
        return True, _text(agent, "CodeMeaning")
    usage = _group(ds, frame_index, "ContrastBolusUsageSequence")
    if usage is not None and _text(usage, "ContrastBolusAgentAdministered").upper() == "YES":
        return True, ""
    return False, ""


def _header(stack: Stack) -> Dataset | None:
    """The first frame's header (up to its pixels), or None when it cannot be read now."""
    try:
        return read_header(stack.frames[0].location)
    except DicomReadError:
        return None


def series_facts(
    stack: Stack, *, ctdivol_mgy: float | None = None, volume: Volume | None = None
) -> SeriesFacts:
    """The facts of one stack's series; ``volume`` (when loaded) gives its orientation."""
    first = stack.frames[0]
    ds = _header(stack) if stack.frames else None
    empty = Dataset()
    header = ds if ds is not None else empty
    contrast, agent = _contrast(header, first.frame_index)
    geometry = stack_geometry(stack.frames)
    thicknesses = [frame.slice_thickness for frame in stack.frames if frame.slice_thickness]
    orientation = volume.orientation if volume is not None else orientation_label(first.orientation)
    positioned = any(frame.position is not None for frame in stack.frames)
    identity = stack.identity
    return SeriesFacts(
        series_uid=identity.series_uid,
        stack_id=stack.stack_id,
        series_number=identity.series_number,
        series_description=identity.series_description,
        protocol_name=_text(header, "ProtocolName"),
        body_part_examined=_text(header, "BodyPartExamined"),
        modality=identity.modality or _text(header, "Modality").upper(),
        kvp=_kvp(header, first.frame_index),
        reconstruction_kernel=stack.convolution_kernel,
        contrast=contrast,
        contrast_agent=agent,
        orientation=orientation,
        slice_thickness_mm=max(thicknesses) if thicknesses else None,
        slice_spacing_mm=max(geometry.steps) if geometry.steps else None,
        n_slices=len(geometry.steps) + 1 if positioned and geometry.steps else len(stack.frames),
        ctdivol_mgy=ctdivol_mgy,
    )


# -- checks ----------------------------------------------------------------------------------
def mm(value: float) -> str:
    """A length as users read it: '3.0', '1.08', '0.75' (at most two decimals)."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _num(value: float) -> str:
    return f"{value:g}"


def _range(low: float | None, high: float | None, unit: str = "") -> str:
    if low is not None and high is not None:
        return f"{_num(low)} to {_num(high)}{unit}"
    if low is not None:
        return f"at least {_num(low)}{unit}"
    return f"at most {_num(high or 0.0)}{unit}"


class _Checker:
    """Collects the findings of one rule's checks on one series."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.findings: list[Finding] = []

    def unknown(self, check: str, reason: str, expected: str) -> None:
        self.findings.append(Finding(check, "warn", reason, expected, "not recorded"))

    def unmet(self, check: str, reason: str, expected: str, found: str) -> None:
        self.findings.append(Finding(check, self.rule.severity, reason, expected, found))


def _kvp_check(expect: Expectations, facts: SeriesFacts, out: _Checker) -> None:
    if expect.kvp_min is None and expect.kvp_max is None:
        return
    expected = _range(expect.kvp_min, expect.kvp_max)
    if facts.kvp is None:
        out.unknown("kvp", "kVp not recorded", expected)
        return
    low_ok = expect.kvp_min is None or facts.kvp >= expect.kvp_min
    high_ok = expect.kvp_max is None or facts.kvp <= expect.kvp_max
    if not (low_ok and high_ok):
        found = _num(facts.kvp)
        out.unmet("kvp", f"kVp {found}, expected {expected}", expected, found)


def _over(value: float, limit: float) -> bool:
    return value > limit + max(SPACING_TOLERANCE_MM, SPACING_RELATIVE_TOLERANCE * limit)


def _thickness_check(expect: Expectations, facts: SeriesFacts, out: _Checker) -> None:
    limit = expect.slice_thickness_max_mm
    if limit is None:
        return
    expected = f"at most {mm(limit)} mm"
    tag, spacing = facts.slice_thickness_mm, facts.slice_spacing_mm
    tag_text = (
        f"Slice Thickness {mm(tag)} mm" if tag is not None else "Slice Thickness not recorded"
    )
    spacing_text = (
        f"slices up to {mm(spacing)} mm apart"
        if spacing is not None
        else "slice spacing unknown (fewer than two slice positions)"
    )
    found = f"{tag_text}, {spacing_text}"
    reason = f"{found}; expected at most {mm(limit)} mm"
    if (tag is not None and _over(tag, limit)) or (spacing is not None and _over(spacing, limit)):
        out.unmet("slice_thickness_max_mm", reason, expected, found)
    elif tag is None or spacing is None:
        out.unknown("slice_thickness_max_mm", reason, expected)


def _kernel_check(expect: Expectations, facts: SeriesFacts, out: _Checker) -> None:
    if not expect.reconstruction_kernel:
        return
    expected = ", ".join(expect.reconstruction_kernel)
    kernel = facts.reconstruction_kernel
    if not kernel:
        out.unknown("reconstruction_kernel", "reconstruction kernel not recorded", expected)
        return
    values = [kernel, *kernel.split("\\")]
    if not any(glob_matches(p, v) for p in expect.reconstruction_kernel for v in values):
        reason = f"reconstruction kernel {kernel}, expected {expected}"
        out.unmet("reconstruction_kernel", reason, expected, kernel)


def _contrast_check(expect: Expectations, facts: SeriesFacts, out: _Checker) -> None:
    if expect.contrast is None:
        return
    expected = "contrast" if expect.contrast else "no contrast"
    if expect.contrast and not facts.contrast:
        out.unmet("contrast", "no contrast agent recorded, expected contrast", expected, "none")
    elif not expect.contrast and facts.contrast:
        agent = f"contrast agent {facts.contrast_agent}" if facts.contrast_agent else "contrast"
        out.unmet("contrast", f"{agent} recorded, expected none", expected, agent)


def _orientation_check(expect: Expectations, facts: SeriesFacts, out: _Checker) -> None:
    if expect.orientation is None:
        return
    if facts.orientation == "unknown":
        out.unknown("orientation", "orientation not recorded", expect.orientation)
    elif facts.orientation != expect.orientation:
        reason = f"orientation {facts.orientation}, expected {expect.orientation}"
        out.unmet("orientation", reason, expect.orientation, facts.orientation)


def _ctdivol_check(expect: Expectations, facts: SeriesFacts, out: _Checker) -> None:
    limit = expect.ctdivol_max_mgy
    if limit is None:
        return
    expected = f"at most {_num(limit)} mGy"
    if facts.ctdivol_mgy is None:
        out.unknown("ctdivol_max_mgy", "CTDIvol not recorded", expected)
    elif facts.ctdivol_mgy > limit:
        found = f"{facts.ctdivol_mgy:.2f} mGy"
        out.unmet("ctdivol_max_mgy", f"CTDIvol {found}, expected {expected}", expected, found)


def _slices_check(expect: Expectations, facts: SeriesFacts, out: _Checker) -> None:
    if expect.min_slices is None or facts.n_slices >= expect.min_slices:
        return
    expected = f"at least {expect.min_slices}"
    found = f"{facts.n_slices}"
    reason = f"{facts.n_slices} slice{'s' if facts.n_slices != 1 else ''}, expected {expected}"
    out.unmet("min_slices", reason, expected, found)


CHECKS = (
    _kvp_check,
    _thickness_check,
    _kernel_check,
    _contrast_check,
    _orientation_check,
    _ctdivol_check,
    _slices_check,
)


def _status(findings: list[Finding]) -> str:
    states = {finding.status for finding in findings}
    return "fail" if "fail" in states else "warn" if "warn" in states else "pass"


def check_facts(facts: SeriesFacts, rules: RuleSet) -> SeriesQc:
    """Apply the first matching rule to gathered facts."""
    rule = rules.first_match(facts.match_values())
    if rule is None:
        findings = [Finding("match", "warn", NO_RULE)]
    else:
        checker = _Checker(rule)
        for check in CHECKS:
            check(rule.expect, facts, checker)
        findings = checker.findings
    return SeriesQc(
        series_uid=facts.series_uid,
        description=facts.series_description,
        rule=None if rule is None else rule.name,
        status=_status(findings),
        findings=findings,
        facts=facts,
        stack_id=facts.stack_id,
    )


def check_stack(
    stack: Stack,
    rules: RuleSet,
    *,
    ctdivol_mgy: float | None = None,
    volume: Volume | None = None,
) -> SeriesQc:
    """QC of one series (its stack); CTDIvol in mGy as the dose records give it."""
    return check_facts(series_facts(stack, ctdivol_mgy=ctdivol_mgy, volume=volume), rules)


# -- a whole folder --------------------------------------------------------------------------
def _series_stacks(stacks: list[Stack]) -> list[Stack]:
    """One stack per series, in scan order: its most complete loadable stack."""
    chosen: dict[str, Stack] = {}
    for stack in stacks:
        if stack.kind in NOT_SCANS or not stack.frames:
            continue
        uid = stack.identity.series_uid or stack.stack_id
        held = chosen.get(uid)
        if held is None or _preference(stack) > _preference(held):
            chosen[uid] = stack
    return list(chosen.values())


def _preference(stack: Stack) -> tuple[bool, int, float]:
    return (stack.loadable_3d, len(stack.frames), stack.confidence)


def _doses(
    source: str | os.PathLike[str],
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> list[Any]:
    """The dose records of ``source`` (imported on use: the dose reader is its own module)."""
    try:
        from workstation.services.dose import read_study_doses
    except ModuleNotFoundError as missing:
        if missing.name != "workstation.services.dose":
            raise
        return []
    return list(read_study_doses(source, None, progress, cancel))


def _ctdivol(doses: list[Any], series_uid: str) -> float | None:
    for dose in doses:
        value = dose.ctdivol_for_series(series_uid)
        if value is not None:
            return float(value)
    return None


def check_source(
    source: str | os.PathLike[str],
    rules: RuleSet,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[SeriesQc]:
    """QC of every series under ``source`` (folder, file or zip), in the scan's order.

    Localizers and secondary captures are no protocol scans and are left out.  The dose
    records are read only when a rule checks CTDIvol.
    """
    scan = scan_path(source, sub_progress(progress, 0.0, 0.6), cancel)
    stacks = _series_stacks(scan.stacks)
    doses = _doses(source, sub_progress(progress, 0.6, 0.8), cancel) if rules.needs_ctdivol else []
    results = []
    for index, stack in enumerate(stacks):
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress(0.8 + 0.2 * index / max(len(stacks), 1), "Checking protocols")
        uid = stack.identity.series_uid
        results.append(check_stack(stack, rules, ctdivol_mgy=_ctdivol(doses, uid)))
    progress(1.0, f"Checked {len(results)} series")
    return results
