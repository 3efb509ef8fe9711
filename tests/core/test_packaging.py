"""The installed package must contain every subpackage and the bundled sample study."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_subpackage_and_resource_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "workstation").rglob("__init__.py")
    }
    on_disk |= {
        ".".join(("workstation", *folder.relative_to(REPO).parts))
        for folder in [REPO / "resources", *(REPO / "resources").rglob("*")]
        if folder.is_dir() and "__pycache__" not in folder.parts
    }
    missing = on_disk - listed
    assert not missing, f"list these in pyproject.toml [tool.setuptools] packages: {missing}"
    for package in on_disk - {"workstation.resources"}:
        if package.startswith("workstation.resources."):
            assert package in config["package-data"], f"no package-data patterns for {package}"


def test_sample_study_is_bundled_with_attribution() -> None:
    from workstation.resources_path import sample_study_dir

    sample = sample_study_dir()
    files = sorted(sample.glob("*.dcm"))
    assert len(files) == 134
    assert sum(f.stat().st_size for f in files) < 21_000_000
    attribution = (sample.parent / "ATTRIBUTION.md").read_text()
    assert "CC BY 4.0" in attribution and "10.7937/TCIA.ESHQ-4D90" in attribution
