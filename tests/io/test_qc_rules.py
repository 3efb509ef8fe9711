"""The protocol QC rule file: what it holds, and a one-line PlanError for every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from workstation.core.errors import PlanError
from workstation.io.qc_rules import (
    EXPECT_KEYS,
    MATCH_KEYS,
    Expectations,
    glob_matches,
    read_rules,
)
from workstation.resources_path import resources_dir

GOOD = """
[[rules]]
name = "CT bone"
severity = "warn"
[rules.match]
modality = "CT"
series_description = ["*BONE*", "*THIN*"]
[rules.expect]
kvp_min = 100
kvp_max = 140
slice_thickness_max_mm = 1
reconstruction_kernel = "B6*"
contrast = false
orientation = "axial"
ctdivol_max_mgy = 16.5
min_slices = 100

[[rules]]
name = "Chest CT"
[rules.match]
body_part_examined = "CHEST"
"""


def _write(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_rule_file_reads_into_rules_in_file_order(tmp_path: Path) -> None:
    rules = read_rules(_write(tmp_path, GOOD))
    assert [rule.name for rule in rules.rules] == ["CT bone", "Chest CT"]
    bone, chest = rules.rules
    assert bone.severity == "warn" and chest.severity == "fail"
    assert bone.match == {"modality": ("CT",), "series_description": ("*BONE*", "*THIN*")}
    assert bone.expect == Expectations(
        kvp_min=100.0,
        kvp_max=140.0,
        slice_thickness_max_mm=1.0,
        reconstruction_kernel=("B6*",),
        contrast=False,
        orientation="axial",
        ctdivol_max_mgy=16.5,
        min_slices=100,
    )
    assert chest.expect == Expectations()
    assert rules.needs_ctdivol
    assert rules.source == str((tmp_path / "rules.toml").resolve())
    assert bone.to_json()["expect"]["reconstruction_kernel"] == ["B6*"]


def test_the_first_rule_whose_keys_all_match_applies(tmp_path: Path) -> None:
    rules = read_rules(_write(tmp_path, GOOD))
    thin_chest = {
        "modality": "ct",
        "series_description": "Thorax thin 1mm",
        "body_part_examined": "CHEST",
    }
    assert rules.first_match(thin_chest).name == "CT bone"
    assert rules.first_match({**thin_chest, "modality": "MR"}).name == "Chest CT"
    # A value the series does not record matches as the empty text.
    assert rules.first_match({"modality": "CT", "series_description": ""}) is None


def test_globs_match_the_whole_value_case_insensitively() -> None:
    assert glob_matches("*chest*", "CT CHEST 1.0 B60f")
    assert glob_matches("B6?f", "b60F")
    assert not glob_matches("CHEST", "CHEST ABDOMEN")
    assert glob_matches("[[]3D]*", "[3D] spine")
    assert glob_matches("*", "")


def test_the_bundled_example_covers_head_chest_abdomen_and_thin_slice_planning() -> None:
    rules = read_rules(resources_dir() / "qc" / "example-rules.toml")
    assert [rule.name for rule in rules.rules] == [
        "CT bone, thin-slice planning",
        "CT head",
        "CT chest",
        "CT abdomen and pelvis",
    ]
    planning = rules.rules[0].expect
    assert planning.slice_thickness_max_mm == 1.0 and planning.min_slices == 100
    assert rules.first_match({"modality": "CT", "body_part_examined": "head"}).name == "CT head"
    assert (
        rules.first_match({"modality": "CT", "series_description": "Bone 0.6 planning"}).name
        == "CT bone, thin-slice planning"
    )


RULE_TWO = "rules.toml: rule 2 ('Chest CT'): "
#: Two rules; the second holds every key, so each change below makes rule 2 wrong.
SECOND_CARRIES_ALL = """
[[rules]]
name = "CT bone"

[[rules]]
name = "Chest CT"
severity = "warn"
[rules.match]
body_part_examined = "CHEST"
[rules.expect]
kvp_min = 100
kvp_max = 140
slice_thickness_max_mm = 1
contrast = false
orientation = "axial"
min_slices = 100
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("[rules.expect]\n", "[rules.expect]\nkvp_maximum = 3\n"),
            RULE_TWO + "expect has unknown key(s) kvp_maximum; known: " + ", ".join(EXPECT_KEYS),
        ),
        (
            ('body_part_examined = "CHEST"', 'body_part = "CHEST"'),
            RULE_TWO + "match has unknown key(s) body_part; known: " + ", ".join(MATCH_KEYS),
        ),
        (
            ('name = "Chest CT"', 'name = "Chest CT"\nprotocol = "x"'),
            RULE_TWO + "the rule has unknown key(s) protocol; known: name, severity, match, expect",
        ),
        (
            ("kvp_min = 100", 'kvp_min = "100"'),
            RULE_TWO + "expect.kvp_min must be a number, got '100'",
        ),
        (
            ("kvp_min = 100", "kvp_min = true"),
            RULE_TWO + "expect.kvp_min must be a number, got True",
        ),
        (
            ("kvp_min = 100", "kvp_min = 150"),
            RULE_TWO + "expect.kvp_min 150 is above expect.kvp_max 140",
        ),
        (
            ('body_part_examined = "CHEST"', 'body_part_examined = "CHEST[12"'),
            RULE_TWO + "match.body_part_examined pattern 'CHEST[12' has a '[' without its ']' "
            "(write [[] to match a bracket)",
        ),
        (
            ('body_part_examined = "CHEST"', 'body_part_examined = ""'),
            RULE_TWO + 'match.body_part_examined has an empty pattern; use "*" to match anything',
        ),
        (
            ('body_part_examined = "CHEST"', "body_part_examined = 3"),
            RULE_TWO + "match.body_part_examined must be a text or a list of texts, got 3",
        ),
        (
            ('severity = "warn"', 'severity = "info"'),
            RULE_TWO + "severity must be one of fail, warn, got 'info'",
        ),
        (
            ('orientation = "axial"', 'orientation = "transverse"'),
            RULE_TWO + "expect.orientation must be one of axial, coronal, sagittal, oblique, "
            "got 'transverse'",
        ),
        (
            ("min_slices = 100", "min_slices = 1.5"),
            RULE_TWO + "expect.min_slices must be a whole number of at least 1, got 1.5",
        ),
        (
            ("contrast = false", 'contrast = "no"'),
            RULE_TWO + "expect.contrast must be true or false, got 'no'",
        ),
        (
            ("slice_thickness_max_mm = 1", "slice_thickness_max_mm = -1"),
            RULE_TWO + "expect.slice_thickness_max_mm must be a number of at least 0, got -1",
        ),
        (
            ('name = "Chest CT"', 'name = "ct bone"'),
            "rules.toml: rule 2 ('ct bone'): name is used by an earlier rule; give each rule its "
            "own name",
        ),
        (('name = "Chest CT"', "name = 7"), "rules.toml: rule 2: name must be a non-empty text"),
    ],
)
def test_every_problem_names_the_file_the_rule_and_the_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = SECOND_CARRIES_ALL
    old, new = change
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(PlanError) as raised:
        read_rules(path)
    assert str(raised.value) == message
    assert raised.value.exit_code == 20
    assert "\n" not in str(raised.value)


def test_file_level_problems(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"^rules.toml: the file has unknown key\(s\) rule; "):
        read_rules(_write(tmp_path, '[[rule]]\nname = "x"\n'))
    with pytest.raises(PlanError, match=r"^empty.toml: has no rules: add at least one"):
        read_rules(_write(tmp_path, "# nothing yet\n", "empty.toml"))
    with pytest.raises(PlanError, match=r"^The QC rule file bad.toml is not valid TOML: .*line 2"):
        read_rules(_write(tmp_path, '[[rules]]\nname = "x\n', "bad.toml"))
    with pytest.raises(PlanError, match=r"^Cannot read the QC rule file .*missing.toml: "):
        read_rules(tmp_path / "missing.toml")
    with pytest.raises(PlanError, match=r"rule 1 \('x'\): match must be a table"):
        read_rules(_write(tmp_path, '[[rules]]\nname = "x"\nmatch = "CT"\n'))
