"""One case of a plan: the default plan as ``workstation mesh``, operation lists, outputs."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.services.case_cases import (
    CROSSING,
    LEFT,
    RIGHT,
    available,
    cube_bounds,
    cube_centre,
    cube_voxels,
    phantom,
    write_phantom,
)
from tests.support.cli import run_workstation
from tests.support.dicom_factory import write_series
from workstation.core.case_plan import default_plan, parse_plan
from workstation.core.errors import (
    Cancelled,
    NotAVolumeError,
    PlanError,
    SegmentationError,
    SeriesNotFoundError,
)
from workstation.core.progress import CancelToken
from workstation.io.mesh_export import read_mesh
from workstation.services.case_run import CaseRequest, CaseResult, check_plan, run_case

#: fields of a provenance record that differ between two runs (when, where, which file)
VARYING = {"created", "files", "host", "user"}


def _case(tmp_path: Path, name: str = "case") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def _ops_plan(**extra) -> dict:
    """Two cubes as two segments of an operation list, two models in STL and PLY."""
    document = {
        "name": "Two cubes",
        "segmentation": {
            "segments": [{"name": "Left"}, {"name": "Right"}],
            "operations": [
                {"op": "threshold", "segment": "Left", "lower": 226},
                {"op": "islands", "segment": "Left", "mode": "keep_seed",
                 "seed_lps": cube_centre(LEFT)},
                {"op": "threshold", "segment": "Right", "lower": 226},
                {"op": "islands", "segment": "Right", "mode": "keep_seed",
                 "seed_lps": cube_centre(RIGHT)},
            ],
            "formats": ["seg.nrrd"],
        },
        "models": [
            {"name": "Left cube", "segment": "Left", "formats": ["stl", "ply"],
             "options": {"smooth_iterations": 5, "decimate_fraction": 0.0}},
            {"name": "Right cube", "segment": "Right", "formats": ["stl", "ply"],
             "options": {"smooth_iterations": 0, "decimate_fraction": 0.2}},
        ],
        "dose": {"check": False},
        **extra,
    }  # fmt: skip
    return document


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    return write_phantom(tmp_path_factory.mktemp("cubes") / "dicom")


def test_default_plan_is_workstation_mesh(tmp_path, series):
    """The default plan's bone.stl is the file ``workstation mesh`` writes, byte for byte."""
    plan = available(default_plan())
    check_plan(plan)
    folder = _case(tmp_path)
    result = run_case(plan, CaseRequest("c1", str(series), label="cubes"), folder)
    other = tmp_path / "other"
    other.mkdir()
    done = run_workstation("mesh", str(series), "-o", str(other / "bone.stl"), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (folder / "bone.stl").read_bytes() == (other / "bone.stl").read_bytes()
    mine = json.loads((folder / "bone.provenance.json").read_text())
    theirs = json.loads((other / "bone.provenance.json").read_text())
    assert mine["files"][0]["sha256"] == theirs["files"][0]["sha256"]
    for record in (mine, theirs):
        for source in record["sources"]:
            source.pop("folder")
    assert {k: v for k, v in mine.items() if k not in VARYING} == {
        k: v for k, v in theirs.items() if k not in VARYING
    }
    assert result.status == "done" and result.case_id == "c1"
    assert result.series_uid == summary["series_uid"] and result.stack_id == summary["stack_id"]
    assert {"bone.stl", "bone.provenance.json"} <= set(result.outputs)
    assert result.statistics["models"]["bone"] == summary["statistics"]
    assert {"load", "export", "total"} <= set(result.timings_s)
    # the two cubes: 2 x 14x12x12 mm, bounded by the grey-value surface
    stats = result.statistics["models"]["bone"]
    assert stats["components"] == 2 and stats["watertight"]
    expected = sum((13 + 2 * CROSSING) * (11 + 2 * CROSSING) ** 2 for _ in range(2))
    assert stats["volume_mm3"] == pytest.approx(expected, rel=0.04)
    low, _ = cube_bounds(LEFT, CROSSING)
    _, high = cube_bounds(RIGHT, CROSSING)
    assert np.allclose(stats["bounds_min"], low, atol=0.3)
    assert np.allclose(stats["bounds_max"], high, atol=0.3)


def test_operation_plan_two_models_in_two_formats(tmp_path, series):
    """Each segment's model lies at its cube, in STL and PLY, with one record listing both."""
    plan = parse_plan(_ops_plan(project=True))
    check_plan(plan)
    folder = _case(tmp_path)
    result = run_case(plan, CaseRequest("ops", str(series)), folder)
    expected_files = {
        "Left_cube.stl", "Left_cube.ply", "Left_cube.provenance.json",
        "Right_cube.stl", "Right_cube.ply", "Right_cube.provenance.json",
        "segmentation.seg.nrrd", "case.wsproj",
    }  # fmt: skip
    assert expected_files == set(result.outputs)
    assert {p.name for p in folder.iterdir()} == expected_files  # nothing else, no temporaries
    for stem, cube in (("Left_cube", LEFT), ("Right_cube", RIGHT)):
        stl, ply = read_mesh(folder / f"{stem}.stl"), read_mesh(folder / f"{stem}.ply")
        assert np.allclose(
            np.sort(stl.vertices, axis=0), np.sort(ply.vertices, axis=0), atol=1e-4
        )
        low, high = cube_bounds(cube, 0.5)  # the voxel surface: half a voxel out
        assert np.allclose(stl.vertices.min(axis=0), low, atol=0.35)
        assert np.allclose(stl.vertices.max(axis=0), high, atol=0.35)
        record = json.loads((folder / f"{stem}.provenance.json").read_text())
        assert sorted(entry["name"] for entry in record["files"]) == [f"{stem}.ply", f"{stem}.stl"]
        assert record["segment"]["name"] == stem.split("_")[0]
        name = stem.replace("_", " ")
        statistics = result.statistics["models"][name]
        assert statistics["volume_mm3"] == pytest.approx(cube_voxels(cube), rel=0.06)
    left = json.loads((folder / "Left_cube.provenance.json").read_text())
    assert left["mesh_parameters"]["smooth_iterations"] == 5
    assert left["mesh_parameters"]["decimate_fraction"] == 0.0
    voxels = {item["name"]: item["statistics"]["voxels"] for item in result.statistics["segments"]}
    assert voxels == {"Left": cube_voxels(LEFT), "Right": cube_voxels(RIGHT)}
    assert CaseResult.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert pickle.loads(pickle.dumps(result)) == result
    _check_segmentation_file(folder / "segmentation.seg.nrrd")
    _check_project(folder / "case.wsproj", series)


def _check_segmentation_file(path: Path) -> None:
    from workstation.io.readers import reader_for

    segmentation = reader_for("segmentation", path).read(path)
    truth = phantom() > 226
    masks = {
        item.name: segmentation.layers[item.layer] == item.label
        for item in segmentation.structures
    }
    left = np.zeros_like(truth)
    (s0, s1), (r0, r1), (c0, c1) = LEFT
    left[s0:s1, r0:r1, c0:c1] = True
    assert np.array_equal(masks["Left"], left)
    assert np.array_equal(masks["Right"], truth & ~left)


def _check_project(path: Path, series: Path) -> None:
    from workstation.services.project import open_project

    opened = open_project(path)
    assert [model.name for model in opened.contents.models] == ["Left cube", "Right cube"]
    assert opened.contents.models[0].parameters["smooth_iterations"] == 5
    assert len(opened.contents.provenance) == 2
    assert not opened.read_only and Path(opened.source_root).resolve() == series.resolve()


def test_threshold_plan_with_options_and_segmentation(tmp_path, series):
    """A threshold range with the largest island: one cube, as ``mesh --threshold --largest``."""
    document = {
        "segmentation": {"lower": 500, "largest": True, "formats": ["nrrd"]},
        "models": [{"name": "largest", "formats": ["obj"],
                    "options": {"smooth_iterations": 0, "decimate_fraction": 0.0}}],
    }  # fmt: skip
    plan = available(parse_plan(document))
    folder = _case(tmp_path)
    result = run_case(plan, CaseRequest("t", str(series)), folder)
    stats = result.statistics["models"]["largest"]
    assert stats["components"] == 1
    crossing = (1000 - 500) / (1000 - 40)
    assert stats["volume_mm3"] == pytest.approx(
        (13 + 2 * crossing) * (11 + 2 * crossing) ** 2, rel=0.03
    )
    assert (folder / "largest.obj").is_file() and (folder / "segmentation.nrrd").is_file()
    assert result.statistics["segments"][0]["statistics"]["voxels"] == cube_voxels(LEFT)


def test_unknown_series_and_single_images_are_refused(tmp_path, series):
    with pytest.raises(SeriesNotFoundError, match=r"1\.2\.3\.4"):
        run_case(default_plan(), CaseRequest("x", str(series), "1.2.3.4"), _case(tmp_path))
    pinned = parse_plan({"series": {"series_uid": "1.2.3.5"}})  # the plan names the series
    with pytest.raises(SeriesNotFoundError, match=r"1\.2\.3\.5"):
        run_case(pinned, CaseRequest("x", str(series)), _case(tmp_path, "pinned"))
    single = tmp_path / "single"
    write_series(single, phantom()[10:11])
    with pytest.raises(NotAVolumeError) as caught:
        run_case(default_plan(), CaseRequest("y", str(single)), _case(tmp_path, "other"))
    assert "\n" not in str(caught.value)


def test_cancel_stops_the_case(tmp_path, series):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_case(default_plan(), CaseRequest("c", str(series)), _case(tmp_path), cancel=token)


def test_a_missing_segment_is_one_line(tmp_path, series):
    document = _ops_plan()
    document["models"][0]["segment"] = "Nowhere"
    plan = parse_plan(document)
    with pytest.raises(PlanError) as caught:
        check_plan(plan)
    assert str(caught.value) == (
        "models[0].segment: the operation list makes no segment called 'Nowhere'; "
        "its segments are: 'Left', 'Right'"
    )
    with pytest.raises(SegmentationError) as caught:
        run_case(plan, CaseRequest("m", str(series)), _case(tmp_path))
    assert "Nowhere" in str(caught.value) and "\n" not in str(caught.value)
    renamed = _ops_plan()
    renamed["segmentation"]["operations"].append(
        {"op": "rename_segment", "segment": "Left", "name": "Nowhere"}
    )
    renamed["models"][0]["segment"] = "Nowhere"
    check_plan(parse_plan(renamed))  # the list renames Left to Nowhere: fine


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"segmentation": {"preset": "granite"}}, "segmentation.preset: Unknown preset 'granite'"),
        ({"models": [{"name": "m", "formats": ["dcm"], "ascii": True}]}, "models[0]: a .dcm"),
        (
            {"models": [{"name": "m", "formats": ["dcm"], "options": {"coords": "ras"}}]},
            "drop ascii and coords ras",
        ),
        (
            {"models": [{"name": "Left femur"}, {"name": "Left_femur"}]},
            "models[1].name: 'Left_femur' and 'Left femur' would write the same files",
        ),
        ({"deidentify": {"options": ["retain-everything"]}}, "deidentify.options: Unknown"),
        ({"deidentify": {"keep": True}}, "deidentify has unknown key(s) keep"),
        ({"deidentify": {"keep_images": "yes"}}, "deidentify.keep_images must be true or false"),
        ({"deidentify": {"key": "/nonexistent/k.key"}}, "deidentify.key: Cannot read"),
    ],
)
def test_check_plan_names_the_key(change, message):
    with pytest.raises(PlanError) as caught:
        check_plan(parse_plan(change))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_requests_and_results_travel(tmp_path):
    """Requests and results pickle (Dask ships them) and results round-trip through JSON."""
    request = CaseRequest("a", "/data/study.zip", "1.2.3", "Study A")
    assert pickle.loads(pickle.dumps(request)) == request
    result = CaseResult(
        "a", "done", "1.2.3", "1.2.3", ["bone.stl"], {"load": 1.0},
        {"models": {"bone": {"volume_mm3": 2.0}}, "segments": []}, ["w"],
        {"status": "pass"}, {"study_uid": "9"}, "", "host:1",
    )  # fmt: skip
    assert pickle.loads(pickle.dumps(result)) == result
    text = json.dumps(result.to_json())
    assert CaseResult.from_json({**json.loads(text), "extra": 1}) == result
    plan = parse_plan(_ops_plan())
    assert pickle.loads(pickle.dumps(plan)) == plan


@pytest.mark.slow
def test_sample_study(tmp_path):
    """The bundled sample CT study: the default plan makes one watertight bone model."""
    from workstation.resources_path import sample_study_dir

    folder = _case(tmp_path)
    result = run_case(available(default_plan()), CaseRequest("s", str(sample_study_dir())), folder)
    stats = result.statistics["models"]["bone"]
    assert stats["watertight"] and stats["triangles"] > 100_000
    assert read_mesh(folder / "bone.stl").n_faces == stats["triangles"]
    assert replace(result, timings_s={}).status == "done"


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_deidentified_case_carries_no_identity(tmp_path, series, monkeypatch):
    """With ``deidentify`` the case runs on a de-identified copy: no name, ID or UID leaks."""
    from pydicom import dcmread

    from workstation.io.deid.keys import new_key, write_key
    from workstation.io.deid.uid_map import deidentified_uid

    original = dcmread(next(series.iterdir()), stop_before_pixels=True)
    key_path = tmp_path / "site.key"
    key = new_key()
    write_key(key, key_path)
    document = {"deidentify": {"key": str(key_path), "keep_images": True},
                "segmentation": {"formats": ["seg.nrrd"]}, "project": True}  # fmt: skip
    plan = available(parse_plan(document))
    check_plan(plan)
    folder = _case(tmp_path)
    result = run_case(plan, CaseRequest("d", str(series), original.SeriesInstanceUID), folder)
    assert result.series_uid == deidentified_uid(key, original.SeriesInstanceUID)
    assert "deidentified/" in result.outputs and (folder / "deidentified").is_dir()
    assert not list(folder.glob("*.key")) and not (folder / ".deidentified-work").exists()
    everything = _all_bytes(folder)
    for secret in ("Synthetic^Patient", "SYNTH001", original.StudyInstanceUID,
                   original.SeriesInstanceUID):  # fmt: skip
        assert secret.encode() not in everything, secret
    record = json.loads((folder / "bone.provenance.json").read_text())
    assert record["sources"][0]["series_instance_uid"] == result.series_uid
    assert Path(record["sources"][0]["folder"]).resolve() == (folder / "deidentified").resolve()
    # the project holds the de-identified images: it opens where the case folder moves
    from workstation.services.project import open_project

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    moved = tmp_path / "moved"
    folder.rename(moved)
    opened = open_project(moved / "case.wsproj")
    assert opened.volume.source.identity.series_uid == result.series_uid
    assert opened.volume.source.identity.patient_id not in ("", "SYNTH001")
    assert not opened.read_only
    # the same model as without de-identification: the pixels are untouched
    plain = _case(tmp_path, "plain")
    reference = run_case(available(default_plan()), CaseRequest("p", str(series)), plain)
    assert result.statistics["models"] == reference.statistics["models"]


def test_deidentified_copy_goes_away(tmp_path, series):
    """Without ``keep_images`` the copy and a key made for the case are removed."""
    plan = available(parse_plan({"deidentify": {"options": ["clean-descriptors"]}}))
    folder = _case(tmp_path)
    result = run_case(plan, CaseRequest("d", str(series)), folder)
    expected = ["bone.provenance.json", "bone.stl"] + (["dose.json"] if plan.dose else [])
    assert sorted(p.name for p in folder.iterdir()) == expected
    assert sorted(result.outputs) == expected
    assert b"SYNTH001" not in _all_bytes(folder)
    assert not list(tmp_path.glob("**/*.key"))


RULES = """
[[rules]]
name = "Cube protocol"
[rules.match]
series_description = "*CUBES*"
[rules.expect]
slice_thickness_max_mm = 0.5
ctdivol_max_mgy = 10.0
min_slices = 10
"""


@pytest.fixture(scope="module")
def dosed_series(tmp_path_factory) -> Path:
    """The phantom with CTDIvol 12.5 mGy and 120 kVp on every image."""
    from pydicom import dcmread

    folder = write_phantom(tmp_path_factory.mktemp("dosed") / "dicom")
    for path in folder.iterdir():
        ds = dcmread(path)
        ds.CTDIvol = 12.5
        ds.KVP = 120
        ds.save_as(path, enforce_file_format=True)
    return folder


def test_dose_and_qc(tmp_path, dosed_series):
    """dose.json holds the images' CTDIvol; QC fails the slice thickness and the CTDIvol."""
    pytest.importorskip("workstation.services.dose")
    pytest.importorskip("workstation.services.qc")
    (tmp_path / "rules.toml").write_text(RULES)
    plan = parse_plan({"qc": {"rules": "rules.toml"}}, tmp_path)
    check_plan(plan)
    folder = _case(tmp_path)
    result = run_case(plan, CaseRequest("q", str(dosed_series)), folder)
    dose = json.loads((folder / "dose.json").read_text())
    assert dose == result.dose
    [series] = [item for item in dose["series"] if item["series_uid"] == result.series_uid]
    assert series["ctdivol_mgy"] == pytest.approx(12.5)
    qc = json.loads((folder / "qc.json").read_text())
    assert qc == result.qc and qc["status"] == "fail" and qc["rule"] == "Cube protocol"
    failed = [line for line in result.warnings if line.startswith("QC fail")]
    assert any("12.5" in line for line in failed), failed  # CTDIvol above 10 mGy
    assert any("slice" in line.lower() for line in failed), failed  # 1 mm > 0.5 mm
    assert {"dose.json", "qc.json"} <= set(result.outputs)


def test_check_plan_loads_rules_and_levels(tmp_path):
    pytest.importorskip("workstation.services.qc")
    pytest.importorskip("workstation.services.dose")
    (tmp_path / "rules.toml").write_text("[[rules]]\nname = 1\n")
    (tmp_path / "levels.toml").write_text("not = [toml\n")
    with pytest.raises(PlanError, match=r"^qc\.rules: ") as caught:
        check_plan(parse_plan({"qc": {"rules": "rules.toml"}}, tmp_path))
    assert "\n" not in str(caught.value)
    with pytest.raises(PlanError, match=r"^dose\.reference_levels: ") as caught:
        check_plan(parse_plan({"dose": {"reference_levels": "levels.toml"}}, tmp_path))
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_report(tmp_path, dosed_series):
    """The report in both formats: a PDF and an HTML page naming the plan and the models."""
    pytest.importorskip("workstation.services.case_report")
    document = {"name": "Cube plan", "report": {"formats": ["pdf", "html"]},
                **{k: v for k, v in _ops_plan().items() if k in ("segmentation", "models")}}
    plan = available(parse_plan(document))  # fmt: skip
    folder = _case(tmp_path)
    result = run_case(plan, CaseRequest("r", str(dosed_series), label="Cubes"), folder)
    assert {"report.pdf", "report.html"} <= set(result.outputs)
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "Cube plan" in html and "Left cube" in html and "Right cube" in html
    assert "report" in result.timings_s


def test_dicom_outputs_join_the_study(tmp_path, series):
    """A ``dcm`` model (Encapsulated STL) and a DICOM SEG reference the source study."""
    from pydicom import dcmread

    original = dcmread(next(series.iterdir()), stop_before_pixels=True)
    plan = available(
        parse_plan(
            {
                "segmentation": {"formats": ["dcm"]},
                "models": [{"name": "bone", "formats": ["dcm", "stl"]}],
            }
        )
    )
    check_plan(plan)
    folder = _case(tmp_path)
    result = run_case(plan, CaseRequest("dcm", str(series)), folder)
    model = dcmread(folder / "bone.dcm")
    seg = dcmread(folder / "segmentation.dcm", stop_before_pixels=True)
    assert model.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.3"  # Encapsulated STL
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation
    for derived in (model, seg):
        assert derived.StudyInstanceUID == original.StudyInstanceUID
        assert derived.FrameOfReferenceUID == original.FrameOfReferenceUID
    record = json.loads((folder / "bone.provenance.json").read_text())
    assert sorted(entry["name"] for entry in record["files"]) == ["bone.dcm", "bone.stl"]
    assert {"bone.dcm", "bone.stl", "segmentation.dcm"} <= set(result.outputs)
