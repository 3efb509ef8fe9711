"""Keyed, repeatable replacements: UIDs, per-patient date offsets and pseudonyms."""

from __future__ import annotations

import base64
import hashlib
import hmac

from workstation.io.deid.keys import DeidKey

#: Root of the UIDs of standard objects (SOP classes, transfer syntaxes …): never replaced.
STANDARD_UID_ROOT = "1.2.840.10008."

#: Range of the per-patient date shift in days (always into the past, never zero).
OFFSET_MIN_DAYS = -3650
OFFSET_MAX_DAYS = -365


def _mac(key: DeidKey, purpose: bytes, text: str) -> bytes:
    """HMAC-SHA256 of ``text`` under ``key``, separated by ``purpose``."""
    return hmac.new(key.secret, purpose + text.encode("utf-8", "surrogateescape"),
                    hashlib.sha256).digest()  # fmt: skip


def deidentified_uid(key: DeidKey, uid: str) -> str:
    """'2.25.' and the first 128 bits of HMAC-SHA256(key, uid) as a decimal number."""
    digest = hmac.new(key.secret, uid.encode("ascii", "replace"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def date_offset_days(key: DeidKey, patient_id: str) -> int:
    """The days every date of this patient moves (−3650 … −365, never 0)."""
    digest = _mac(key, b"date-offset\x00", patient_id)
    span = OFFSET_MAX_DAYS - OFFSET_MIN_DAYS + 1
    return OFFSET_MIN_DAYS + int.from_bytes(digest[:8], "big") % span


def pseudonym_code(key: DeidKey, patient_id: str) -> str:
    """Ten base32 characters identifying the patient under this key only."""
    digest = _mac(key, b"pseudonym\x00", patient_id)
    return base64.b32encode(digest[:10]).decode("ascii")[:10]


def pseudonym_id(key: DeidKey, patient_id: str) -> str:
    """The Patient ID written instead of ``patient_id``: 'ANON-' and the code."""
    return "ANON-" + pseudonym_code(key, patient_id)


def pseudonym_name(key: DeidKey, patient_id: str) -> str:
    """The Patient's Name written for ``patient_id``: 'ANONYMOUS^' and the code."""
    return "ANONYMOUS^" + pseudonym_code(key, patient_id)
