"""One-time codes: drawn from `secrets`, kept only as keyed HMACs, compared in constant time.

No code is ever stored. A verification keeps two values, both keyed by SMS_VERIFY_SECRET:
- a seed of 256 bits from `secrets`; the code is HMAC-SHA256(secret, "code", id, seed) reduced
  to its digits, so a resend can text the same code again without the code being kept;
- the check value HMAC-SHA256(secret, "check", id, code); a check computes it for the code it
  is given and compares the two with `hmac.compare_digest`.
Without the secret neither tells anything about the code. With it, the check value alone gives
the code away to anyone who tries the 10^4..10^10 candidates (a bare or unkeyed hash of a short
code always does), so the seed reveals nothing more. Both are removed when the verification
ends (approved, expired, exhausted, canceled).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SEED_BYTES = 32
MIN_SECRET_LENGTH = 32


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def _mac(secret: bytes, label: bytes, *parts: bytes) -> bytes:
    # Every part has a fixed length or comes last, but a 0 byte between them costs nothing
    # and keeps the inputs unambiguous should that change.
    return hmac.new(secret, b"\x00".join((label, *parts)), hashlib.sha256).digest()


def code_for(secret: bytes, verification_id: str, seed: bytes, length: int) -> str:
    """The verification's code: `length` decimal digits, uniform to within 2^-200."""
    value = int.from_bytes(_mac(secret, b"code", verification_id.encode(), seed), "big")
    return str(value % 10**length).zfill(length)


def check_value(secret: bytes, verification_id: str, code: str) -> bytes:
    return _mac(secret, b"check", verification_id.encode(), code.encode())


def code_matches(secret: bytes, verification_id: str, candidate: str, stored: bytes) -> bool:
    return hmac.compare_digest(check_value(secret, verification_id, candidate), stored)
