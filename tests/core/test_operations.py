"""Operation records: the schema fills defaults and every malformed value names its index."""

from __future__ import annotations

import json

import pytest

from workstation.core.operations import (
    SCHEMAS,
    OperationError,
    normalise,
    operations_document,
    parse_operations,
    read_operations,
)


def test_defaults_are_filled_and_directions_normalised():
    record = normalise(
        {
            "op": "paint",
            "segment": "Bone",
            "points_lps": [[1, 2, 3]],
            "radius_mm": 2,
            "shape": "disc",
            "plane_normal_lps": [0, 0, 5],
        }
    )
    assert record == {
        "op": "paint",
        "segment": "Bone",
        "points_lps": [[1.0, 2.0, 3.0]],
        "radius_mm": 2.0,
        "shape": "disc",
        "plane_normal_lps": [0.0, 0.0, 1.0],
        "erase": False,
        "intensity_range": None,
    }
    assert normalise({"op": "threshold", "segment": "S", "lower": 300})["upper"] is None


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"op": "paint", "segment": "S", "points_lps": [[1, 2]], "radius_mm": 1}, "points_lps[0]"),
        ({"op": "paint", "segment": "S", "points_lps": [[1, 2, 3]], "radius_mm": -1}, "radius_mm"),
        (
            {
                "op": "paint",
                "segment": "S",
                "points_lps": [[1, 2, 3]],
                "radius_mm": 1,
                "shape": "disc",
            },
            "plane_normal_lps",
        ),
        ({"op": "threshold", "segment": "S", "lower": 5, "upper": 1}, "below lower"),
        ({"op": "threshold", "segment": "S"}, "lower is missing"),
        ({"op": "threshold", "segment": "S", "lower": "high"}, "finite number"),
        ({"op": "threshold", "segment": "S", "lower": 1, "colour": 1}, "unknown field(s) colour"),
        (
            {
                "op": "scissors",
                "segment": "S",
                "polygon_lps": [[0, 0, 0], [1, 0, 0]],
                "direction_lps": [0, 0, 1],
                "mode": "erase_inside",
            },
            "at least 3",
        ),
        (
            {
                "op": "scissors",
                "segment": "S",
                "polygon_lps": [[0, 0, 0], [1, 0, 0], [0, 1, 0]],
                "direction_lps": [0, 0, 0],
                "mode": "erase_inside",
            },
            "non-zero direction",
        ),
        ({"op": "islands", "segment": "S", "mode": "keep_seed"}, "needs seed_lps"),
        ({"op": "islands", "segment": "S", "mode": "remove_small"}, "needs min_mm3"),
        ({"op": "logical", "segment": "S", "other": "S", "operation": "union"}, "two different"),
        ({"op": "add_segment", "name": "S", "color": [255, 0, 0]}, "from 0 to 1"),
        ({"op": "morphology", "segment": "S", "operation": "grow", "radius_mm": 1}, "one of"),
        ({"op": "explode"}, "unknown operation"),
        ("paint", "JSON object"),
    ],
)
def test_malformed_records_name_their_index(raw, words):
    with pytest.raises(OperationError) as caught:
        normalise(raw, 4)
    message = str(caught.value)
    assert message.startswith("operation 4"), message
    assert words in message
    assert "\n" not in message


def test_every_schema_has_an_implementation():
    from workstation.services.segment_ops import implemented_operations

    assert sorted(SCHEMAS) == implemented_operations()


def test_file_forms_and_errors(tmp_path):
    listed = [{"op": "threshold", "segment": "A", "lower": 1}]
    assert parse_operations(listed) == ([], [normalise(listed[0])])
    segments, operations = parse_operations({"segments": [{"name": "A"}], "operations": listed})
    assert segments[0]["op"] == "add_segment" and segments[0]["name"] == "A"
    assert len(operations) == 1
    with pytest.raises(OperationError, match="unknown key"):
        parse_operations({"operation": []})
    with pytest.raises(OperationError, match=r"segments\[0\]"):
        parse_operations({"segments": [{"color": [1, 0, 0]}]})
    bad = tmp_path / "ops.json"
    bad.write_text('{"operations": [', encoding="utf-8")
    with pytest.raises(OperationError, match="is not JSON"):
        read_operations(bad)
    with pytest.raises(OperationError, match="cannot read"):
        read_operations(tmp_path / "missing.json")
    document = operations_document(operations)
    assert json.loads(json.dumps(document)) == {"segments": [], "operations": operations}
