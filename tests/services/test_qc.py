"""Protocol QC of series: each check against a synthetic series with known values, and
the shared collection's real series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from tests.support.dicom_factory import write_enhanced_ct, write_series
from tests.support.shared_data import shared_data_path
from workstation.core.errors import Cancelled
from workstation.core.progress import CancelToken
from workstation.io.dicom.model import Stack
from workstation.io.dicom.scan import scan_path
from workstation.io.qc_rules import parse_rules
from workstation.resources_path import resources_dir
from workstation.services.qc import NO_RULE, RuleSet, check_source, check_stack, load_rules

#: The "CT bone" rule every synthetic series below meets unless a test changes one value.
BONE = {
    "name": "CT bone",
    "match": {"modality": "CT", "series_description": "*BONE*"},
    "expect": {
        "kvp_min": 100,
        "kvp_max": 140,
        "slice_thickness_max_mm": 2.0,
        "reconstruction_kernel": ["B6*", "BONE"],
        "contrast": False,
        "orientation": "axial",
        "ctdivol_max_mgy": 15.0,
        "min_slices": 10,
    },
}
GOOD_TAGS = {"KVP": "120", "ConvolutionKernel": "B60f", "BodyPartExamined": "EXTREMITY"}


def _rules(*rules: dict[str, Any]) -> RuleSet:
    return parse_rules({"rules": list(rules or [BONE])}, where="test rules")


def _series(
    folder: Path,
    n_slices: int = 12,
    step: float = 1.0,
    *,
    tags: dict[str, Any] | None = None,
    thickness: float | None = 1.0,
    description: str = "CT BONE 1.0",
    **kwargs: Any,
) -> Path:
    """A small series with ``tags`` set (None deletes) in every file."""
    paths = write_series(
        folder,
        np.zeros((n_slices, 8, 8), dtype=np.int16),
        slice_step=step,
        series_description=description,
        **kwargs,
    )
    values = {**GOOD_TAGS, **(tags or {}), "SliceThickness": thickness}
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword, value in values.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(path)
    return folder


def _stack(folder: Path) -> Stack:
    (stack,) = scan_path(folder, workers=1).stacks
    return stack


def test_a_series_that_meets_every_expectation_passes(tmp_path: Path) -> None:
    qc = check_stack(_stack(_series(tmp_path)), _rules(), ctdivol_mgy=12.5)
    assert (qc.status, qc.rule, qc.reasons()) == ("pass", "CT bone", [])
    facts = qc.facts
    assert facts is not None
    assert (facts.kvp, facts.reconstruction_kernel, facts.orientation) == (120.0, "B60f", "axial")
    assert (facts.n_slices, facts.slice_thickness_mm, facts.contrast) == (12, 1.0, False)
    assert facts.slice_spacing_mm == pytest.approx(1.0)
    record = qc.to_json()
    assert record["status"] == "pass" and record["facts"]["ctdivol_mgy"] == 12.5


def test_each_unmet_expectation_fails_with_expected_and_found(tmp_path: Path) -> None:
    folder = _series(
        tmp_path,
        n_slices=6,
        step=3.0,
        thickness=1.0,
        tags={"KVP": "80", "ConvolutionKernel": "B30f", "ContrastBolusAgent": "OMNIPAQUE 350"},
    )
    qc = check_stack(_stack(folder), _rules(), ctdivol_mgy=22.0)
    assert qc.status == "fail"
    assert qc.reasons() == [
        "kVp 80, expected 100 to 140",
        # The tag says 1 mm, the slices are 3 mm apart: both numbers are given.
        "Slice Thickness 1.0 mm, slices up to 3.0 mm apart; expected at most 2.0 mm",
        "reconstruction kernel B30f, expected B6*, BONE",
        "contrast agent OMNIPAQUE 350 recorded, expected none",
        "CTDIvol 22.00 mGy, expected at most 15 mGy",
        "6 slices, expected at least 10",
    ]
    assert {finding.status for finding in qc.findings} == {"fail"}
    kvp = qc.findings[0]
    assert (kvp.check, kvp.expected, kvp.found) == ("kvp", "100 to 140", "80")


def test_a_thick_tag_fails_even_when_the_slices_are_close(tmp_path: Path) -> None:
    qc = check_stack(_stack(_series(tmp_path, thickness=3.0)), _rules(), ctdivol_mgy=5.0)
    assert qc.reasons() == [
        "Slice Thickness 3.0 mm, slices up to 1.0 mm apart; expected at most 2.0 mm"
    ]


def test_values_the_images_do_not_record_warn_and_never_pass(tmp_path: Path) -> None:
    folder = _series(tmp_path, thickness=None, tags={"KVP": None, "ConvolutionKernel": None})
    qc = check_stack(_stack(folder), _rules())
    assert qc.status == "warn"
    assert qc.reasons() == [
        "kVp not recorded",
        "Slice Thickness not recorded, slices up to 1.0 mm apart; expected at most 2.0 mm",
        "reconstruction kernel not recorded",
        "CTDIvol not recorded",
    ]
    assert {finding.found for finding in qc.findings} == {"not recorded"}


def test_a_missing_value_still_fails_what_is_known(tmp_path: Path) -> None:
    folder = _series(tmp_path, n_slices=4, step=2.5, thickness=None)
    qc = check_stack(_stack(folder), _rules(), ctdivol_mgy=1.0)
    assert qc.status == "fail"
    assert qc.reasons() == [
        "Slice Thickness not recorded, slices up to 2.5 mm apart; expected at most 2.0 mm",
        "4 slices, expected at least 10",
    ]


def test_a_warn_rule_warns_where_a_fail_rule_fails(tmp_path: Path) -> None:
    folder = _series(tmp_path, tags={"KVP": "150"})
    rules = _rules({**BONE, "severity": "warn"})
    qc = check_stack(_stack(folder), rules, ctdivol_mgy=1.0)
    assert (qc.status, qc.reasons()) == ("warn", ["kVp 150, expected 100 to 140"])


def test_a_series_no_rule_matches_warns(tmp_path: Path) -> None:
    qc = check_stack(_stack(_series(tmp_path, description="CT CHEST")), _rules())
    assert (qc.status, qc.rule, qc.reasons()) == ("warn", None, [NO_RULE])


def test_the_first_matching_rule_applies_and_match_keys_come_from_the_header(
    tmp_path: Path,
) -> None:
    folder = _series(tmp_path, tags={"ProtocolName": "Knee 0.6 mm", "BodyPartExamined": "KNEE"})
    knee = {
        "name": "Knee",
        "match": {"protocol_name": "knee*", "body_part_examined": "KNEE", "modality": "CT"},
        "expect": {"kvp_max": 100},
    }
    qc = check_stack(_stack(folder), _rules(knee, BONE))
    assert (qc.rule, qc.reasons()) == ("Knee", ["kVp 120, expected at most 100"])
    elsewhere = {**knee, "name": "Hip", "match": {"body_part_examined": "HIP"}}
    assert check_stack(_stack(folder), _rules(elsewhere, BONE), ctdivol_mgy=1.0).rule == "CT bone"


def test_orientation_from_the_image_planes(tmp_path: Path) -> None:
    folder = _series(tmp_path, row_cosine=(0.0, 1.0, 0.0), col_cosine=(0.0, 0.0, -1.0))
    qc = check_stack(_stack(folder), _rules(), ctdivol_mgy=1.0)
    assert qc.reasons() == ["orientation sagittal, expected axial"]


def test_contrast_recorded_even_when_de_identification_emptied_the_agent(tmp_path: Path) -> None:
    contrast = {**BONE, "expect": {"contrast": True}}
    emptied = _series(tmp_path / "emptied", tags={"ContrastBolusAgent": ""})
    assert check_stack(_stack(emptied), _rules(contrast)).status == "pass"
    assert check_stack(_stack(emptied), _rules()).reasons()[0] == "contrast recorded, expected none"
    plain = _series(tmp_path / "plain")
    assert check_stack(_stack(plain), _rules(contrast)).reasons() == [
        "no contrast agent recorded, expected contrast"
    ]


def _enhanced(path: Path, *, functional_groups: bool) -> Path:
    write_enhanced_ct(path, np.zeros((12, 8, 8), dtype=np.int16), series_description="BONE")
    ds = pydicom.dcmread(path)
    if functional_groups:
        details, reconstruction = Dataset(), Dataset()
        details.KVP = "100"
        reconstruction.ConvolutionKernel = "BONE"
        shared = ds.SharedFunctionalGroupsSequence[0]
        shared.CTXRayDetailsSequence = DicomSequence([details])
        shared.CTReconstructionSequence = DicomSequence([reconstruction])
        usage = Dataset()
        usage.ContrastBolusAgentNumber = 1
        usage.ContrastBolusAgentAdministered = "YES"
        ds.PerFrameFunctionalGroupsSequence[0].ContrastBolusUsageSequence = DicomSequence([usage])
    ds.save_as(path)
    return path


def test_enhanced_ct_values_come_from_the_functional_groups(tmp_path: Path) -> None:
    grouped = _enhanced(tmp_path / "grouped" / "ct.dcm", functional_groups=True)
    qc = check_stack(_stack(grouped.parent), _rules(), ctdivol_mgy=1.0)
    assert qc.facts is not None
    assert (qc.facts.kvp, qc.facts.reconstruction_kernel) == (100.0, "BONE")
    assert qc.reasons() == ["contrast recorded, expected none"]
    bare = _enhanced(tmp_path / "bare" / "ct.dcm", functional_groups=False)
    assert check_stack(_stack(bare.parent), _rules(), ctdivol_mgy=1.0).reasons() == [
        "kVp not recorded",
        "reconstruction kernel not recorded",
    ]


def test_check_source_lists_every_series_and_can_be_cancelled(tmp_path: Path) -> None:
    _series(tmp_path / "a", series_number=1)
    _series(tmp_path / "b", description="MR T1", modality="MR", series_number=2)
    rules = _rules(BONE, {"name": "MR", "match": {"modality": "MR"}})
    results = check_source(tmp_path, rules)
    assert sorted((item.rule, item.description) for item in results) == [
        ("CT bone", "CT BONE 1.0"),
        ("MR", "MR T1"),
    ]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        check_source(tmp_path, rules, cancel=token)


def test_check_source_reads_ctdivol_from_the_dose_records(tmp_path: Path) -> None:
    pytest.importorskip("workstation.services.dose")
    _series(tmp_path, tags={"CTDIvol": 22.5})
    (qc,) = check_source(tmp_path, _rules())
    assert qc.facts is not None and qc.facts.ctdivol_mgy == pytest.approx(22.5)
    assert qc.reasons() == ["CTDIvol 22.50 mGy, expected at most 15 mGy"]


# -- the shared collection ---------------------------------------------------------------
def _example() -> RuleSet:
    return load_rules(resources_dir() / "qc" / "example-rules.toml")


def test_pancreas_ct_fails_a_thin_slice_rule_with_its_3_mm() -> None:
    source = shared_data_path("ct_abdomen_tcia_pancreas")
    thin = {"name": "Thin", "match": {"modality": "CT"}, "expect": {"slice_thickness_max_mm": 1}}
    (qc,) = check_source(source, _rules(thin))
    assert (qc.status, qc.rule) == ("fail", "Thin")
    assert qc.reasons() == [
        "Slice Thickness 3.0 mm, slices up to 3.0 mm apart; expected at most 1.0 mm"
    ]
    # The bundled example: Body Part Examined says CHEST, so the chest rule applies.
    (example,) = check_source(source, _example())
    assert example.rule == "CT chest"
    assert example.facts is not None
    assert (example.facts.kvp, example.facts.n_slices) == (120.0, 134)
    assert example.reasons()[0] == (
        "Slice Thickness 3.0 mm, slices up to 3.0 mm apart; expected at most 2.0 mm"
    )


def test_tilted_head_ct_reports_its_largest_real_slice_spacing() -> None:
    source = shared_data_path("ct_head_ge_gantry_tilt_dcmqa")
    (qc,) = check_source(source, _example())
    assert qc.rule == "CT head"
    assert qc.facts is not None
    # Steps along the normal are 1.08, 4 and 7 mm: the largest is reported.
    assert qc.facts.slice_spacing_mm == pytest.approx(7.0, abs=0.01)
    assert qc.facts.orientation == "oblique"  # 18.5 degrees of gantry tilt
    assert qc.reasons()[0] == (
        "Slice Thickness 7.0 mm, slices up to 7.0 mm apart; expected at most 5.0 mm"
    )
    assert qc.status == "fail"


def test_mr_series_match_by_modality_and_miss_the_ct_rules() -> None:
    source = shared_data_path("mr_sag_t1_hfp_dcmqa_decubitus")
    (ct_only,) = check_source(source, _example())
    assert (ct_only.status, ct_only.reasons()) == ("warn", [NO_RULE])
    mr = {
        "name": "MR brain",
        "match": {"modality": "MR", "body_part_examined": "BRAIN"},
        "expect": {"orientation": "axial", "slice_thickness_max_mm": 5, "kvp_min": 1},
    }
    (qc,) = check_source(source, _rules(mr))
    assert qc.rule == "MR brain"
    assert qc.reasons() == [
        "kVp not recorded",
        "orientation sagittal, expected axial",
    ]
    assert qc.status == "fail"


def test_a_loaded_volume_gives_the_orientation_of_the_planes_it_was_built_on(
    tmp_path: Path,
) -> None:
    from workstation.io.dicom.load import load_stack

    folder = _series(tmp_path, row_cosine=(1.0, 0.0, 0.0), col_cosine=(0.0, 0.0, -1.0))
    stack = _stack(folder)
    volume = load_stack(stack)
    qc = check_stack(stack, _rules(), ctdivol_mgy=1.0, volume=volume)
    assert volume.orientation == "coronal"
    assert qc.reasons() == ["orientation coronal, expected axial"]


def test_enhanced_mr_counts_slice_positions_not_frames() -> None:
    source = shared_data_path("enhanced_mr_dcmqa_enh")
    mr = {"name": "MR", "match": {"modality": "MR"}, "expect": {"min_slices": 10}}
    results = {item.description: item for item in check_source(source, _rules(mr))}
    # Siemens XA10: 4 time points x 6 slices; Philips: 32 slices (magnitude and field map).
    fmri, field_map = results["REST1 w SMS PF7-8"], results["B0 NS"]
    assert (fmri.status, fmri.reasons()) == ("fail", ["6 slices, expected at least 10"])
    assert field_map.facts is not None and field_map.facts.n_slices == 32
    assert (field_map.status, field_map.facts.slice_thickness_mm) == ("pass", 4.0)


def test_a_zip_is_checked_as_its_folder(tmp_path: Path) -> None:
    import zipfile

    pytest.importorskip("workstation.services.dose")
    folder = _series(tmp_path / "series", tags={"KVP": "90", "CTDIvol": 19.0})
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, f"CT/{path.name}")
    from_folder = check_source(folder, _rules())
    from_zip = check_source(archive, _rules())
    assert [item.reasons() for item in from_zip] == [item.reasons() for item in from_folder]
    assert from_zip[0].reasons() == [
        "kVp 90, expected 100 to 140",
        "CTDIvol 19.00 mGy, expected at most 15 mGy",
    ]
