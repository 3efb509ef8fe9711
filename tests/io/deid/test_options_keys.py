"""Options by name, the key file and the keyed UID / date / pseudonym maps."""

from __future__ import annotations

import hashlib
import hmac
import os
import re

import pytest

from workstation.core.errors import DeidentificationError
from workstation.io.deid.keys import KEY_HEADER, key_from_secret, new_key, read_key, write_key
from workstation.io.deid.options import DEFAULT_OPTIONS, DeidOption, parse_options
from workstation.io.deid.uid_map import (
    date_offset_days,
    deidentified_uid,
    pseudonym_id,
    pseudonym_name,
)

UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def test_parse_options_adds_to_default_and_rejects_unknown() -> None:
    assert parse_options([]) == DEFAULT_OPTIONS
    assert parse_options(["retain-uids"]) == DEFAULT_OPTIONS | {DeidOption.RETAIN_UIDS}
    assert parse_options(["Clean-Descriptors"], basic_only=True) == {DeidOption.CLEAN_DESCRIPTORS}
    assert parse_options([], basic_only=True) == frozenset()
    with pytest.raises(DeidentificationError) as error:
        parse_options(["retain-everything"])
    assert "retain-everything" in error.value.message
    assert "clean-pixel-data" in error.value.message


def test_key_round_trip_mode_and_refusal(tmp_path) -> None:
    key = new_key()
    assert len(key.secret) == 32 and re.fullmatch(r"[0-9a-f]{12}", key.key_id)
    path = tmp_path / "out.key"
    write_key(key, path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert path.read_text().splitlines()[0] == KEY_HEADER
    assert read_key(path) == key
    write_key(key, path)  # the same key again is fine
    with pytest.raises(DeidentificationError):
        write_key(new_key(), path)
    assert read_key(path) == key
    assert key.secret.hex() not in repr(key)


@pytest.mark.parametrize("text", ["", "hello\n", f"{KEY_HEADER}\nabcd\n", f"{KEY_HEADER}\nzz\n"])
def test_bad_key_files(tmp_path, text: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(text)
    with pytest.raises(DeidentificationError):
        read_key(path)
    with pytest.raises(DeidentificationError):
        read_key(tmp_path / "missing.key")


def test_deidentified_uid_is_the_hmac_decimal() -> None:
    key = key_from_secret(bytes(range(32)))
    uid = "1.2.840.113619.2.55.3.1234"
    digest = hmac.new(key.secret, uid.encode(), hashlib.sha256).digest()
    expected = "2.25." + str(int.from_bytes(digest[:16], "big"))
    assert deidentified_uid(key, uid) == expected
    assert len(expected) <= 64 and UID.match(expected)
    assert deidentified_uid(new_key(), uid) != expected


def test_date_offsets_and_pseudonyms() -> None:
    key = key_from_secret(b"k" * 32)
    offsets = {date_offset_days(key, f"P{n}") for n in range(500)}
    assert all(-3650 <= days <= -365 for days in offsets) and len(offsets) > 300
    assert date_offset_days(key, "P1") == date_offset_days(key_from_secret(b"k" * 32), "P1")
    identifier = pseudonym_id(key, "12345")
    assert re.fullmatch(r"ANON-[A-Z2-7]{10}", identifier)
    assert pseudonym_name(key, "12345") == "ANONYMOUS^" + identifier[5:]
    assert pseudonym_id(key, "12346") != identifier
    assert pseudonym_id(new_key(), "12345") != identifier
