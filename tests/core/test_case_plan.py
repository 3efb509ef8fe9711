"""The case plan format: defaults, round trips, the digest, and every message it gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workstation.core.case_plan import (
    DEFAULT_PRESET,
    MODEL_OPTION_DEFAULTS,
    PLAN_FORMAT,
    ModelSpec,
    Plan,
    default_plan,
    parse_plan,
    read_plan,
    write_plan_text,
)
from workstation.core.errors import PlanError

OPS = {
    "segments": [{"name": "Bone"}],
    "operations": [{"op": "threshold", "segment": "Bone", "lower": 226}],
}


def _full(tmp_path: Path) -> dict:
    (tmp_path / "rules.toml").write_text("[[rules]]\nname = 'x'\n")
    (tmp_path / "levels.toml").write_text("# levels\n")
    return {
        "format": PLAN_FORMAT,
        "version": 1,
        "name": "Knee",
        "series": {"select": "all", "modality": "CT", "description": "*knee*"},
        "segmentation": {**OPS, "formats": ["seg.nrrd", ".NII.GZ"]},
        "models": [
            {"name": "Femur", "segment": "Bone", "formats": ["stl", "ply"],
             "options": {"smooth_iterations": 5, "coords": "ras"}},
            {"name": "Print", "segment": "Bone", "formats": ["3mf"], "ascii": False},
        ],
        "project": True,
        "deidentify": {"options": ["retain-uids"], "keep_images": True},
        "qc": {"rules": "rules.toml"},
        "dose": {"check": True, "reference_levels": "levels.toml"},
        "report": {"formats": ["pdf", "html"]},
    }  # fmt: skip


def test_default_plan_is_a_bone_model():
    plan = default_plan()
    assert plan.segmentation.preset == DEFAULT_PRESET and not plan.segmentation.uses_operations
    assert plan.models == (ModelSpec(name="bone"),)
    assert plan.models[0].options == MODEL_OPTION_DEFAULTS and plan.models[0].formats == ("stl",)
    assert plan.dose and plan.report == () and plan.qc_rules is None and not plan.project
    assert parse_plan({}).models[0].name == "bone"
    assert parse_plan({}).to_json() == {**default_plan().to_json(), "name": "Plan"}


def test_round_trip_and_normalised_values(tmp_path):
    plan = parse_plan(_full(tmp_path), tmp_path)
    assert plan.segmentation.formats == ("seg.nrrd", "nii.gz")  # dot and case dropped
    assert plan.qc_rules == str((tmp_path / "rules.toml").resolve())
    assert plan.models[0].options == {**MODEL_OPTION_DEFAULTS, "smooth_iterations": 5,
                                      "coords": "ras"}  # fmt: skip
    assert plan.series.matches("CT", "Left KNEE 1mm", "1.2") and not plan.series.matches(
        "MR", "knee", "1.2"
    )
    again = parse_plan(json.loads(write_plan_text(plan)), "/elsewhere")
    assert again == plan and again.digest() == plan.digest()
    path = tmp_path / "plan.json"
    path.write_text(write_plan_text(plan))
    assert read_plan(path) == plan


def test_digest_follows_meaning_and_named_files(tmp_path):
    document = _full(tmp_path)
    plan = parse_plan(document, tmp_path)
    assert parse_plan({**document, "name": "Other name"}, tmp_path).digest() == plan.digest()
    changed = {**document, "models": document["models"][:1]}
    assert parse_plan(changed, tmp_path).digest() != plan.digest()
    before = plan.digest()
    (tmp_path / "rules.toml").write_text("[[rules]]\nname = 'y'\n")  # same name, new rules
    assert plan.digest() != before
    (tmp_path / "rules.toml").unlink()
    with pytest.raises(PlanError, match=r"Cannot read .*rules\.toml, which the plan names"):
        plan.digest()
    assert len(default_plan().digest()) == 64


def test_threshold_plans():
    plan = parse_plan({"segmentation": {"lower": 100, "upper": 900, "seed_lps": [1, 2, 3]}})
    assert plan.segmentation.preset is None and plan.segmentation.seed_lps == (1.0, 2.0, 3.0)
    assert plan.models[0].name == "threshold"
    assert parse_plan({"segmentation": OPS}).models[0].name == "model"
    assert parse_plan({"segmentation": {"preset": "teeth"}}).models[0].name == "teeth"


def _error(document, tmp_path: Path | None = None) -> str:
    with pytest.raises(PlanError) as caught:
        parse_plan(document, tmp_path or ".", where="p.json")
    text = str(caught.value)
    assert "\n" not in text and text.startswith("p.json: ")
    return text[len("p.json: ") :]


MODEL = {"name": "m"}

MESSAGES = [
    ([], "the plan must be a JSON object"),
    ({"colour": 1}, "the plan has unknown key(s) colour; known: deidentify, dose, format"),
    ({"format": "other"}, f"format must be {json.dumps(PLAN_FORMAT)}"),
    ({"version": 2}, "version 2 is not one this workstation reads (1)"),
    ({"name": "  "}, "name must be a non-empty text"),
    ({"series": "all"}, "series must be a JSON object"),
    ({"series": {"pick": 1}}, "series has unknown key(s) pick"),
    ({"series": {"select": "first"}}, "series.select must be one of best, all"),
    ({"series": {"modality": 5}}, "series.modality must be a non-empty text"),
    ({"segmentation": 3}, "segmentation must be a JSON object"),
    ({"segmentation": {"kernel": 1}}, "segmentation has unknown key(s) kernel"),
    (
        {"segmentation": {**OPS, "preset": "bone", "largest": True}},
        "segmentation: give either an operation list or a threshold, not both "
        "(found largest, preset beside operations)",
    ),
    ({"segmentation": {"operations": []}}, "segmentation.operations is empty"),
    (
        {"segmentation": {"operations": [{"op": "melt"}]}},
        "segmentation: ",
    ),
    (
        {"segmentation": {"preset": "bone", "lower": 1}},
        "segmentation: give either preset or lower/upper, not both",
    ),
    ({"segmentation": {"upper": 1}}, "segmentation.upper needs segmentation.lower as well"),
    (
        {"segmentation": {"lower": 5, "upper": 1}},
        "segmentation.upper is below segmentation.lower",
    ),
    ({"segmentation": {"lower": "5"}}, "segmentation.lower must be a finite number"),
    ({"segmentation": {"lower": float("nan")}}, "segmentation.lower must be a finite number"),
    ({"segmentation": {"preset": 7}}, "segmentation.preset must be a non-empty text"),
    ({"segmentation": {"largest": 1}}, "segmentation.largest must be true or false"),
    (
        {"segmentation": {"seed_lps": [1, 2]}},
        "segmentation.seed_lps must be a point [x, y, z] in LPS mm",
    ),
    (
        {"segmentation": {"largest": True, "seed_lps": [1, 2, 3]}},
        "segmentation: choose either largest or seed_lps, not both",
    ),
    (
        {"segmentation": {"formats": ["vtk"]}},
        "segmentation.formats: 'vtk' is not one of seg.nrrd, nrrd, nii.gz, dcm",
    ),
    ({"segmentation": {"formats": "nrrd"}}, "segmentation.formats must be a list of texts"),
    ({"models": {}}, "models must be a list"),
    ({"models": []}, "models is empty"),
    ({"models": ["m"]}, "models[0] must be a JSON object"),
    ({"models": [{"name": "m", "colour": 1}]}, "models[0] has unknown key(s) colour"),
    ({"models": [{"name": ""}]}, "models[0].name must be a non-empty text"),
    (
        {"models": [{"name": "m", "segment": "Bone"}]},
        "models[0].segment names a segment of an operation list",
    ),
    ({"models": [{"name": "m", "formats": []}]}, "models[0].formats is empty"),
    (
        {"models": [{"name": "m", "formats": ["step"]}]},
        "models[0].formats: 'step' is not one of stl, obj, ply, 3mf, dcm",
    ),
    ({"models": [{"name": "m", "ascii": "no"}]}, "models[0].ascii must be true or false"),
    (
        {"models": [MODEL, {"name": "M"}]},
        "two models are called 'm'; each model needs its own name",
    ),
    ({"models": [{"name": "m", "options": [1]}]}, "models[0].options must be a JSON object"),
    (
        {"models": [{"name": "m", "options": {"workers": 2}}]},
        "models[0].options has unknown key(s) workers",
    ),
    (
        {"models": [{"name": "m", "options": {"remove_table": "yes"}}]},
        "models[0].options.remove_table must be true or false",
    ),
    (
        {"models": [{"name": "m", "options": {"smooth_iterations": -1}}]},
        "models[0].options.smooth_iterations must be a whole number of at least 0",
    ),
    (
        {"models": [{"name": "m", "options": {"target_triangles": 0}}]},
        "models[0].options.target_triangles must be a whole number of at least 1",
    ),
    (
        {"models": [{"name": "m", "options": {"coords": "xyz"}}]},
        "models[0].options.coords must be lps or ras",
    ),
    (
        {"models": [{"name": "m", "options": {"min_island_mm3": -1}}]},
        "models[0].options.min_island_mm3 cannot be below 0",
    ),
    (
        {"models": [{"name": "m", "options": {"pass_band": 2}}]},
        "models[0].options.pass_band must be between 0 and 2, got 2",
    ),
    (
        {"models": [{"name": "m", "options": {"decimate_fraction": 1}}]},
        "models[0].options.decimate_fraction must be from 0 up to (not including) 1, got 1",
    ),
    ({"project": "yes"}, "project must be true or false"),
    ({"deidentify": True}, "deidentify must be a JSON object"),
    ({"qc": "rules.toml"}, "qc must be a JSON object"),
    ({"qc": {"file": 1}}, "qc has unknown key(s) file"),
    ({"qc": {}}, "qc.rules must be a non-empty text"),
    ({"dose": {"check": 1}}, "dose.check must be true or false"),
    ({"dose": {"table": 1}}, "dose has unknown key(s) table"),
    ({"report": {"formats": ["docx"]}}, "report.formats: 'docx' is not one of pdf, html"),
    ({"report": {"pages": 1}}, "report has unknown key(s) pages"),
]


@pytest.mark.parametrize(("document", "message"), MESSAGES)
def test_every_message(document, message):
    assert _error(document).startswith(message)


def test_missing_files_are_named(tmp_path):
    message = _error({"qc": {"rules": "none.toml"}}, tmp_path)
    assert message == f"qc.rules: {tmp_path / 'none.toml'} is not a file"
    message = _error({"dose": {"reference_levels": "none.toml"}}, tmp_path)
    assert message == f"dose.reference_levels: {tmp_path / 'none.toml'} is not a file"


def test_reading_files(tmp_path):
    with pytest.raises(PlanError, match=r"Cannot read the plan .*absent\.json"):
        read_plan(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": \n')
    with pytest.raises(PlanError) as caught:
        read_plan(broken)
    assert str(caught.value).startswith("The plan broken.json is not JSON (line 2, column 1:")
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 3}')
    with pytest.raises(PlanError, match=r"^bad\.json: version 3 is not"):
        read_plan(bad)


def test_plan_is_frozen_data():
    plan = default_plan()
    with pytest.raises(AttributeError):
        plan.name = "x"  # type: ignore[misc]
    assert isinstance(plan, Plan)


@pytest.mark.parametrize("section", ["series", "segmentation", "dose", "report"])
def test_an_empty_list_is_not_an_empty_section(section):
    assert _error({section: []}) == f"{section} must be a JSON object"


def test_model_options_must_be_an_object():
    assert _error({"models": [{"options": []}]}) == "models[0].options must be a JSON object"


def test_a_relative_deidentification_key_is_the_plans_and_its_content_counts(tmp_path):
    folder = tmp_path / "plans"
    folder.mkdir()
    key = folder / "study.key"
    key.write_text("first")
    plan_file = folder / "plan.json"
    plan_file.write_text(json.dumps({"deidentify": {"key": "study.key"}}))
    plan = read_plan(plan_file)
    assert plan.deidentify == {"key": str(key.resolve())}
    before = plan.digest()
    key.write_text("second")  # another key gives other pseudonyms
    assert read_plan(plan_file).digest() != before
