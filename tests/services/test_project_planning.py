"""Planning objects in the session and in projects: tracked, saved, reopened exactly."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.services.project_cases import VIEW, build_case, open_session, write_ct
from workstation.core.errors import ProjectError
from workstation.core.planning import PlanningObject
from workstation.io import project_archive
from workstation.services.project import (
    PROJECT_EXTENSION,
    apply_to_session,
    contents_from_session,
    open_project,
    read_project,
    save_project,
)
from workstation.services.session import Session

GUIDE_PLAN = {
    "bone": {"model": "Bone"},
    "region": {"sphere": {"center_lps": [1.5, -2.25, 40.0], "radius_mm": 12.0}},
    "thickness_mm": 3.0,
    "clearance_mm": 0.25,
    "sleeves": [
        {
            "entry_lps": [1.0, 2.0, 3.0],
            "target_lps": [1.0, 2.0, -7.0],
            "inner_diameter_mm": 2.2,
            "outer_diameter_mm": 5.0,
            "height_mm": 8.0,
        }
    ],
    "slots": [],
}


def _plan_case(session: Session) -> list[PlanningObject]:
    """One object of each kind, with edits a save must keep (floats float32 would round)."""
    planning = session.planning
    planning.add("point", [(12.123456789012, -30.3, 45.7)], name="Nasion")
    planning.add("line", [(0.1, 0.2, 0.3), (10.7, -4.4, 55.5)], name="Drill 1")
    planning.add("plane", [(3.0, 2.0, 1.0)], normal_lps=(1.0, 2.0, 2.0), color=(0.2, 0.4, 0.9))
    planning.update("plane-3", visible=False, name="Osteotomy")
    planning.add("guide", [], plan=GUIDE_PLAN)
    return list(planning.items)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planning")
    write_ct(folder / "dicom")
    session = build_case(open_session(folder / "dicom"))
    objects = _plan_case(session)
    path = save_project(folder / f"case{PROJECT_EXTENSION}", contents_from_session(session, VIEW))
    return {"folder": folder, "session": session, "objects": objects, "path": path}


def test_session_tracks_planning_changes_and_clears_them_with_a_new_volume(tmp_path):
    write_ct(tmp_path / "dicom")
    session = open_session(tmp_path / "dicom")
    assert session.modified is False and len(session.planning) == 0
    seen: list[bool] = []
    session.subscribe("modified", seen.append)
    point = session.planning.add("point", [(1, 2, 3)])
    assert session.modified is True and seen == [True]
    session.set_modified(False)
    session.planning.update(point.object_id, name="Landmark")
    assert session.modified is True
    session.set_modified(False)
    session.planning.remove(point.object_id)
    assert session.modified is True
    session.planning.add("line", [(0, 0, 0), (1, 1, 1)])
    session.set_volume(session.volume, session.stack)  # another volume: a new case
    assert len(session.planning) == 0 and session.modified is False


def test_planning_json_holds_the_records(case):
    with zipfile.ZipFile(case["path"]) as archive:
        records = json.loads(archive.read("planning.json"))
    assert records == [obj.to_dict() for obj in case["objects"]]
    assert [r["kind"] for r in records] == ["point", "line", "plane", "guide"]


def test_read_project_gives_back_the_objects_exactly(case):
    contents = read_project(case["path"])
    assert contents.planning == case["objects"]
    plane = contents.planning[2]
    assert plane.normal_lps == pytest.approx((1 / 3, 2 / 3, 2 / 3), abs=1e-15)
    assert (plane.visible, plane.color, plane.name) == (False, (0.2, 0.4, 0.9), "Osteotomy")
    assert contents.planning[3].plan == GUIDE_PLAN
    # the rest of the case is unaffected by the planning member
    assert contents.view == VIEW
    assert contents.measurements == list(case["session"].measurements.items)


def test_reopening_shows_the_objects_in_the_session(case):
    opened = open_project(case["path"])
    session = Session()
    events: list[str] = []
    session.planning.subscribe("added", lambda obj: events.append(obj.object_id))
    apply_to_session(session, opened)
    assert session.planning.items == case["objects"]
    assert events == [obj.object_id for obj in case["objects"]]
    assert session.modified is False
    # new objects get ids the reopened ones do not have
    fresh = session.planning.add("point", [(0, 0, 0)])
    assert fresh.object_id not in {obj.object_id for obj in case["objects"]}
    # saving again keeps them (save -> reopen -> save gives the same records)
    again = save_project(
        case["folder"] / "again.wsproj", contents_from_session(session, opened.contents.view)
    )
    assert read_project(again).planning == [*case["objects"], fresh]


def _rewrite(path: Path, target: Path, planning: object | None) -> Path:
    """``path`` with another planning.json (None: without one), the manifest's hashes matching."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if planning is None:
        del members["planning.json"]
    else:
        members["planning.json"] = json.dumps(planning).encode()
    manifest = json.loads(members["manifest.json"])
    manifest["members"] = {
        name: {"sha256": project_archive.sha256_hex(data), "size": len(data)}
        for name, data in members.items()
        if name != "manifest.json"
    }
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def test_older_projects_without_planning_objects_still_open(case, tmp_path):
    empty = _rewrite(case["path"], tmp_path / "empty.wsproj", [])
    assert read_project(empty).planning == []
    absent = _rewrite(case["path"], tmp_path / "absent.wsproj", None)
    contents = read_project(absent)
    assert contents.planning == [] and contents.view == VIEW


@pytest.mark.parametrize(
    ("planning", "expected"),
    [
        ({"id": "point-1"}, "is not a JSON list"),
        ([{"id": "p-1", "kind": "spline", "points_lps": []}], "object 0: unknown planning kind"),
        ([{"id": "p-1", "kind": "line", "points_lps": [[0, 0, 0]]}], "object 0: a line needs 2"),
        ([{"kind": "point", "points_lps": [[0, 0, 0]]}], "object 0: planning record lacks"),
        (
            [
                {"id": "p-1", "kind": "point", "points_lps": [[0, 0, 0]]},
                {"id": "p-2", "kind": "plane", "points_lps": [[0, 0, 0]], "normal_lps": [0, 0, 0]},
            ],
            "object 1: a plane's normal must not be zero",
        ),
        (
            [
                {"id": "p-1", "kind": "point", "points_lps": [[0, 0, 0]]},
                {"id": "p-1", "kind": "point", "points_lps": [[1, 0, 0]]},
            ],
            "the id 'p-1' appears twice",
        ),
        (["point"], "object 0: a planning record must be a JSON object"),
    ],
)
def test_malformed_planning_gives_one_line(case, tmp_path, planning, expected):
    bad = _rewrite(case["path"], tmp_path / "bad.wsproj", planning)
    with pytest.raises(ProjectError) as error:
        read_project(bad)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("bad.wsproj is damaged: the member planning.json")
    assert expected in message
