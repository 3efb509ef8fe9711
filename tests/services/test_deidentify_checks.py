"""De-identification refusals, keys, permission and cancellation: nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from tests.services.deid_cases import write_case
from workstation.core.errors import Cancelled, DeidentificationError, PermissionDenied
from workstation.core.progress import CancelToken
from workstation.core.user_dirs import policy_file
from workstation.io.deid.keys import new_key, write_key
from workstation.io.deid.options import DEFAULT_OPTIONS
from workstation.services.deidentify import default_key_path, deidentify_path


def _run(source: Path, output: Path, key: Path | None = None, **kwargs):
    return deidentify_path(source, output, key_file=key, options=DEFAULT_OPTIONS, **kwargs)


@pytest.fixture
def case(tmp_path: Path):
    return write_case(tmp_path / "in", size=16, slices=4)


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize(
    "where, words",
    [
        (lambda root, tmp: root / "sub" / "out", "inside the input"),
        (lambda root, tmp: root.parent, "is inside the output folder"),
        (lambda root, tmp: root / "Janette_Doeish" / "notes.txt", "is a file"),
    ],
)
def test_overlapping_or_file_output_is_refused_before_writing(case, tmp_path, where, words):
    before = _files(tmp_path)
    target = where(case.root, tmp_path)
    with pytest.raises(DeidentificationError, match=words):
        _run(case.root, target)
    assert _files(tmp_path) == before
    assert not default_key_path(target).exists()


def test_foreign_or_other_key_output_is_refused(case, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("x")
    with pytest.raises(DeidentificationError, match="not empty"):
        _run(case.root, foreign)
    assert _files(foreign) == [foreign / "mine.txt"]
    out = tmp_path / "out"
    _run(case.root, out)
    other = tmp_path / "other.key"
    write_key(new_key(), other)
    count = len(_files(out))
    with pytest.raises(DeidentificationError, match="another key"):
        _run(case.root, out, key=other)
    assert len(_files(out)) == count


def test_bad_key_file_is_refused(case, tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("nonsense\n")
    with pytest.raises(DeidentificationError):
        _run(case.root, tmp_path / "out", key=bad)
    assert not (tmp_path / "out").exists()


def test_permission_is_required(case, tmp_path: Path, monkeypatch) -> None:
    policy_file().write_text(
        'default_role = "student"\n[roles.student]\npermissions = ["export-deidentified"]\n',
        encoding="utf-8",
    )
    with pytest.raises(PermissionDenied, match="deidentify"):
        _run(case.root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cancel_leaves_only_complete_files(case, tmp_path: Path) -> None:
    token = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, text: str) -> None:
        seen.append(fraction)
        if text.startswith("De-identifying 3/"):
            token.cancel()

    out = tmp_path / "out"
    with pytest.raises(Cancelled, match="Cancelled after"):
        _run(case.root, out, progress=progress, cancel=token)
    written = list(out.rglob("*.dcm"))
    assert 0 < len(written) < len(case.files)
    assert not [path for path in out.rglob("*") if path.name.endswith(".part")]
    for path in written:
        assert pydicom.dcmread(path).PatientIdentityRemoved == "YES"


def test_existing_key_beside_output_is_reused(case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    key = default_key_path(out)
    write_key(new_key(), key)
    text = key.read_bytes()
    report = _run(case.root, out)
    assert not report.key_created and Path(report.key_path) == key
    assert key.read_bytes() == text
    assert any("reused" in note for note in report.notes)


def test_copies_and_uid_clashes_are_written_once(case, tmp_path: Path) -> None:
    first = case.files[0]
    (case.root / "zz").mkdir()  # walked after the original's folder
    (case.root / "zz" / "copy").write_bytes(first.read_bytes())
    ds = pydicom.dcmread(first)
    ds.InstitutionName = "Another Place"  # different content, same SOP Instance UID
    ds.SeriesDescription = "changed"
    ds.PixelData = bytes(len(ds.PixelData))
    ds.save_as(case.root / "zz" / "clash", enforce_file_format=True)
    out = tmp_path / "out"
    report = _run(case.root, out)
    by_source = {item.source: item for item in report.files}
    original = by_source[str(first.relative_to(case.root))]
    assert by_source["zz/copy"].status == "skipped" and not by_source["zz/copy"].failed
    assert by_source["zz/copy"].reasons[0].startswith("a copy of")
    assert by_source["zz/clash"].status == "skipped" and not by_source["zz/clash"].failed
    assert "same SOP Instance UID" in by_source["zz/clash"].reasons[0]
    written = pydicom.dcmread(out / original.output)
    assert written.PixelData == pydicom.dcmread(first).PixelData  # the first file's content
    assert len(list(out.rglob("*.dcm"))) == len(case.files)
