"""Preferences: defaults, stored values read back safely, and the read-outs they ask for."""

from __future__ import annotations

from workstation.core.preferences import (
    Preferences,
    position_text,
    preferences_from_mapping,
    preferences_to_mapping,
    volume_text,
)

POINT = (-12.5, -40.0, 3.0)  # LPS: 12.5 mm right, 40 mm anterior, 3 mm superior


def test_stored_values_round_trip_and_bad_ones_fall_back():
    chosen = Preferences("/data/out", ".3mf", "ras", "signed", "cm", "mm³", "dark")
    assert preferences_from_mapping(preferences_to_mapping(chosen)) == chosen
    broken = {"theme": "purple", "coordinates": 3, "export_format": "stl", "unknown": "x"}
    assert preferences_from_mapping(broken) == Preferences()


def test_positions_by_patient_side_and_as_signed_coordinates():
    assert position_text(POINT, Preferences()) == "R 12.5  A 40.0  S 3.0 mm"
    assert position_text(POINT, Preferences(length_unit="cm")) == "R 1.25  A 4.00  S 0.30 cm"
    signed = Preferences(position_style="signed")
    assert position_text(POINT, signed) == "LPS (-12.5, -40.0, 3.0) mm"
    ras = Preferences(position_style="signed", coordinates="ras")
    assert position_text(POINT, ras) == "RAS (12.5, 40.0, 3.0) mm"


def test_volumes_in_the_chosen_unit():
    assert volume_text(1_755_690.0, Preferences()) == "1,755.69"
    assert volume_text(1_755_690.0, Preferences(volume_unit="mm³")) == "1,755,690"
