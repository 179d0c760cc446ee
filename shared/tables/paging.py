"""Continuation tokens a client can hand back: the SDK's token, bound to the listing it came from.

The token is base64url JSON of the SDK's continuation plus a checksum over it and the listing
(table, filter, parameters), so a token that was mangled, made up or taken from another listing
is refused instead of silently ending or skewing the listing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from shared.errors import BadContinuationTokenError


def _checksum(token: Any, scope: str) -> str:
    raw = json.dumps(token, sort_keys=True, separators=(",", ":")) + "|" + scope
    return hashlib.blake2b(raw.encode("utf-8"), digest_size=8).hexdigest()


def encode_token(token: Any, scope: str) -> str | None:
    if not token:
        return None
    wrapped = {"t": token, "c": _checksum(token, scope)}
    raw = json.dumps(wrapped, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(text: str, scope: str) -> dict[str, str]:
    """A client's token back to the SDK's form; anything else is a `BadContinuationTokenError`."""
    try:
        padded = text + "=" * (-len(text) % 4)
        wrapped = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError) as exc:
        raise BadContinuationTokenError() from exc
    if not isinstance(wrapped, dict) or set(wrapped) != {"t", "c"}:
        raise BadContinuationTokenError()
    token = wrapped["t"]
    if not isinstance(token, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in token.items()
    ):
        raise BadContinuationTokenError()
    if wrapped["c"] != _checksum(token, scope):
        raise BadContinuationTokenError()
    return token
