"""Locate bundled resources (sample study, presets, icons) in a checkout or an install."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resources_dir() -> Path:
    """The folder holding the bundled resources."""
    checkout = Path(__file__).resolve().parent.parent / "resources"
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("workstation.resources")))


def sample_study_dir() -> Path:
    """The bundled sample CT study opened on first run."""
    return resources_dir() / "sample" / "dicom"
