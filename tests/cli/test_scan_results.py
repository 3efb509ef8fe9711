"""`workstation scan` lists DICOM SEG and Encapsulated STL files as results of their series."""

from __future__ import annotations

import json

from tests.io.dicom_seg_cases import series_case, two_segments
from tests.io.test_derived_scan import write_stl_object
from tests.support.cli import run_workstation
from workstation.io.dicom_seg import write_dicom_seg

POSITIONS = [(0.0, 0.0, 2.0 * i) for i in range(8)]


def _study(tmp_path):
    case = series_case(tmp_path / "study" / "images", POSITIONS)
    seg = write_dicom_seg(two_segments(case.volume), tmp_path / "study" / "seg.dcm", case.source)
    stl_uid = write_stl_object(tmp_path / "study" / "model.dcm", case, title="Skull")
    return case, seg, stl_uid


def test_scan_json_lists_the_results_with_their_series(tmp_path):
    case, seg, stl_uid = _study(tmp_path)
    done = run_workstation("scan", str(tmp_path / "study"), "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    results = {item["kind"]: item for item in record["results"]}
    assert set(results) == {"seg", "stl"}
    assert results["seg"]["path"] == str(seg)
    assert results["seg"]["label"] == "Mandible bone, Lesion"
    assert results["seg"]["referenced_series_uids"] == [case.series_uid]
    assert results["seg"]["frame_of_reference_uid"] == case.frame_uid
    assert results["stl"]["sop_instance_uid"] == stl_uid
    assert results["stl"]["label"] == "Skull"
    assert record["skipped"] == []  # results are neither stacks nor skipped files
    assert [series["series_uid"] for series in record["series"]] == [case.series_uid]


def test_scan_table_has_one_line_per_result(tmp_path):
    case, _, _ = _study(tmp_path)
    done = run_workstation("scan", str(tmp_path / "study"))
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("result: ")]
    assert sorted(lines) == sorted(
        [
            f'result: DICOM SEG "Mandible bone, Lesion" on series {case.series_uid} '
            f"({tmp_path / 'study' / 'seg.dcm'})",
            f'result: Encapsulated STL "Skull" on series {case.series_uid} '
            f"({tmp_path / 'study' / 'model.dcm'})",
        ]
    )
