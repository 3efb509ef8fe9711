"""Convolution kernels of the big CT vendors sort into bone, sharp and soft-tissue families."""

from __future__ import annotations

import pytest

from workstation.io.dicom.kernels import (
    BONE,
    SHARP,
    SOFT,
    UNKNOWN,
    describe_kernel,
    kernel_family,
    kernel_rank,
)

FAMILIES = {
    # Siemens: sharpness number, with the ADMIRE two-letter names and iterative strength
    "B70f": BONE, "B60f": BONE, "H70h": BONE, "H60s": BONE, "Br64": BONE, "Hr68": BONE,
    "Br64\\3": BONE, "I70f": BONE, "U90u": BONE, "B70F": BONE,
    "B50f": SHARP, "Bl57": SHARP,
    "B30f": SOFT, "B31s": SOFT, "H30s": SOFT, "Br40d\\3": SOFT, "Qr40": SOFT,
    # GE
    "BONE": BONE, "BONEPLUS": BONE, "EDGE": BONE,
    "LUNG": SHARP, "DETAIL": SHARP,
    "STANDARD": SOFT, "SOFT": SOFT, "STD+": SOFT,
    # Philips
    "D": BONE, "YD": BONE, "E": BONE, "C": SHARP, "L": SHARP, "A": SOFT, "B": SOFT, "UB": SOFT,
    # Canon / Toshiba
    "FC30": BONE, "FC35": BONE, "FC80": BONE, "FC52": SHARP, "FL03": SHARP,
    "FC08": SOFT, "FC13": SOFT, "FC26": SOFT,
    # words of other vendors
    "B_SHARP_C": SHARP, "Body Sharp": SHARP, "B_SOFT_B": SOFT,
    # no telling
    "11": UNKNOWN, "CHEST": UNKNOWN, "": UNKNOWN,
}  # fmt: skip


@pytest.mark.parametrize(("kernel", "family"), FAMILIES.items())
def test_kernel_family(kernel: str, family: str) -> None:
    assert kernel_family(kernel) == family


def test_bone_beats_sharp_beats_unknown_beats_soft() -> None:
    assert kernel_rank("B70f") > kernel_rank("LUNG") > kernel_rank("11") > kernel_rank("B30f")


def test_description_names_the_family_and_the_first_value() -> None:
    assert describe_kernel("B70f") == "bone kernel B70f"
    assert describe_kernel("Br40d\\3") == "soft-tissue kernel Br40d"
    assert describe_kernel("11") == "kernel 11"
    assert describe_kernel("") == ""
