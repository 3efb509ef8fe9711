"""``workstation pacs`` in a fresh process against a real Orthanc: echo, find, retrieve, send,
the server list, and every fault as one stderr line with exit code 14."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.services.pacs_cases import check_folder, silent_server, write_study
from tests.support.cli import run_workstation
from tests.support.orthanc import free_port, running_orthanc
from workstation.core.dicom_query import StudyQuery
from workstation.core.user_dirs import servers_file


def pacs(*args: str, timeout: float = 120):
    return run_workstation("pacs", *args, timeout=timeout)


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def _one_error_line(result, code: int = 14) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("workstation: error: ")
    return lines[0][len("workstation: error: ") :]


@pytest.fixture
def study(tmp_path, empty_orthanc):
    truth = write_study(tmp_path / "upload")
    empty_orthanc.upload(truth.files)
    return truth


def _where(orthanc, protocol: str) -> list[str]:
    if protocol == "dimse":
        return ["--dimse", orthanc.dimse]
    return ["--dicomweb", orthanc.dicomweb_url]


def test_echo_both_protocols(orthanc):
    assert "answered in" in _ok(pacs("echo", "--dimse", orthanc.dimse))
    record = json.loads(_ok(pacs("echo", "--dicomweb", orthanc.dicomweb_url, "--json")))
    assert record["server"] == orthanc.dicomweb_url and 0 < record["seconds"] < 20


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_find_json_at_three_levels_equals_the_upload(study, empty_orthanc, protocol):
    where = _where(empty_orthanc, protocol)
    patients = json.loads(_ok(pacs("find", *where, "--level", "patient", "--json")))
    assert [(p["level"], p["patient_id"]) for p in patients] == [("patient", study.patient_id)]
    dates = ["--date-from", "2026-01-01", "--date-to", "2026-01-31"]
    studies = json.loads(_ok(pacs("find", *where, "--patient-id", study.patient_id, "--json",
                                  *dates)))  # fmt: skip
    assert [(s["study_uid"], s["study_date"]) for s in studies] == [(study.study_uid, "20260101")]
    series = json.loads(_ok(pacs("find", *where, "--level", "series", "--study", study.study_uid,
                                 "--json")))  # fmt: skip
    assert {s["series_uid"]: s["n_instances"] for s in series} == {
        uid: len(sops) for uid, sops in study.series.items()
    }
    assert {s["modality"] for s in series} == {"CT"}
    table = _ok(pacs("find", *where, "--level", "series", "--study", study.study_uid))
    header, *rows, summary = table.splitlines()
    assert header.split()[:3] == ["NUMBER", "MOD", "DESCRIPTION"]
    assert sorted(row.split()[0] for row in rows) == ["1", "2"]
    assert all(any(uid in row for row in rows) for uid in study.series)
    assert summary.startswith("2 series on ")
    nothing = _ok(pacs("find", *where, "--patient-id", "NOBODY"))
    assert nothing.startswith("No study matches")


@pytest.mark.parametrize("how", ["get", "move", "wado"])
def test_retrieve_into_a_folder(study, empty_orthanc, tmp_path, how):
    out = tmp_path / "out"
    if how == "wado":
        args = ["--dicomweb", empty_orthanc.dicomweb_url]
    elif how == "move":
        args = ["--dimse", empty_orthanc.dimse, "--move", "--port", str(empty_orthanc.move_port)]
    else:
        args = ["--dimse", empty_orthanc.dimse]
    summary = _ok(pacs("retrieve", *args, "--study", study.study_uid, "-o", str(out)))
    method = {"get": "C-GET", "move": "C-MOVE", "wado": "WADO-RS"}[how]
    assert summary.startswith(f"Retrieved {study.n_instances} instances (")
    assert f"by {method} in " in summary and "MB/s" in summary and str(out) in summary
    check_folder(out, study)


def test_retrieve_one_series_as_json(study, empty_orthanc, tmp_path):
    series_uid = sorted(study.series)[0]
    out = tmp_path / "one"
    record = json.loads(_ok(pacs("retrieve", "--dimse", empty_orthanc.dimse, "--study",
                                 study.study_uid, "--series", series_uid, "-o", str(out),
                                 "--json")))  # fmt: skip
    assert record["complete"] is True and record["instances"] == len(study.series[series_uid])
    assert sorted(record["sop_instance_uids"]) == sorted(study.series[series_uid])
    assert record["bytes"] > 16 * 16 * 2 * len(study.series[series_uid])
    check_folder(out, study, series_uid)


def test_retrieve_into_the_database(study, empty_orthanc, tmp_path):
    from workstation.services.dicom_database import DicomDatabase

    database = tmp_path / "db"
    summary = _ok(pacs("retrieve", "--dimse", empty_orthanc.dimse, "--study", study.study_uid,
                       "--database", str(database)))  # fmt: skip
    assert f"stored in the database {database}" in summary
    with DicomDatabase.open(database) as opened:
        found = opened.search(StudyQuery(level="series", study_uid=study.study_uid))
        assert {m.series_uid: m.n_instances for m in found} == {
            uid: len(sops) for uid, sops in study.series.items()
        }
    # Without --database it goes to the user's database (WORKSTATION_DATABASE here).
    _ok(pacs("retrieve", "--dicomweb", empty_orthanc.dicomweb_url, "--study", study.study_uid,
             "--json"))  # fmt: skip
    with DicomDatabase.open() as default:
        assert default.location == Path(os.environ["WORKSTATION_DATABASE"])
        found = default.search(StudyQuery(level="study", study_uid=study.study_uid))
        assert [m.n_instances for m in found] == [study.n_instances]


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_send_a_folder(tmp_path, empty_orthanc, protocol):
    truth = write_study(tmp_path / "send", patient_id="SEND02", sizes=(3, 2))
    (tmp_path / "send" / "readme.txt").write_text("hello")
    summary = _ok(pacs("send", *_where(empty_orthanc, protocol), str(tmp_path / "send")))
    assert summary.startswith("Sent 5 files (") and "1 skipped (not DICOM)" in summary
    assert empty_orthanc.study_uids() == [truth.study_uid]
    assert empty_orthanc.instance_count() == 5
    for sop in truth.sop_uids:
        assert _pixels_of(empty_orthanc.instance_file(sop)) == truth.pixels[sop]


def _pixels_of(data: bytes) -> bytes:
    import io

    import pydicom

    return bytes(pydicom.dcmread(io.BytesIO(data)).PixelData)


def test_configure_servers_then_use_them_by_name(orthanc, tmp_path):
    secret = tmp_path / "web.password"
    secret.write_text("pw\n")
    _ok(pacs("add-server", "local", "--dimse", orthanc.dimse, "--calling-aet", "WORKSTATION",
             "--move-port", str(orthanc.move_port), "--timeout", "9"))  # fmt: skip
    _ok(pacs("add-server", "web", "--dicomweb", orthanc.dicomweb_url))
    assert oct(servers_file().stat().st_mode & 0o777) == "0o600"
    listed = json.loads(_ok(pacs("servers", "--json")))
    assert [(s["name"], s["protocol"], s["move_port"], s["timeout_s"]) for s in listed] == [
        ("local", "dimse", orthanc.move_port, 9.0),
        ("web", "dicomweb", None, 20.0),
    ]
    table = _ok(pacs("servers"))
    assert f"C-MOVE:{orthanc.move_port}" in table and orthanc.dimse in table
    assert "answered in" in _ok(pacs("echo", "--server", "local"))
    assert "answered in" in _ok(pacs("echo", "--server", "web"))
    refused = pacs("add-server", "web2", "--dicomweb", orthanc.dicomweb_url, "--password", "x")
    assert "never stored" in _one_error_line(refused)
    duplicate = pacs("add-server", "web", "--dicomweb", orthanc.dicomweb_url)
    assert "already exists" in _one_error_line(duplicate)
    assert "Removed server 'web'" in _ok(pacs("remove-server", "web"))
    missing = _one_error_line(pacs("echo", "--server", "web"))
    assert missing.startswith("No server named 'web' (known: 'local')")
    # The only server left is the default.
    assert "answered in" in _ok(pacs("echo"))


def test_a_malformed_server_file_is_one_line(tmp_path):
    broken = tmp_path / "servers.toml"
    broken.write_text('[[server]]\nname = "x"\nprotocol = "dimse"\nport = "abc"\n')
    message = _one_error_line(pacs("servers", "--servers", str(broken)))
    assert message == (
        f"{broken}, line 4: server 1 'port' must be a whole number 1-65535, not 'abc'"
    )


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_a_server_that_is_down(protocol):
    port = free_port()
    where = (["--dimse", f"ORTHANC@127.0.0.1:{port}"] if protocol == "dimse"
             else ["--dicomweb", f"http://127.0.0.1:{port}/dicom-web"])  # fmt: skip
    started = time.monotonic()
    result = pacs("find", *where, "--timeout", "5")
    took = time.monotonic() - started
    message = _one_error_line(result)
    assert message.startswith("Cannot reach ") and message.endswith("connection refused")
    assert str(port) in message
    assert took < 5 + 3


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_a_server_that_never_answers_fails_within_the_time_out(protocol):
    with silent_server() as port:
        where = (["--dimse", f"ORTHANC@127.0.0.1:{port}"] if protocol == "dimse"
                 else ["--dicomweb", f"http://127.0.0.1:{port}/dicom-web"])  # fmt: skip
        started = time.monotonic()
        result = pacs("echo", *where, "--timeout", "2")
        took = time.monotonic() - started
    message = _one_error_line(result)
    assert "did not answer within 2 s" in message and str(port) in message
    assert took < 2 + 2.5  # the time-out plus the start of a Python process


def test_a_wrong_calling_ae_title(study, empty_orthanc):
    result = pacs(
        "find", "--dimse", empty_orthanc.dimse, "--calling-aet", "NOPE", "--timeout", "10"
    )
    message = _one_error_line(result)
    assert empty_orthanc.dimse in message and "'NOPE'" in message


def test_a_retrieve_cut_off_half_way_keeps_what_arrived(tmp_path, empty_orthanc):
    from tests.io.pacs.dicomweb_proxy import fault_proxy

    truth = write_study(tmp_path / "src", sizes=(6,))
    empty_orthanc.upload(truth.files)
    out = tmp_path / "out"
    options = {"drop_after_parts": 3, "die_after_drop": True}
    with fault_proxy(empty_orthanc.dicomweb_url, **options) as proxy:
        result = pacs("retrieve", "--dicomweb", proxy.url, "--study", truth.study_uid, "-o",
                      str(out), "--json", "--timeout", "5")  # fmt: skip
    message = _one_error_line(result)
    assert message.startswith(f"Retrieved 3 of 6 instances of study {truth.study_uid} (3 missing: ")
    assert message.endswith(f"; what arrived is stored in {out}")
    record = json.loads(result.stdout)
    assert record["complete"] is False and record["instances"] == 3 and record["expected"] == 6
    kept = {p.stem for p in out.rglob("*.dcm")}
    assert kept == set(record["sop_instance_uids"]) and len(kept) == 3 and kept <= truth.sop_uids
    assert set(record["missing"]) == truth.sop_uids - kept
    for path in out.rglob("*.dcm"):
        assert _pixels_of(path.read_bytes()) == truth.pixels[path.stem]


def test_bad_and_good_credentials(tmp_path):
    truth = write_study(tmp_path / "src", sizes=(2,))
    with running_orthanc(tmp_path / "orthanc", users={"alice": "right-pw"}) as server:
        server.upload(truth.files)
        wrong = pacs("find", "--dicomweb", server.dicomweb_url, "--user", "alice",
                     "--password", "wrong")  # fmt: skip
        assert _one_error_line(wrong) == f"{server.dicomweb_url} refused the credentials (HTTP 401)"
        secret = tmp_path / "alice.password"
        secret.write_text("right-pw\n")
        found = json.loads(_ok(pacs("find", "--dicomweb", server.dicomweb_url, "--user", "alice",
                                    "--password-file", str(secret), "--json")))  # fmt: skip
        assert [m["study_uid"] for m in found] == [truth.study_uid]
        missing = pacs("find", "--dicomweb", server.dicomweb_url, "--user", "alice",
                       "--password-file", str(tmp_path / "nope"))  # fmt: skip
        assert _one_error_line(missing).startswith("Cannot read the password file ")


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_retrieving_a_study_the_server_does_not_have(empty_orthanc, tmp_path, protocol):
    out = tmp_path / "out"
    result = pacs("retrieve", *_where(empty_orthanc, protocol), "--study", "1.2.3", "-o", str(out))
    message = _one_error_line(result)
    assert "has no" in message and "1.2.3" in message and "Retrieved" not in message
    assert not any(out.rglob("*.dcm"))


def test_a_bearer_token(tmp_path, empty_orthanc):
    from tests.io.pacs.dicomweb_proxy import fault_proxy

    token = tmp_path / "token"
    token.write_text("t0ken-42\n")
    with fault_proxy(empty_orthanc.dicomweb_url, token="t0ken-42") as proxy:
        good = _ok(pacs("echo", "--dicomweb", proxy.url, "--token-file", str(token)))
        assert good.startswith(f"{proxy.url} answered in ")
        bad = pacs("echo", "--dicomweb", proxy.url, "--token", "wrong")
        assert _one_error_line(bad) == f"{proxy.url} refused the credentials (HTTP 401)"
        assert proxy.requests  # the requests went through the token-checking proxy


def test_dimse_over_tls_with_a_ca_bundle(tmp_path):
    from tests.services.pacs_cases import tls_certificates

    certs = tls_certificates(tmp_path / "certs")
    truth = write_study(tmp_path / "src", sizes=(2,))
    extra = {
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(certs["server"]),
        "DicomTlsPrivateKey": str(certs["server_key"]),
        "DicomTlsTrustedCertificates": str(certs["ca"]),
        "DicomTlsRemoteCertificateRequired": False,
    }
    with running_orthanc(tmp_path / "orthanc", extra=extra) as server:
        server.upload(truth.files)
        ca = ["--ca-bundle", str(certs["ca"])]
        found = json.loads(_ok(pacs("find", "--dimse", server.dimse, "--tls", *ca, "--json")))
        assert [m["study_uid"] for m in found] == [truth.study_uid]
        _ok(pacs("add-server", "secure", "--dimse", server.dimse, "--tls", *ca))
        saved = json.loads(_ok(pacs("servers", "--json")))[0]
        assert saved["tls"] is True and saved["ca_bundle"] == str(certs["ca"])
        out = tmp_path / "out"
        _ok(pacs("retrieve", "--server", "secure", "--study", truth.study_uid, "-o", str(out)))
        check_folder(out, truth)
        untrusted = _one_error_line(pacs("echo", "--dimse", server.dimse, "--tls"))
        assert untrusted.startswith(f"TLS connection to {server.dimse} failed: certificate")
        plain = _one_error_line(pacs("echo", "--dimse", server.dimse, "--timeout", "5"))
        assert server.dimse in plain


def test_usage_mistakes_are_one_line():
    assert "AET@HOST:PORT" in _one_error_line(pacs("echo", "--dimse", "ORTHANC-localhost"))
    assert "no servers are configured" in _one_error_line(pacs("echo"))
    moved = pacs("retrieve", "--dimse", "A@127.0.0.1:1", "--study", "1.2", "--port", "5")
    assert "use it with --move" in _one_error_line(moved)
    nothing = pacs("send", "--dimse", "A@127.0.0.1:1", "/no/such/folder")
    assert _one_error_line(nothing, code=2) == "No such file or folder: /no/such/folder"
