"""A case plan: what to do with one series, as one JSON file for the GUI, batch and projects.

A plan names which series of a study it applies to, how to segment it (a threshold preset
or range, or the editing issue's operation list, exactly as ``OPS.json`` holds it), the
models to build with their options and export formats, the segmentation files to write,
whether to save a project, optional de-identification, protocol QC rules, the dose
reference-level table and the case report formats.  ``parse_plan`` validates a document
and fills every default, so two plans that mean the same have the same ``digest``: batch
uses it to skip cases already done with the same plan.  Without a plan, ``default_plan``
is what ``workstation mesh`` does by default: a bone-preset model written as STL.

Paths inside a plan (``qc.rules``, ``dose.reference_levels``) are relative to the plan
file's folder; ``digest`` covers the referenced files' content, not only their names.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import PlanError
from workstation.core.operations import OperationError, Record, parse_operations

PLAN_FORMAT = "surgical-planning-workstation plan"
PLAN_VERSION = 1
#: The model preset of a plan that says nothing else (what ``workstation mesh`` uses).
DEFAULT_PRESET = "bone"
#: Formats a model may be written in (the mesh writers' extensions, without the dot;
#: ``dcm`` is DICOM Encapsulated STL in the source study).
MODEL_FORMATS = ("stl", "obj", "ply", "3mf", "dcm")
#: Segmentation files a plan may ask for (``dcm`` is a DICOM Segmentation).
SEGMENTATION_FORMATS = ("seg.nrrd", "nrrd", "nii.gz", "dcm")
REPORT_FORMATS = ("pdf", "html")
SERIES_SELECTIONS = ("best", "all")


@dataclass(frozen=True)
class SeriesChoice:
    """Which series of each study a plan applies to.

    ``best``: the series ``workstation mesh`` would choose (one case per study); ``all``:
    every series that forms a 3D volume.  ``modality`` and ``description`` (a glob,
    case-insensitive) narrow the candidates first; ``series_uid`` names one exactly.
    """

    select: str = "best"
    modality: str = ""
    description: str = ""
    series_uid: str = ""

    def matches(self, modality: str, description: str, series_uid: str) -> bool:
        """True when a series with these attributes is a candidate."""
        if self.series_uid and series_uid != self.series_uid:
            return False
        if self.modality and modality.upper() != self.modality.upper():
            return False
        return not self.description or fnmatch.fnmatch(
            description.casefold(), self.description.casefold()
        )


@dataclass(frozen=True)
class SegmentationSpec:
    """How a case is segmented: a threshold (preset or range) or an operation list.

    With ``operations`` (and ``segments``) given, ``preset``/``lower``/``upper``/``largest``/
    ``seed_lps`` are unused: the list says everything, as in the window.
    """

    preset: str | None = DEFAULT_PRESET
    lower: float | None = None
    upper: float | None = None
    largest: bool = False
    seed_lps: tuple[float, float, float] | None = None
    segments: tuple[Record, ...] = ()
    operations: tuple[Record, ...] = ()
    #: segmentation files written per case (``SEGMENTATION_FORMATS``)
    formats: tuple[str, ...] = ()

    @property
    def uses_operations(self) -> bool:
        """True when the segmentation comes from an operation list."""
        return bool(self.segments or self.operations)


#: Model option names a plan may set, with their checkers (the same names as ModelOptions).
MODEL_OPTION_DEFAULTS: dict[str, Any] = {
    "min_island_mm3": 100.0,
    "remove_table": True,
    "fill_holes": False,
    "smooth_iterations": 20,
    "pass_band": 0.1,
    "decimate_fraction": 0.5,
    "target_triangles": None,
    "coords": "lps",
}


@dataclass(frozen=True)
class ModelSpec:
    """One model of a case: which segment, its name (and file stem), options, formats."""

    name: str
    #: the segment to model (with an operation list); None: the only non-empty segment,
    #: or the threshold model of a preset/range plan
    segment: str | None = None
    options: dict[str, Any] = field(default_factory=lambda: dict(MODEL_OPTION_DEFAULTS))
    formats: tuple[str, ...] = ("stl",)
    ascii: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything to do with one series; ``parse_plan`` builds it, ``to_json`` writes it."""

    name: str = "Bone model"
    series: SeriesChoice = field(default_factory=SeriesChoice)
    segmentation: SegmentationSpec = field(default_factory=SegmentationSpec)
    models: tuple[ModelSpec, ...] = (ModelSpec(name=DEFAULT_PRESET),)
    #: save the case as a project (``case.wsproj``) beside its files
    project: bool = False
    #: de-identify the series first (services.deidentify options) and work on the copy;
    #: None: work on the images as they are
    deidentify: dict[str, Any] | None = None
    #: protocol QC rule file (absolute once parsed); None: no QC
    qc_rules: str | None = None
    #: diagnostic reference-level table (absolute once parsed); None: the bundled example
    reference_levels: str | None = None
    #: check the dose of each case (dose report or per-image CTDIvol)
    dose: bool = True
    #: report formats per case (``REPORT_FORMATS``); empty: no report
    report: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON document that ``parse_plan`` reads back to an equal plan."""
        segmentation = self.segmentation
        document: dict[str, Any] = {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "name": self.name,
            "series": {
                "select": self.series.select,
                "modality": self.series.modality,
                "description": self.series.description,
                "series_uid": self.series.series_uid,
            },
            "segmentation": (
                {
                    "segments": [dict(r) for r in segmentation.segments],
                    "operations": [dict(r) for r in segmentation.operations],
                    "formats": list(segmentation.formats),
                }
                if segmentation.uses_operations
                else {
                    "preset": segmentation.preset,
                    "lower": segmentation.lower,
                    "upper": segmentation.upper,
                    "largest": segmentation.largest,
                    "seed_lps": None
                    if segmentation.seed_lps is None
                    else list(segmentation.seed_lps),
                    "formats": list(segmentation.formats),
                }
            ),
            "models": [
                {
                    "name": model.name,
                    "segment": model.segment,
                    "options": dict(model.options),
                    "formats": list(model.formats),
                    "ascii": model.ascii,
                }
                for model in self.models
            ],
            "project": self.project,
            "deidentify": None if self.deidentify is None else copy.deepcopy(self.deidentify),
            "qc": None if self.qc_rules is None else {"rules": self.qc_rules},
            "dose": {"check": self.dose, "reference_levels": self.reference_levels},
            "report": {"formats": list(self.report)},
        }
        return document

    def digest(self) -> str:
        """SHA-256 of the plan's meaning, including the content of the files it names."""
        document = self.to_json()
        document.pop("name", None)  # renaming a plan does not change what it does
        files = {}
        key = (self.deidentify or {}).get("key")
        for path in (self.qc_rules, self.reference_levels, key if isinstance(key, str) else None):
            if path:  # a new de-identification key gives other pseudonyms: other outputs
                files[path] = _file_digest(path)
        text = json.dumps({"plan": document, "files": files}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_plan() -> Plan:
    """What ``workstation mesh`` does by default: a bone-preset model as STL."""
    return Plan()


# -- reading ---------------------------------------------------------------------------------
def read_plan(path: str | Path) -> Plan:
    """Parse a plan file; PlanError (one line) for an unreadable or invalid one."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise PlanError(f"Cannot read the plan {source}: {problem}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as problem:
        raise PlanError(
            f"The plan {source.name} is not JSON (line {problem.lineno}, column "
            f"{problem.colno}: {problem.msg})."
        ) from None
    return parse_plan(data, source.resolve().parent, where=source.name)


def write_plan_text(plan: Plan) -> str:
    """The plan file's text (stable key order, so equal plans give equal files)."""
    return json.dumps(plan.to_json(), indent=2, sort_keys=False) + "\n"


def parse_plan(data: Any, base_dir: str | Path = ".", where: str = "the plan") -> Plan:
    """A validated Plan from a JSON document; relative paths resolve against ``base_dir``."""
    try:
        return _parse(data, Path(base_dir))
    except _Invalid as problem:
        raise PlanError(f"{where}: {problem}") from None
    except OperationError as problem:
        raise PlanError(f"{where}: segmentation: {problem}") from None


class _Invalid(ValueError):
    """A plan value that does not fit (the message names the key)."""


_TOP_KEYS = {
    "format",
    "version",
    "name",
    "series",
    "segmentation",
    "models",
    "project",
    "deidentify",
    "qc",
    "dose",
    "report",
}


def _parse(data: Any, base: Path) -> Plan:
    mapping = _mapping(data, "the plan")
    _known_keys(mapping, _TOP_KEYS, "the plan")
    if mapping.get("format", PLAN_FORMAT) != PLAN_FORMAT:
        raise _Invalid(f"format must be {json.dumps(PLAN_FORMAT)}")
    version = mapping.get("version", PLAN_VERSION)
    if version != PLAN_VERSION:
        raise _Invalid(f"version {json.dumps(version)} is not one this workstation reads (1)")
    name = _text(mapping.get("name", "Plan"), "name")
    segmentation = _segmentation(mapping.get("segmentation", {}))
    models = _models(mapping.get("models"), segmentation)
    qc = mapping.get("qc")
    qc_rules = None
    if qc is not None:
        qc_map = _mapping(qc, "qc")
        _known_keys(qc_map, {"rules"}, "qc")
        qc_rules = _existing_file(qc_map.get("rules"), "qc.rules", base)
    dose_map = _mapping(_or_empty(mapping.get("dose")), "dose")
    _known_keys(dose_map, {"check", "reference_levels"}, "dose")
    levels = dose_map.get("reference_levels")
    reference_levels = None if levels is None else _existing_file(
        levels, "dose.reference_levels", base
    )
    report_map = _mapping(_or_empty(mapping.get("report")), "report")
    _known_keys(report_map, {"formats"}, "report")
    deidentify = mapping.get("deidentify")
    if deidentify is not None:
        deidentify = copy.deepcopy(_mapping(deidentify, "deidentify"))
        key = deidentify.get("key")
        if isinstance(key, str) and key.strip():  # relative to the plan, as qc.rules
            deidentify["key"] = str((base / Path(key.strip()).expanduser()).resolve())
    return Plan(
        name=name,
        series=_series(mapping.get("series", {})),
        segmentation=segmentation,
        models=models,
        project=_boolean(mapping.get("project", False), "project"),
        deidentify=deidentify,
        qc_rules=qc_rules,
        reference_levels=reference_levels,
        dose=_boolean(dose_map.get("check", True), "dose.check"),
        report=_choices(report_map.get("formats", []), REPORT_FORMATS, "report.formats"),
    )


def _series(value: Any) -> SeriesChoice:
    mapping = _mapping(_or_empty(value), "series")
    _known_keys(mapping, {"select", "modality", "description", "series_uid"}, "series")
    select = mapping.get("select", "best")
    if select not in SERIES_SELECTIONS:
        raise _Invalid(f"series.select must be one of {', '.join(SERIES_SELECTIONS)}")
    return SeriesChoice(
        select=select,
        modality=_optional_text(mapping.get("modality"), "series.modality"),
        description=_optional_text(mapping.get("description"), "series.description"),
        series_uid=_optional_text(mapping.get("series_uid"), "series.series_uid"),
    )


def _segmentation(value: Any) -> SegmentationSpec:
    mapping = _mapping(_or_empty(value), "segmentation")
    keys = {"preset", "lower", "upper", "largest", "seed_lps", "segments", "operations", "formats"}
    _known_keys(mapping, keys, "segmentation")
    formats = _choices(mapping.get("formats", []), SEGMENTATION_FORMATS, "segmentation.formats")
    if "segments" in mapping or "operations" in mapping:
        threshold_keys = sorted(
            key for key in ("preset", "lower", "upper", "largest", "seed_lps") if key in mapping
        )
        if threshold_keys:
            raise _Invalid(
                "segmentation: give either an operation list or a threshold, not both "
                f"(found {', '.join(threshold_keys)} beside operations)"
            )
        segments, operations = parse_operations(
            {"segments": mapping.get("segments", []), "operations": mapping.get("operations", [])}
        )
        if not segments and not operations:
            raise _Invalid("segmentation.operations is empty")
        return SegmentationSpec(
            preset=None,
            segments=tuple(segments),
            operations=tuple(operations),
            formats=formats,
        )
    lower = mapping.get("lower")
    upper = mapping.get("upper")
    preset = mapping.get("preset", DEFAULT_PRESET if lower is None else None)
    if lower is not None:
        lower = _number(lower, "segmentation.lower")
        if preset is not None:
            raise _Invalid("segmentation: give either preset or lower/upper, not both")
    elif upper is not None:
        raise _Invalid("segmentation.upper needs segmentation.lower as well")
    else:
        preset = _text(preset, "segmentation.preset")
    if upper is not None:
        upper = _number(upper, "segmentation.upper")
        if lower is not None and upper < lower:
            raise _Invalid("segmentation.upper is below segmentation.lower")
    largest = _boolean(mapping.get("largest", False), "segmentation.largest")
    seed = mapping.get("seed_lps")
    seed_lps = None
    if seed is not None:
        if not isinstance(seed, list) or len(seed) != 3:
            raise _Invalid("segmentation.seed_lps must be a point [x, y, z] in LPS mm")
        seed_lps = tuple(_number(v, "segmentation.seed_lps") for v in seed)
        if largest:
            raise _Invalid("segmentation: choose either largest or seed_lps, not both")
    return SegmentationSpec(
        preset=preset,
        lower=lower,
        upper=upper,
        largest=largest,
        seed_lps=seed_lps,  # type: ignore[arg-type]
        formats=formats,
    )


def _models(value: Any, segmentation: SegmentationSpec) -> tuple[ModelSpec, ...]:
    if value is None:
        name = segmentation.preset or ("model" if segmentation.uses_operations else "threshold")
        return (ModelSpec(name=name),)
    if not isinstance(value, list):
        raise _Invalid("models must be a list")
    models = []
    for index, item in enumerate(value):
        where = f"models[{index}]"
        mapping = _mapping(item, where)
        _known_keys(mapping, {"name", "segment", "options", "formats", "ascii"}, where)
        segment = mapping.get("segment")
        if segment is not None:
            segment = _text(segment, f"{where}.segment")
            if not segmentation.uses_operations:
                raise _Invalid(f"{where}.segment names a segment of an operation list")
        default_name = segment or segmentation.preset or "model"
        name = _text(mapping.get("name", default_name), f"{where}.name")
        formats = _choices(mapping.get("formats", ["stl"]), MODEL_FORMATS, f"{where}.formats")
        if not formats:
            raise _Invalid(f"{where}.formats is empty")
        models.append(
            ModelSpec(
                name=name,
                segment=segment,
                options=_model_options(mapping.get("options", {}), f"{where}.options"),
                formats=formats,
                ascii=_boolean(mapping.get("ascii", False), f"{where}.ascii"),
            )
        )
    names = [model.name.casefold() for model in models]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise _Invalid(f"two models are called {duplicate!r}; each model needs its own name")
    if not models:
        raise _Invalid("models is empty")
    return tuple(models)


def _model_options(value: Any, where: str) -> dict[str, Any]:
    mapping = _mapping(_or_empty(value), where)
    _known_keys(mapping, set(MODEL_OPTION_DEFAULTS), where)
    options = dict(MODEL_OPTION_DEFAULTS)
    for key, raw in mapping.items():
        name = f"{where}.{key}"
        if key in ("remove_table", "fill_holes"):
            options[key] = _boolean(raw, name)
        elif key == "smooth_iterations":
            options[key] = _integer(raw, name, minimum=0)
        elif key == "target_triangles":
            options[key] = None if raw is None else _integer(raw, name, minimum=1)
        elif key == "coords":
            if raw not in ("lps", "ras"):
                raise _Invalid(f"{name} must be lps or ras")
            options[key] = raw
        elif key == "min_island_mm3":
            options[key] = _number(raw, name, minimum=0.0)
        elif key == "pass_band":
            number = _number(raw, name)
            if not 0.0 < number < 2.0:
                raise _Invalid(f"{name} must be between 0 and 2, got {number:g}")
            options[key] = number
        elif key == "decimate_fraction":
            number = _number(raw, name)
            if not 0.0 <= number < 1.0:
                raise _Invalid(f"{name} must be from 0 up to (not including) 1, got {number:g}")
            options[key] = number
    return options


# -- field checkers ---------------------------------------------------------------------------
def _or_empty(value: Any) -> Any:
    """An absent (null) section as an empty one; any other value as it is (checked next)."""
    return {} if value is None else value


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"{name} must be a JSON object")
    return value


def _known_keys(mapping: dict[str, Any], known: set[str], name: str) -> None:
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise _Invalid(
            f"{name} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"{name} must be a non-empty text")
    return value.strip()


def _optional_text(value: Any, name: str) -> str:
    if value is None or value == "":
        return ""
    return _text(value, name)


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{name} must be true or false")
    return value


def _number(value: Any, name: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid(f"{name} must be a finite number")
    if minimum is not None and value < minimum:
        raise _Invalid(f"{name} cannot be below {minimum:g}")
    return float(value)


def _integer(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Invalid(f"{name} must be a whole number of at least {minimum}")
    return int(value)


def _choices(value: Any, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Invalid(f"{name} must be a list of texts")
    chosen = []
    for item in value:
        key = item.strip().lower().lstrip(".")
        if key not in allowed:
            raise _Invalid(f"{name}: {item!r} is not one of {', '.join(allowed)}")
        if key not in chosen:
            chosen.append(key)
    return tuple(chosen)


def _existing_file(value: Any, name: str, base: Path) -> str:
    text = _text(value, name)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise _Invalid(f"{name}: {path} is not a file")
    return str(path.resolve())


def _file_digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as problem:
        raise PlanError(f"Cannot read {path}, which the plan names: {problem}") from None
