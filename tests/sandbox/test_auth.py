"""HMAC verification against known vectors (ACS SDK test_hmac.py and a full request), and the ways it must fail."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from local.acs_sandbox.auth import (
    CONTENT_HASH_MISMATCH,
    AuthError,
    content_hash,
    sign_headers,
    signature,
    verify_request,
)

KEY = base64.b64decode(
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
)
HOST = "contoso.communication.azure.com"
DATE = "Tue, 26 Mar 2019 16:06:51 GMT"
NEAR_DATE = datetime(2019, 3, 26, 16, 8, 0, tzinfo=UTC)
SKEW = timedelta(minutes=15)
BODY = (
    b'{"from": "+18005550100", "smsRecipients": [{"to": "+14255550123", '
    b'"repeatabilityRequestId": "fda6d242-46aa-4247-8bf6-619a1206f9c3", '
    b'"repeatabilityFirstSent": "Tue, 26 Mar 2019 16:06:51 GMT"}], "message": "Hello world", '
    b'"smsSendOptions": {"enableDeliveryReport": true, "tag": "t1"}}'
)
POST_HASH = "aUPvICGQnNvQduBSGRA0eIfpwqyqwwYxx3ztG4/Y/yk="
POST_SIGNATURE = "dkThdcJbe9r2l/+wbHqUFuJt3sUH7OFufEu1z11fQAs="
GET_SIGNATURE = "yOYbisoptQDJ0mV8V6hMY+JuDKpNRmhMyFcuE31DLeI="
EMPTY_HASH = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def vector_headers(hashed: str = POST_HASH, sig: str = POST_SIGNATURE) -> dict[str, str]:
    return {
        "Host": HOST,
        "x-ms-date": DATE,
        "x-ms-content-sha256": hashed,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}",
    }


def verify(
    headers: dict[str, str],
    body: bytes = BODY,
    path: str = "/sms?api-version=2021-03-07",
    method: str = "POST",
    now: datetime = NEAR_DATE,
) -> None:
    verify_request(method, path, headers, body, KEY, now, SKEW)


def test_sdk_hmac_vectors():
    assert (
        signature(base64.b64decode("pw=="), "banana")
        == "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8="
    )
    assert (
        signature(base64.b64decode("pw=="), "😀") == "1rudJKjn2Zi+3hRrBG29wIF6pD6YyAeQR1ZcFtXoKAU="
    )


def test_known_post_vector_verifies():
    assert content_hash(BODY) == POST_HASH
    verify(vector_headers())


def test_known_get_vector_verifies():
    assert content_hash(b"") == EMPTY_HASH
    verify(
        vector_headers(EMPTY_HASH, GET_SIGNATURE),
        body=b"",
        path="/deliveryReports/Outgoing_abc?api-version=2026-01-23",
        method="GET",
    )


def test_signing_reproduces_the_vector():
    headers = sign_headers(
        "POST",
        "/sms?api-version=2021-03-07",
        HOST,
        BODY,
        KEY,
        NEAR_DATE.replace(minute=6, second=51),
    )
    assert headers == {k: v for k, v in vector_headers().items() if k != "Host"}


def test_header_names_are_case_insensitive():
    verify({k.upper(): v for k, v in vector_headers().items()})


def test_date_header_may_replace_x_ms_date():
    headers = vector_headers()
    headers["Date"] = headers.pop("x-ms-date")
    verify(headers)


def test_body_that_does_not_match_its_hash_is_denied_with_acs_message():
    with pytest.raises(AuthError) as caught:
        verify(vector_headers(), body=BODY.replace(b"Hello", b"Howdy"))
    assert caught.value.message == CONTENT_HASH_MISMATCH


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {
                "Authorization": "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=AAAA"
            },
            "signature is invalid",
        ),
        ({"Host": "evil.example.com"}, "signature is invalid"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "Unsupported Authorization scheme"),
        ({"Authorization": "HMAC-SHA256 nonsense"}, "Malformed Authorization"),
        ({"x-ms-date": "26/03/2019 16:06:51"}, "not an RFC 1123 date"),
        ({"x-ms-date": "Mon, 26 Mar 2019 16:06:51 GMT"}, "not an RFC 1123 date"),  # wrong weekday
    ],
)
def test_tampered_requests_are_denied(change, expected):
    with pytest.raises(AuthError, match=expected):
        verify(vector_headers() | change)


def test_decoded_path_is_not_the_signed_path():
    with pytest.raises(AuthError, match="signature is invalid"):
        verify(vector_headers(), path="/sms?api-version=2021%2D03%2D07")


@pytest.mark.parametrize("missing", ["Authorization", "x-ms-content-sha256", "x-ms-date"])
def test_missing_headers_are_denied(missing):
    headers = vector_headers()
    del headers[missing]
    with pytest.raises(AuthError):
        verify(headers)


@pytest.mark.parametrize("offset", [timedelta(minutes=16), -timedelta(minutes=16)])
def test_dates_outside_the_allowed_skew_are_denied(offset):
    sent = datetime(2019, 3, 26, 16, 6, 51, tzinfo=UTC)
    with pytest.raises(AuthError, match="clock skew"):
        verify(vector_headers(), now=sent + offset)


def test_bearer_tokens_are_accepted_unless_disabled():
    bearer = {"Authorization": "Bearer eyJ0eXAiOiJKV1QifQ.e30.sig"}
    verify_request("POST", "/sms", bearer, b"{}", KEY, NEAR_DATE, SKEW)
    with pytest.raises(AuthError):
        verify_request("POST", "/sms", bearer, b"{}", KEY, NEAR_DATE, SKEW, accept_bearer=False)
