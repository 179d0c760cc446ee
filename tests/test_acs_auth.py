"""Signing vectors: the ACS SDK's test_hmac.py, and a full request cross-checked with the SDK's policy."""

import base64

import httpx

from shared.acs_auth import content_hash, sign_request, signature

KEY = bytes(range(64))
DATE = "Tue, 26 Mar 2019 16:06:51 GMT"
BODY = (
    b'{"from": "+18005550100", "smsRecipients": [{"to": "+14255550123", '
    b'"repeatabilityRequestId": "fda6d242-46aa-4247-8bf6-619a1206f9c3", '
    b'"repeatabilityFirstSent": "Tue, 26 Mar 2019 16:06:51 GMT"}], "message": "Hello world", '
    b'"smsSendOptions": {"enableDeliveryReport": true, "tag": "t1"}}'
)


def test_sdk_hmac_vectors() -> None:
    assert (
        signature(base64.b64decode("pw=="), "banana")
        == "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8="
    )
    assert (
        signature(base64.b64decode("pw=="), "😀") == "1rudJKjn2Zi+3hRrBG29wIF6pD6YyAeQR1ZcFtXoKAU="
    )


def test_full_request_vector() -> None:
    request = httpx.Request(
        "POST", "https://contoso.communication.azure.com/sms?api-version=2021-03-07", content=BODY
    )
    sign_request(request, KEY, DATE)
    assert request.headers["x-ms-content-sha256"] == "aUPvICGQnNvQduBSGRA0eIfpwqyqwwYxx3ztG4/Y/yk="
    assert request.headers["x-ms-date"] == DATE
    assert request.headers["authorization"] == (
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
        "&Signature=dkThdcJbe9r2l/+wbHqUFuJt3sUH7OFufEu1z11fQAs="
    )


def test_get_with_empty_body_vector() -> None:
    request = httpx.Request(
        "GET",
        "https://contoso.communication.azure.com/deliveryReports/Outgoing_abc?api-version=2026-01-23",
    )
    sign_request(request, KEY, DATE)
    assert content_hash(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert request.headers["authorization"].endswith(
        "Signature=yOYbisoptQDJ0mV8V6hMY+JuDKpNRmhMyFcuE31DLeI="
    )


def test_signed_host_includes_a_non_default_port() -> None:
    a = httpx.Request("POST", "http://127.0.0.1:7072/sms?api-version=2021-03-07", content=BODY)
    b = httpx.Request("POST", "http://127.0.0.1:7073/sms?api-version=2021-03-07", content=BODY)
    sign_request(a, KEY, DATE)
    sign_request(b, KEY, DATE)
    assert a.headers["host"] == "127.0.0.1:7072"
    assert a.headers["authorization"] != b.headers["authorization"]


def test_colon_in_path_is_signed_literally() -> None:
    request = httpx.Request(
        "POST", "http://127.0.0.1:7072/sms/optouts:add?api-version=2025-09-17", content=b"{}"
    )
    assert request.url.raw_path == b"/sms/optouts:add?api-version=2025-09-17"
