"""Transfer syntaxes newer than pydicom's dictionary, registered so their files can be written.

pydicom 3.0 refuses to write a data set whose Transfer Syntax UID it does not know; files
in Deflated Image Frame Compression (2024) or JPEG XL (2023) are valid DICOM, and a
de-identified copy keeps their encapsulated pixel data as it is.
"""

from __future__ import annotations

from pydicom._uid_dict import UID_dictionary

#: UID → (name, keyword) of the encapsulated transfer syntaxes pydicom 3.0 lacks.
NEWER_TRANSFER_SYNTAXES = {
    "1.2.840.10008.1.2.8.1": ("Deflated Image Frame Compression", "DeflatedImageFrameCompression"),
    "1.2.840.10008.1.2.4.110": ("JPEG XL Lossless", "JPEGXLLossless"),
    "1.2.840.10008.1.2.4.111": ("JPEG XL JPEG Recompression", "JPEGXLJPEGRecompression"),
    "1.2.840.10008.1.2.4.112": ("JPEG XL", "JPEGXL"),
}


def register_newer_transfer_syntaxes() -> None:
    """Add the missing entries to pydicom's UID dictionary (idempotent; known ones stay)."""
    for uid, (name, keyword) in NEWER_TRANSFER_SYNTAXES.items():
        UID_dictionary.setdefault(uid, (name, "Transfer Syntax", "", "", keyword))
