"""Transfer syntax UIDs the readers test for, as plain strings (no pydicom import needed)."""

from __future__ import annotations

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR = "1.2.840.10008.1.2.1.99"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
#: The prefix of the JPEG, JPEG-LS, JPEG 2000 and HTJ2K syntaxes.
JPEG_FAMILY_PREFIX = "1.2.840.10008.1.2.4."
