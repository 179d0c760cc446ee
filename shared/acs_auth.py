"""HMAC-SHA256 request signing exactly as ACS verifies it (ACS REST docs, "Sign an HTTP request").

Two details decide whether ACS accepts a request: the content hash covers the exact bytes sent,
and the signed host is the Host header httpx sends (it includes a non-default port).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Generator
from email.utils import formatdate

import httpx

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def string_to_sign(method: str, path_and_query: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{body_hash}"


def signature(access_key: bytes, text: str) -> str:
    digest = hmac.new(access_key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_request(request: httpx.Request, access_key: bytes, date: str) -> None:
    """Add `x-ms-date`, `x-ms-content-sha256` and `Authorization` to a built request."""
    body_hash = content_hash(request.content)
    path_and_query = request.url.raw_path.decode("ascii")  # as sent: not decoded, ':' kept
    text = string_to_sign(request.method, path_and_query, date, request.headers["host"], body_hash)
    request.headers["x-ms-date"] = date
    request.headers["x-ms-content-sha256"] = body_hash
    request.headers["Authorization"] = (
        f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signature(access_key, text)}"
    )


def rfc1123_now(clock: Callable[[], float] = time.time) -> str:
    # Locale-independent, unlike strftime("%a, %d %b ...").
    return formatdate(clock(), usegmt=True)


class AcsHmacAuth(httpx.Auth):
    """httpx calls this for every send, so each retry carries a fresh date and signature."""

    requires_request_body = True

    def __init__(self, access_key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = access_key
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sign_request(request, self._key, rfc1123_now(self._clock))
        yield request
