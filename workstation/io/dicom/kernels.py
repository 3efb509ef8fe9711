"""CT reconstruction kernels (Convolution Kernel, 0018,1210): how sharp, in vendors' terms.

A bone model wants a sharp kernel: bone edges stay crisp where a soft-tissue kernel
blurs them over a millimetre or more.  Vendors name kernels differently:

* Siemens: a letter (B body, H head, I/J iterative, U ultra-high resolution...) or a
  letter pair (Br, Hr, Bv, Bl, Qr... on ADMIRE scanners), two digits for the sharpness and
  an optional letter: B30f soft, B50f medium sharp, B60f/B70f/H60s/H70h/Br64/Hr68 bone.
* GE: words: SOFT, STANDARD, STD+, DETAIL, LUNG, BONE, BONEPLUS, EDGE.
* Philips: letters, optionally Y-prefixed: A/B soft, C sharp, D/E bone, L lung; UA-UC
  brain.
* Canon / Toshiba: FC and two digits: FC01-FC28 body and head, FC30-FC39 bone,
  FC50-FC59 lung, FC80-FC89 high-resolution bone (temporal bone, inner ear).
* Others (United Imaging's B_SHARP_C, B_SOFT_B...) say SHARP or SOFT in words.

Multi-valued kernels (Siemens writes "Br64\\3", the second value the iterative strength)
are judged by their first value.
"""

from __future__ import annotations

import re

BONE = "bone"
SHARP = "sharp"
SOFT = "soft-tissue"
UNKNOWN = ""

#: How well each family suits a bone model, higher is better.
FAMILY_RANK = {BONE: 3, SHARP: 2, UNKNOWN: 1, SOFT: 0}

#: Siemens sharpness numbers: 60 and above is a bone kernel, 50 to 59 a sharp one.
SIEMENS_BONE_FROM = 60
SIEMENS_SHARP_FROM = 50
SIEMENS = re.compile(r"[A-Z]{1,2}(\d{2})[A-Z]?")
CANON = re.compile(r"F([CL])(\d{2})")
PHILIPS = re.compile(r"Y?([A-FL])")
PHILIPS_BRAIN = re.compile(r"U[A-C]")
PHILIPS_FAMILIES = {"A": SOFT, "B": SOFT, "C": SHARP, "D": BONE, "E": BONE, "F": BONE, "L": SHARP}

#: Words in kernel names, tried in this order (so "BODY SHARP" is sharp).
WORD_FAMILIES = (
    (BONE, ("BONE", "EDGE")),
    (SHARP, ("SHARP", "LUNG", "DETAIL", "ULTRA", "HIGH RES")),
    (SOFT, ("SOFT", "SMOOTH", "STANDARD", "STD", "BRAIN", "BODY")),
)


def kernel_name(kernel: str) -> str:
    """The first value of a (possibly multi-valued) Convolution Kernel, stripped."""
    return kernel.split("\\", 1)[0].strip()


def _canon_family(number: int) -> str:
    if 30 <= number <= 39 or 80 <= number <= 89:
        return BONE
    if 50 <= number <= 59:
        return SHARP
    return SOFT if number < 30 else UNKNOWN


def kernel_family(kernel: str) -> str:
    """BONE, SHARP, SOFT or UNKNOWN ('') for a Convolution Kernel value."""
    name = kernel_name(kernel).upper()
    canon = CANON.fullmatch(name)
    if canon:  # FL: Canon's lung kernels for deep-learning reconstruction
        return SHARP if canon.group(1) == "L" else _canon_family(int(canon.group(2)))
    siemens = SIEMENS.fullmatch(name)
    if siemens:
        number = int(siemens.group(1))
        if number >= SIEMENS_BONE_FROM:
            return BONE
        return SHARP if number >= SIEMENS_SHARP_FROM else SOFT
    philips = PHILIPS.fullmatch(name)
    if philips:
        return PHILIPS_FAMILIES[philips.group(1)]
    if PHILIPS_BRAIN.fullmatch(name):
        return SOFT
    words = name.replace("_", " ")
    for family, markers in WORD_FAMILIES:
        if any(marker in words for marker in markers):
            return family
    return UNKNOWN


def kernel_rank(kernel: str) -> int:
    """How well a kernel suits a bone model: 3 bone, 2 sharp, 1 unknown, 0 soft-tissue."""
    return FAMILY_RANK[kernel_family(kernel)]


def describe_kernel(kernel: str) -> str:
    """'bone kernel B70f', 'soft-tissue kernel B30f', 'kernel 11'; '' without a kernel."""
    name = kernel_name(kernel)
    if not name:
        return ""
    family = kernel_family(kernel)
    return f"{family} kernel {name}" if family else f"kernel {name}"
