"""The ACS REST surface over real HTTP: results, errors, repeatability, throttling and faults."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.acs_sandbox.config import SandboxConfig
from local.acs_sandbox.repeatability import CONFLICT, EXPIRED, INVALID_DATE
from local.acs_sandbox.testing import SignedClient, recipient, serve
from local.acs_sandbox.timefmt import format_rfc1123

SENDER = "+18005550100"
ALICE = "+14255550123"
BOB = "+14255550124"
FAST = SandboxConfig(time_scale=100.0, report_delay_seconds=0.0)


@pytest.fixture
async def acs() -> AsyncIterator[SignedClient]:
    async with serve(FAST) as url, SignedClient(url) as client:
        yield client


async def inbox(acs: SignedClient, **filters: str) -> list[dict[str, Any]]:
    response = await acs.http.get("/sandbox/messages", params=filters)
    messages: list[dict[str, Any]] = response.json()["value"]
    return messages


async def eventually_get(acs: SignedClient, path: str, within: float = 3.0) -> httpx.Response:
    """GETs `path` (signed) until it stops answering 404."""
    deadline = time.monotonic() + within
    while True:
        response = await acs.call("GET", path)
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.02)


async def test_results_per_recipient_in_request_order(acs):
    response = await acs.send_sms(SENDER, [ALICE, "+1234", BOB], "Hello", tag="t1")

    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "2021-03-07" in response.headers["api-supported-versions"]
    assert response.headers["ms-cv"]
    items = response.json()["value"]
    assert [i["to"] for i in items] == [ALICE, "+1234", BOB]
    assert items[0]["messageId"].startswith("Outgoing_")
    assert items[0] | {"messageId": None} == {
        "to": ALICE,
        "messageId": None,
        "httpStatusCode": 202,
        "repeatabilityResult": "accepted",
        "successful": True,
        "errorMessage": None,
    }
    assert items[1] == {
        "to": "+1234",
        "httpStatusCode": 400,
        "successful": False,
        "errorMessage": "Invalid To phone number format.",
    }
    received = await inbox(acs)
    assert [(m["to"], m["message"], m["tag"], m["segments"]) for m in received] == [
        (ALICE, "Hello", "t1", 1),
        (BOB, "Hello", "t1", 1),
    ]
    assert [m["to"] for m in await inbox(acs, to=BOB)] == [BOB]


async def test_api_version_is_required_and_checked(acs):
    missing = await acs.post_json("/sms", {})
    assert missing.status_code == 400
    assert missing.json()["error"] == {
        "code": "ApiVersionUnspecified",
        "message": "An API version is required, but was not specified.",
        "innerError": None,
    }
    unknown = await acs.post_json("/sms?api-version=2019-01-01", {})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "InvalidApiVersion"
    assert "does not support the API version '2019-01-01'" in unknown.json()["error"]["message"]
    for version in ("2022-07-07", "2024-02-05", "2024-12-10-preview", "2025-09-17", "2026-01-23"):
        response = await acs.send_sms(SENDER, [ALICE], "hi", api_version=version)
        assert response.status_code == 202, version


async def test_bad_credentials_are_denied(acs):
    payload = json.dumps({"from": SENDER, "smsRecipients": [{"to": ALICE}], "message": "hi"})
    async with SignedClient(str(acs.http.base_url), access_key="d3Jvbmcta2V5") as wrong_key:
        bad_signature = await wrong_key.call(
            "POST", "/sms?api-version=2021-03-07", payload.encode()
        )
    stale = await acs.call(
        "POST",
        "/sms?api-version=2021-03-07",
        payload.encode(),
        date=datetime.now(UTC) - timedelta(hours=1),
    )
    other_body = await acs.call(
        "POST",
        "/sms?api-version=2021-03-07",
        payload.encode(),
        headers={"x-ms-content-sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
    )
    unsigned = await acs.http.post("/sms?api-version=2021-03-07", content=payload)

    for response in (bad_signature, stale, other_body, unsigned):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "Denied"
    assert other_body.json()["error"]["message"] == (
        "Request 'x-ms-content-sha256' differs from generated content hash."
    )
    assert "clock skew" in stale.json()["error"]["message"]
    assert await inbox(acs) == []


async def test_sender_must_be_well_formed_and_owned(acs):
    malformed = await acs.send_sms("+1", [ALICE], "hi")
    assert malformed.status_code == 400
    assert malformed.json() == {"From": ["Invalid From phone number format"]}
    not_owned = await acs.send_sms("+18005559999", [ALICE], "hi")
    assert not_owned.status_code == 401
    assert not_owned.json()["error"]["code"] == "Unauthorized"


async def test_request_limits_answer_problem_details(acs):
    too_many = await acs.send_sms(SENDER, [f"+1425555{i:04d}" for i in range(101)], "hi")
    too_long = await acs.send_sms(SENDER, [ALICE], "x" * 2049)
    none = await acs.send_sms(SENDER, [], "hi")
    not_json = await acs.call("POST", "/sms?api-version=2021-03-07", b"{not json")

    for response, field in [
        (too_many, "SmsRecipients"),
        (too_long, "Message"),
        (none, "SmsRecipients"),
        (not_json, "$"),
    ]:
        assert response.status_code == 400
        body = response.json()
        assert body["title"] == "One or more validation errors occurred."
        assert body["status"] == 400
        assert list(body["errors"]) == [field]
        assert body["traceId"].startswith("00-")
    assert (await acs.send_sms(SENDER, [ALICE], "x" * 2048)).status_code == 202
    assert await inbox(acs) != []


async def test_repeatability_replays_the_first_result_without_sending_again(acs):
    first_recipient = recipient(ALICE)
    first = await acs.send_sms(SENDER, [first_recipient, BOB], "once")
    again = await acs.send_sms(SENDER, [first_recipient], "once")

    original = first.json()["value"][0]
    assert again.status_code == 202
    assert again.json()["value"] == [original]
    assert original["repeatabilityResult"] == "accepted"
    assert [m["to"] for m in await inbox(acs)] == [ALICE, BOB]
    requests = (await acs.http.get("/sandbox/requests")).json()["value"]
    assert len(requests) == 2
    assert requests[1]["repeatabilityRequestIds"] == [first_recipient["repeatabilityRequestId"]]


async def test_repeatability_rejections(acs):
    reused = recipient(ALICE)
    await acs.send_sms(SENDER, [reused], "first text")
    old = format_rfc1123(datetime.now(UTC) - timedelta(minutes=10))
    response = await acs.send_sms(
        SENDER,
        [
            recipient(ALICE, first_sent="2019-03-26T16:06:51Z"),
            recipient(ALICE, request_id="not-a-guid"),
            recipient(ALICE, first_sent=old),
            reused,
        ],
        "second text",
    )

    items = response.json()["value"]
    assert [(i["httpStatusCode"], i["repeatabilityResult"], i["successful"]) for i in items] == [
        (400, "rejected", False),
        (400, "rejected", False),
        (412, "rejected", False),
        (400, "rejected", False),
    ]
    assert items[0]["errorMessage"] == INVALID_DATE
    assert items[2]["errorMessage"] == EXPIRED
    assert items[3]["errorMessage"] == CONFLICT
    assert len(await inbox(acs)) == 1


async def test_rate_limit_answers_429_for_the_whole_request(acs):
    await acs.http.put("/sandbox/config", json={"ratePerMinute": 3, "timeScale": 1})
    ok = await acs.send_sms(SENDER, [ALICE, BOB], "one")
    throttled = await acs.send_sms(SENDER, [ALICE, BOB], "two")
    replay_recipient = recipient(ALICE)

    assert ok.status_code == 202
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert int(throttled.headers["Retry-After"]) >= 1
    assert [m["message"] for m in await inbox(acs)] == ["one", "one"]
    # Another sender has its own bucket; a replay costs nothing.
    assert (await acs.send_sms("+18005550101", [ALICE], "other sender")).status_code == 202
    assert (await acs.send_sms(SENDER, [replay_recipient], "three")).status_code == 202
    assert (await acs.send_sms(SENDER, [replay_recipient], "three")).status_code == 202

    await acs.http.put("/sandbox/config", json={"retryAfter": False})
    no_header = await acs.send_sms(SENDER, [ALICE, BOB], "four")
    assert no_header.status_code == 429
    assert "Retry-After" not in no_header.headers


async def test_status_fault_answers_without_processing(acs):
    added = await acs.http.post(
        "/sandbox/faults", json={"kind": "status", "status": 503, "retryAfter": 2}
    )
    assert added.status_code == 201
    failed = await acs.send_sms(SENDER, [ALICE], "hi")
    passed = await acs.send_sms(SENDER, [ALICE], "hi")

    assert failed.status_code == 503
    assert failed.headers["Retry-After"] == "2"
    assert failed.json()["error"]["code"] == "ServiceUnavailable"
    assert passed.status_code == 202
    assert len(await inbox(acs)) == 1
    requests = (await acs.http.get("/sandbox/requests")).json()["value"]
    assert [r["status"] for r in requests] == [503, 202]
    assert (await acs.http.get("/sandbox/faults")).json() == {"value": []}


async def test_dropped_response_still_sends_and_a_retry_replays(acs):
    await acs.http.post("/sandbox/faults", json={"kind": "drop-response"})
    same = recipient(ALICE)
    with pytest.raises(httpx.RemoteProtocolError):
        await acs.send_sms(SENDER, [same], "lost answer")
    received = await inbox(acs)
    retried = await acs.send_sms(SENDER, [same], "lost answer")

    assert [m["to"] for m in received] == [ALICE]
    assert retried.json()["value"][0]["messageId"] == received[0]["messageId"]
    assert len(await inbox(acs)) == 1
    requests = (await acs.http.get("/sandbox/requests")).json()["value"]
    assert [(r["status"], r["dropped"]) for r in requests] == [(202, True), (202, False)]


async def test_delay_fault_answers_late(acs):
    await acs.http.post("/sandbox/faults", json={"kind": "delay", "seconds": 0.3, "times": 2})
    assert len((await acs.http.get("/sandbox/faults")).json()["value"]) == 1
    started = time.monotonic()
    response = await acs.send_sms(SENDER, [ALICE], "slow")
    assert response.status_code == 202
    assert time.monotonic() - started >= 0.3


async def test_opt_out_api_blocks_sends(acs):
    version = "api-version=2025-09-17"
    body = {"from": SENDER, "recipients": [{"to": ALICE}, {"to": "+123"}]}
    added = await acs.post_json(f"/sms/optouts:add?{version}", body)
    checked = await acs.post_json(f"/sms/optouts:check?{version}", body)
    assert added.status_code == 200
    assert added.json()["value"] == [
        {"to": ALICE, "httpStatusCode": 200},
        {
            "to": "+123",
            "httpStatusCode": 400,
            "errorMessage": "Invalid recipient phone number format",
        },
    ]
    assert checked.json()["value"][0] == {"to": ALICE, "isOptedOut": True, "httpStatusCode": 200}

    sent = await acs.send_sms(SENDER, [ALICE], "you opted out")
    message_id = sent.json()["value"][0]["messageId"]
    assert sent.status_code == 202
    assert await inbox(acs) == []
    report = await eventually_get(acs, f"/deliveryReports/{message_id}?api-version=2026-01-23")
    assert report.json()["deliveryStatus"] == "Failed"
    assert report.json()["deliveryStatusDetails"] == "Sender blocked for given recipient."

    await acs.post_json(f"/sms/optouts:remove?{version}", body)
    after = await acs.post_json(f"/sms/optouts:check?{version}", body)
    assert after.json()["value"][0]["isOptedOut"] is False
    old_version = await acs.post_json("/sms/optouts:check?api-version=2021-03-07", body)
    assert old_version.json()["error"]["code"] == "InvalidApiVersion"


async def test_delivery_report_pull_api(acs):
    sent = await acs.send_sms(SENDER, [ALICE], "hi", tag="pull")
    message_id = sent.json()["value"][0]["messageId"]
    report = await eventually_get(acs, f"/deliveryReports/{message_id}?api-version=2026-01-23")
    missing = await acs.call("GET", "/deliveryReports/Outgoing_nope?api-version=2026-01-23")

    assert report.status_code == 200
    body = report.json()
    assert (body["messageId"], body["from"], body["to"], body["tag"]) == (
        message_id,
        SENDER,
        ALICE,
        "pull",
    )
    assert (body["deliveryStatus"], body["deliveryStatusDetails"]) == ("Delivered", "No error.")
    assert body["deliveryAttempts"][0]["segmentsSucceeded"] == 1
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not Found"


async def test_config_changes_and_reset(acs):
    changed = await acs.http.put(
        "/sandbox/config", json={"senders": ["+18335550100"], "ratePerMinute": 7}
    )
    assert changed.json()["senders"] == ["+18335550100"]
    assert changed.json()["ratePerMinute"] == 7
    assert (await acs.http.put("/sandbox/config", json={"timeScale": 0})).status_code == 400
    await acs.send_sms("+18335550100", [ALICE], "hi")
    await acs.http.post("/sandbox/faults", json={"kind": "status"})

    assert (await acs.http.post("/sandbox/reset")).status_code == 204
    config = (await acs.http.get("/sandbox/config")).json()
    assert config["senders"] == list(FAST.senders)
    assert config["ratePerMinute"] == 200
    assert await inbox(acs) == []
    assert (await acs.http.get("/sandbox/requests")).json() == {"value": []}
    assert (await acs.http.get("/sandbox/faults")).json() == {"value": []}
    assert (await acs.http.get("/sandbox/health")).json() == {"status": "ok"}


async def test_never_deliver_drops_a_range_or_one_route(acs):
    other = "+18005550101"
    changed = await acs.http.put(
        "/sandbox/config",
        json={"neverDeliver": ["+14255550300-+14255550399", f"+14255550123@{SENDER}"]},
    )
    assert changed.json()["neverDeliver"] == ["+14255550300-+14255550399", f"{ALICE}@{SENDER}"]
    in_range, past_range = "+14255550342", "+14255550400"
    sent = await acs.send_sms(SENDER, [in_range, past_range, ALICE], "code 123456")
    assert all(item["successful"] for item in sent.json()["value"])  # ACS took all three
    await acs.send_sms(other, [ALICE], "code 123456")  # another route to the same handset

    received = {(m["from"], m["to"]) for m in await inbox(acs)}
    assert received == {(SENDER, past_range), (other, ALICE)}
    dropped = sent.json()["value"][0]["messageId"]
    report = await eventually_get(acs, f"/deliveryReports/{dropped}?api-version=2026-01-23")
    assert report.json()["deliveryStatus"] == "Failed"
    assert report.json()["deliveryStatusDetails"] == "4005: Blocked by destination carrier"
    for bad in (["+14255550399-+1425555030"], ["+1425555030x"], ["+14255550300@nobody!"]):
        assert (
            await acs.http.put("/sandbox/config", json={"neverDeliver": bad})
        ).status_code == 400
