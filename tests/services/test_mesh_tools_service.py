"""services.mesh_tools: parameters, operation records, session models and projects carry them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tests.processing.guides.tool_shapes import box, sphere
from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.services.mesh_tools import (
    TOOLS,
    add_results_to_session,
    mesh_sha256,
    move_model,
    run_mesh_tool,
)
from workstation.services.session import Session


def _digest(mesh: Mesh) -> str:
    points = mesh.vertices.astype("<f8").tobytes()
    triangles = mesh.faces.astype("<i8").tobytes()
    return hashlib.sha256(points + triangles).hexdigest()


def test_tools_are_the_documented_ones() -> None:
    assert TOOLS == ("cut", "boolean", "offset", "hollow", "mirror", "transform")


def test_cut_record_names_tool_parameters_and_input_hash() -> None:
    block = box((0, 0, 0), (10, 10, 10), name="Block")
    result = run_mesh_tool(
        "cut", [block], {"planes": [{"point_lps": [4, 0, 0], "normal_lps": [2, 0, 0]}]}
    )
    assert result.operation == {
        "tool": "cut",
        "parameters": {"planes": [{"point_lps": [4.0, 0.0, 0.0], "normal_lps": [1.0, 0.0, 0.0]}]},
        "inputs": [{"name": "Block", "sha256": _digest(block)}],
    }
    assert mesh_sha256(block) == _digest(block)
    assert sorted(m.signed_volume() for m in result.meshes) == pytest.approx([400.0, 600.0])
    assert all(check.ok for check in result.checks) and result.warnings == []
    assert [piece["sides"] for piece in result.details["pieces"]] == [["+"], ["-"]]
    assert result.to_dict()["results"][0]["watertight"] is True


def test_boolean_offset_hollow_mirror_transform_run() -> None:
    a = box((0, 0, 0), (10, 10, 10), name="A")
    b = box((5, 5, 5), (15, 15, 15), name="B")
    union = run_mesh_tool("boolean", [a, b], {"operation": "union"})
    assert union.meshes[0].signed_volume() == pytest.approx(2000 - 125)
    assert [item["name"] for item in union.operation["inputs"]] == ["A", "B"]

    ball = sphere(10.0, subdivisions=4)
    grown = run_mesh_tool("offset", [ball], {"distance_mm": 1.0, "spacing_mm": 0.5})
    radius = (3 * grown.meshes[0].signed_volume() / (4 * np.pi)) ** (1 / 3)
    assert radius == pytest.approx(11.0, abs=0.1)
    assert grown.checks[0].ok

    hollowed = run_mesh_tool(
        "hollow",
        [ball],
        {
            "wall_mm": 2.0,
            "spacing_mm": 0.5,
            "drain_holes": [
                {"point_lps": [0, 0, 10], "direction_lps": [0, 0, -3], "diameter_mm": 3.0}
            ],
        },
    )
    assert hollowed.details["drain_holes"][0]["opens"] is True
    assert hollowed.operation["parameters"]["drain_holes"][0]["direction_lps"] == [0.0, 0.0, -1.0]
    assert hollowed.checks[0].ok

    mirrored = run_mesh_tool("mirror", [a], {"point_lps": [20, 0, 0], "normal_lps": [1, 0, 0]})
    low, high = mirrored.meshes[0].bounds()
    assert low == pytest.approx([30, 0, 0]) and high == pytest.approx([40, 10, 10])
    assert mirrored.checks[0].ok

    matrix = np.eye(4)
    matrix[:3, 3] = (1.0, 2.0, 3.0)
    moved = run_mesh_tool("transform", [a, b], {"matrix": matrix.tolist()})
    assert len(moved.meshes) == 2
    assert np.array_equal(moved.meshes[1].vertices, b.vertices + np.array([1.0, 2.0, 3.0]))
    assert moved.operation["parameters"]["matrix"] == matrix.tolist()


@pytest.mark.parametrize(
    ("tool", "parameters", "message"),
    [
        ("carve", {}, "Unknown mesh tool 'carve'"),
        ("cut", {}, "cut: missing parameter"),
        ("cut", {"planes": []}, "one or more planes"),
        ("cut", {"planes": [{"point_lps": [0, 0, 0]}]}, "a plane is"),
        ("cut", {"planes": [{"point_lps": [0, 0], "normal_lps": [0, 0, 1]}]}, "three numbers"),
        ("cut", {"planes": [{"point_lps": [0, 0, 0], "normal_lps": [0, 0, 0]}]}, "not be zero"),
        ("boolean", {"operation": "xor"}, "must be one of union"),
        ("offset", {"distance_mm": 0}, "non-zero"),
        ("offset", {"distance_mm": 1, "spacing_mm": -1}, "'spacing_mm' must be positive"),
        ("offset", {"distance_mm": 1, "radius": 2}, "unknown parameter"),
        ("hollow", {"wall_mm": -1}, "'wall_mm' must be positive"),
        ("hollow", {"wall_mm": 1, "drain_holes": [{"point_lps": [0, 0, 0]}]}, "drain hole 1"),
        ("mirror", {"point_lps": [0, 0, 0], "normal_lps": "up"}, "three numbers"),
        ("transform", {"matrix": np.diag([1, 1, 2, 1]).tolist()}, "not rigid"),
    ],
)
def test_bad_parameters_are_one_clear_line(tool, parameters, message) -> None:
    with pytest.raises(MeshToolError, match=message) as raised:
        run_mesh_tool(tool, [box((0, 0, 0), (1, 1, 1))], parameters)
    assert "\n" not in str(raised.value)


def test_open_input_gives_its_reason_and_mirror_of_open_warns() -> None:
    closed = box((0, 0, 0), (1, 1, 1), name="Shell")
    shell = Mesh(closed.vertices, closed.faces[:-2], name="Shell")
    with pytest.raises(MeshToolError, match="'Shell' is not a closed solid: open edges: 4"):
        run_mesh_tool("offset", [shell], {"distance_mm": 1.0})
    with pytest.raises(MeshToolError, match="one model at a time"):
        run_mesh_tool(
            "cut",
            [closed, closed],
            {"planes": [{"point_lps": [0, 0, 0.5], "normal_lps": [0, 0, 1]}]},
        )
    result = run_mesh_tool("mirror", [shell], {"point_lps": [0, 0, 0], "normal_lps": [1, 0, 0]})
    assert not result.checks[0].ok
    assert result.warnings == ["'Shell mirrored' is not a closed solid: open edges: 4"]


def _session_with_model() -> tuple[Session, str]:
    session = Session()
    entry = session.add_model(
        box((0, 0, 0), (10, 10, 10), name="Bone"),
        name="Bone",
        color=(0.1, 0.2, 0.3),
        segment_id="segment-1",
        parameters={"smooth_iterations": 5},
        operations=[{"op": "add_segment", "name": "Bone"}],
    )
    return session, entry.model_id


def test_results_become_models_with_the_operation_as_parameters() -> None:
    session, model_id = _session_with_model()
    result = run_mesh_tool(
        "cut",
        [session.models[model_id].mesh],
        {"planes": [{"point_lps": [0, 0, 3], "normal_lps": [0, 0, 1]}]},
    )
    added = add_results_to_session(session, result, [model_id], ["Bone top", "Bone bottom"])
    assert [entry.name for entry in added] == ["Bone top", "Bone bottom"]
    assert len(session.models) == 3 and session.modified
    for entry in added:
        assert entry.parameters["tool"] == "cut"
        assert entry.parameters["inputs"] == result.operation["inputs"]
        assert entry.parameters["parameters"] == result.operation["parameters"]
        assert entry.parameters["source_models"] == [
            {"model_id": model_id, "name": "Bone", "parameters": {"smooth_iterations": 5}}
        ]
        assert entry.segment_id == "segment-1" and entry.color == (0.1, 0.2, 0.3)
        assert entry.operations == [{"op": "add_segment", "name": "Bone"}]
        assert entry.statistics["watertight"] is True
    assert added[0].statistics["volume_mm3"] == pytest.approx(700.0)
    assert added[0].parameters["piece"] == {"name": "Bone top", "sides": ["+"]}


def test_move_model_transforms_in_place_and_records_it() -> None:
    session, model_id = _session_with_model()
    events = []
    session.subscribe("model_changed", events.append)
    before = session.models[model_id].mesh.vertices.copy()
    first = np.eye(4)
    first[:3, 3] = (5.0, 0.0, 0.0)
    from workstation.processing.guides.rigid_transform import rotation_matrix

    second = rotation_matrix("S", 90.0)
    move_model(session, model_id, first)
    entry = move_model(session, model_id, second)
    expected = before + np.array([5.0, 0.0, 0.0])
    expected = np.column_stack([-expected[:, 1], expected[:, 0], expected[:, 2]])
    assert np.abs(entry.mesh.vertices - expected).max() < 1e-12
    assert [t["matrix"] for t in entry.parameters["transforms"]] == [
        first.tolist(),
        second.tolist(),
    ]
    assert entry.parameters["smooth_iterations"] == 5  # what made it is kept
    assert entry.statistics["bounds_min"] == pytest.approx([-10.0, 5.0, 0.0])
    assert len(events) == 2 and session.modified
    with pytest.raises(MeshToolError, match="mirrors"):
        move_model(session, model_id, np.diag([1.0, -1.0, 1.0, 1.0]))
    assert len(entry.parameters["transforms"]) == 2  # a refused matrix changes nothing


def test_project_keeps_the_operation_record(tmp_path) -> None:
    from tests.services.project_cases import build_case, open_session, write_ct
    from workstation.services.project import contents_from_session, read_project, save_project

    write_ct(tmp_path / "ct")
    session = build_case(open_session(tmp_path / "ct"))
    bone = next(e for e in session.models.values() if e.name == "Bone")
    result = run_mesh_tool("mirror", [bone.mesh], {"point_lps": [0, 0, 0], "normal_lps": [1, 0, 0]})
    (mirrored,) = add_results_to_session(session, result, [bone.model_id], ["Bone mirrored"])
    move_model(session, mirrored.model_id, np.eye(4))
    path = save_project(tmp_path / "case.wsproj", contents_from_session(session))
    saved = next(m for m in read_project(path).models if m.name == "Bone mirrored")
    assert saved.parameters["tool"] == "mirror"
    assert saved.parameters["inputs"] == [{"name": "Bone", "sha256": mesh_sha256(bone.mesh)}]
    assert saved.parameters["transforms"][0]["matrix"] == np.eye(4).tolist()
