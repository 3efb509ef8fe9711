"""The PS3.15 E.1-1 table and our option lists load as documented."""

from __future__ import annotations

import pytest

from workstation.core.errors import DeidentificationError
from workstation.io.deid.actions import operations, resolve
from workstation.io.deid.options import DeidOption
from workstation.io.deid.table import deid_resources, load_table, parse_table


def test_table_has_every_row_of_the_edition() -> None:
    table = load_table()
    assert table.edition == "2026c"
    assert len(table.rules) == 655
    rows = [
        line.split("\t")
        for line in (deid_resources() / "ps3.15-e1-1-2026c.tsv").read_text().splitlines()
        if line and not line.startswith("#") and not line.startswith("tag\t")
    ]
    assert len(rows) == 655
    assert table.action(0x00100010) == "Z"  # Patient's Name
    assert table.action(0x00080018) == "U"  # SOP Instance UID
    assert table.action(0x00081140) == "X/Z/U*"
    assert table.action(0x00280010) is None  # Rows


def test_repeating_group_masks() -> None:
    table = load_table()
    assert table.action(0x50001234) == "X"
    assert table.action(0x501E0010) == "X"  # curve groups 50xx, any element
    assert table.action(0x60023000) == "X"  # overlay data
    assert table.action(0x601E4000) == "X"  # overlay comments
    assert table.action(0x60020010) is None  # overlay rows are not in the table
    assert table.action(0x51000010) is None


def test_compound_actions_resolved_for_the_iod() -> None:
    assert resolve("X/Z", 0x00080022, False) == "X"  # Acquisition Date, Type 3
    assert resolve("Z/D", 0x00080023, False) == "D"  # Content Date, Type 1 in enhanced IODs
    assert resolve("Z/D", 0x00100020, False) == "Z"  # Patient ID, Type 2
    assert resolve("X/Z/D", 0x00080080, False) == "X"  # Institution Name
    assert resolve("X/Z/D", 0x00181000, False) == "X"  # Device Serial Number, plain CT
    assert resolve("X/Z/D", 0x00181000, True) == "D"  # … Type 1 in Enhanced CT
    assert resolve("X/Z/U*", 0x00081140, False) == "U"


def test_options_override_the_table() -> None:
    basic = operations(frozenset(), False)
    assert basic[0x00101010] == "X"  # Patient's Age
    chars = operations(frozenset({DeidOption.RETAIN_PATIENT_CHARACTERISTICS}), False)
    assert chars[0x00101010] == "K" and chars[0x00100043] == "K"
    device = operations(frozenset({DeidOption.RETAIN_DEVICE_IDENTITY}), False)
    assert device[0x00181000] == "K" and device[0x00081010] == "K"
    clean = operations(frozenset({DeidOption.CLEAN_DESCRIPTORS}), False)
    assert clean[0x0008103E] == "C" and basic[0x0008103E] == "X"


def test_damaged_resources_are_refused() -> None:
    good = (deid_resources() / "options.toml").read_text()
    with pytest.raises(DeidentificationError):
        parse_table("# edition 2026c)\n0010,0010\tQ\tPatient's Name\n", good)
    with pytest.raises(DeidentificationError):
        parse_table("# edition 2026c)\n0010,0010\tZ\tx\n", '[clean-descriptors]\nclean=["Nope"]')
    assert load_table().safe_private
