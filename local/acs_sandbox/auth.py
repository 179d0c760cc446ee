"""ACS request authentication: HMAC-SHA256 access-key signatures (and bearer tokens).

Pure functions, no I/O. The string-to-sign is
`VERB\\n<path and query as sent>\\n<x-ms-date>;<host>;<x-ms-content-sha256>` signed with the
base64-decoded access key (ACS "Sign an HTTP request").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from .timefmt import format_rfc1123, parse_rfc1123

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
# ACS's exact message for a body that does not match its hash (Azure/azure-rest-api-specs#11767).
CONTENT_HASH_MISMATCH = "Request 'x-ms-content-sha256' differs from generated content hash."
_DATE_HEADERS = ("x-ms-date", "date")


class AuthError(Exception):
    """The request is not authenticated; `message` goes into the 401 `Denied` body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def string_to_sign(method: str, path_and_query: str, signed_values: Sequence[str]) -> str:
    return f"{method.upper()}\n{path_and_query}\n{';'.join(signed_values)}"


def signature(access_key: bytes, text: str) -> str:
    digest = hmac.new(access_key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_headers(
    method: str, path_and_query: str, host: str, body: bytes, access_key: bytes, now: datetime
) -> dict[str, str]:
    """Headers that authenticate a request, as the ACS SDKs send them (for tests and tools)."""
    date, hashed = format_rfc1123(now), content_hash(body)
    sig = signature(access_key, string_to_sign(method, path_and_query, (date, host, hashed)))
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": hashed,
        "Authorization": f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={sig}",
    }


def _parse_hmac_authorization(value: str) -> tuple[list[str], str]:
    """`SignedHeaders=a;b;c&Signature=xyz=` → (["a", "b", "c"], "xyz=")."""
    fields: dict[str, str] = {}
    for part in value.split("&"):
        name, sep, field_value = part.strip().partition("=")
        if sep:
            fields[name.strip().lower()] = field_value.strip()
    names = [n.strip().lower() for n in fields.get("signedheaders", "").split(";") if n.strip()]
    sig = fields.get("signature", "")
    if not names or not sig:
        raise AuthError(
            "Malformed Authorization header: expected "
            f"'HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature=<base64>'."
        )
    return names, sig


def _signed_values(names: Sequence[str], headers: Mapping[str, str]) -> list[str]:
    values = []
    for name in names:
        # The REST "Headers" page allows `Date` in place of `x-ms-date`; whichever is present
        # is what the client signed.
        lookup = _DATE_HEADERS if name in _DATE_HEADERS else (name,)
        value = next((headers[h] for h in lookup if h in headers), None)
        if value is None:
            raise AuthError(f"Signed header '{name}' is missing from the request.")
        values.append(value)
    return values


def _check_date(headers: Mapping[str, str], now: datetime, max_skew: timedelta) -> None:
    raw = next((headers[h] for h in _DATE_HEADERS if h in headers), None)
    if raw is None:
        raise AuthError("The request has neither an 'x-ms-date' nor a 'Date' header.")
    sent = parse_rfc1123(raw)
    if sent is None:
        raise AuthError(f"The request date '{raw}' is not an RFC 1123 date.")
    if abs(now - sent) > max_skew:
        raise AuthError(
            f"The request date '{raw}' is outside the allowed clock skew of "
            f"{int(max_skew.total_seconds())} seconds."
        )


def verify_request(
    method: str,
    path_and_query: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: bytes,
    now: datetime,
    max_skew: timedelta,
    *,
    accept_bearer: bool = True,
) -> None:
    """Raises AuthError unless the request carries a valid signature (or a bearer token).

    `path_and_query` and `body` must be exactly what arrived on the wire: decoding or
    re-serialising them would make a correct client fail (or a wrong one pass).
    Header names are matched case-insensitively.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization", "").strip()
    if not authorization:
        raise AuthError("The request has no Authorization header.")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and accept_bearer and credentials.strip():
        return  # Entra ID tokens: the sandbox has no identity provider, so any token passes.
    if scheme.upper() != "HMAC-SHA256":
        raise AuthError(f"Unsupported Authorization scheme '{scheme}'.")
    names, claimed = _parse_hmac_authorization(credentials)
    if "host" not in names or "x-ms-content-sha256" not in names:
        raise AuthError(
            f"SignedHeaders must include host and x-ms-content-sha256 ({SIGNED_HEADERS})."
        )
    if not any(name in _DATE_HEADERS for name in names):
        raise AuthError(f"SignedHeaders must include x-ms-date or date ({SIGNED_HEADERS}).")
    if "x-ms-content-sha256" not in lowered:
        raise AuthError("The request has no 'x-ms-content-sha256' header.")
    if not hmac.compare_digest(
        lowered["x-ms-content-sha256"].encode(), content_hash(body).encode()
    ):
        raise AuthError(CONTENT_HASH_MISMATCH)
    _check_date(lowered, now, max_skew)
    expected_text = string_to_sign(method, path_and_query, _signed_values(names, lowered))
    expected = signature(access_key, expected_text)
    if not hmac.compare_digest(claimed.encode(), expected.encode()):
        # The string-to-sign holds no secret and is what a client needs to find its mistake.
        shown = expected_text.replace("\n", "\\n")
        raise AuthError(f"The request signature is invalid. The string-to-sign was '{shown}'.")
