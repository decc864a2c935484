"""Opaque page tokens: the server's position (an offset or a key) as a URL-safe string.

Clients pass ``next_page_token`` back unchanged; anything else is refused with INVALID_ARGUMENT on the
request's page token field. The token carries a version tag and a CRC-32 so that truncated or edited
tokens are caught instead of silently paging from the wrong place. An empty token means the first page
and decodes to ``""``.
"""

from __future__ import annotations

import base64
import binascii
import zlib

from resonanz_sdk.errors import ValidationError

__all__ = ["decode", "encode"]

_VERSION = b"rz1"


def encode(offset_or_key: str) -> str:
    """The opaque token for a position. ``""`` encodes to ``""`` (no more pages)."""
    if not offset_or_key:
        return ""
    raw = offset_or_key.encode()
    checksum = zlib.crc32(_VERSION + raw).to_bytes(4, "big")
    return base64.urlsafe_b64encode(_VERSION + checksum + raw).decode().rstrip("=")


def decode(token: str, field: str) -> str:
    """The position in ``token``; ``""`` for an empty token. Raises ValidationError on ``field``."""
    if not token:
        return ""
    invalid = ValidationError.single(
        field, "invalid page token: pass the next_page_token of the previous response unchanged"
    )
    try:
        blob = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise invalid from None
    version, checksum, raw = (
        blob[: len(_VERSION)],
        blob[len(_VERSION) : len(_VERSION) + 4],
        blob[len(_VERSION) + 4 :],
    )
    if version != _VERSION or not raw or zlib.crc32(_VERSION + raw).to_bytes(4, "big") != checksum:
        raise invalid
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise invalid from None
