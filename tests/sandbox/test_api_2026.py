"""api-version 2026-01-23 over real HTTP: what the spec says of each route, field and limit.

Spec: Azure/azure-rest-api-specs, `specification/communication/data-plane/Sms/stable/2026-01-23`
(`communicationservicessms.json` and its examples).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from local.acs_sandbox import NO_REPORT_NUMBER
from local.acs_sandbox.config import SandboxConfig
from local.acs_sandbox.reports import TIMEOUT_DETAILS
from local.acs_sandbox.testing import SignedClient, serve

SENDER = "+18005550100"
ALICE = "+14255550123"
BOB = "+14255550124"
V = "api-version=2026-01-23"
FAST = SandboxConfig(time_scale=100.0, report_delay_seconds=0.0)


@pytest.fixture
async def acs() -> AsyncIterator[SignedClient]:
    async with serve(FAST) as url, SignedClient(url) as client:
        yield client


def numbers(count: int) -> list[str]:
    return [f"+1425556{i:04d}" for i in range(count)]


def opt_out_body(recipients: list[str], sender: str = SENDER) -> dict[str, Any]:
    return {"from": sender, "recipients": [{"to": to} for to in recipients]}


async def get_report(acs: SignedClient, message_id: str, within: float = 3.0) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await acs.call("GET", f"/deliveryReports/{message_id}?{V}")
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.02)


def assert_validation_problem(response: httpx.Response, field: str, message: str) -> None:
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.1"
    assert (body["title"], body["status"]) == ("One or more validation errors occurred.", 400)
    assert body["errors"] == {field: [message]}
    assert body["traceId"].startswith("00-")


async def test_report_timeout_is_checked_against_its_range(acs):
    field = "SmsSendOptions.DeliveryReportTimeoutInSeconds"
    message = "The field DeliveryReportTimeoutInSeconds must be between 60 and 43200."
    for value in (59, 43_201, 0, -1):
        response = await acs.send_sms(
            SENDER,
            [ALICE],
            "hi",
            api_version="2026-01-23",
            options={"deliveryReportTimeoutInSeconds": value},
        )
        assert_validation_problem(response, field, message)
    for value in (60, 43_200):
        response = await acs.send_sms(
            SENDER,
            [ALICE],
            "hi",
            api_version="2026-01-23",
            options={"deliveryReportTimeoutInSeconds": value},
        )
        assert response.status_code == 202, value
    not_a_number = await acs.send_sms(
        SENDER,
        [ALICE],
        "hi",
        api_version="2026-01-23",
        options={"deliveryReportTimeoutInSeconds": "300"},
    )
    assert not_a_number.status_code == 400
    assert list(not_a_number.json()["errors"]) == [field]


async def test_report_timeout_is_unknown_to_old_versions(acs):
    # 2021-03-07 has no such option: its deserializer ignores the member.
    response = await acs.send_sms(
        SENDER, [ALICE], "hi", options={"deliveryReportTimeoutInSeconds": 5}
    )
    assert response.status_code == 202


async def test_report_timeout_makes_acs_report_what_the_carrier_never_did(acs):
    silent = await acs.send_sms(SENDER, [NO_REPORT_NUMBER], "no report", api_version="2026-01-23")
    timed = await acs.send_sms(
        SENDER,
        [NO_REPORT_NUMBER],
        "timeout report",
        api_version="2026-01-23",
        options={"deliveryReportTimeoutInSeconds": 60},  # 0.6 s at timeScale 100
    )
    timed_id = timed.json()["value"][0]["messageId"]

    report = await get_report(acs, timed_id)
    assert report.status_code == 200
    body = report.json()
    assert (body["deliveryStatus"], body["deliveryStatusDetails"]) == ("Failed", TIMEOUT_DETAILS)
    assert body["deliveryAttempts"][0]["segmentsFailed"] == 1
    silent_id = silent.json()["value"][0]["messageId"]
    assert (await acs.call("GET", f"/deliveryReports/{silent_id}?{V}")).status_code == 404


async def test_malformed_sender_is_problem_details_in_2026(acs):
    response = await acs.send_sms("+1", [ALICE], "hi", api_version="2026-01-23")
    assert_validation_problem(response, "From", "Invalid From phone number format")
    opt_out = await acs.post_json(f"/sms/optouts:add?{V}", opt_out_body([ALICE], sender="+1"))
    assert_validation_problem(opt_out, "From", "Invalid From phone number format")


async def test_messaging_connect_shape_per_version(acs: SignedClient) -> None:
    async def send(version: str, connect: object) -> httpx.Response:
        return await acs.send_sms(
            SENDER, [ALICE], "hi", api_version=version, options={"messagingConnect": connect}
        )

    assert (
        await send("2026-01-23", {"partner": "P", "partnerParams": {"k": "v"}})
    ).status_code == 202
    assert_validation_problem(
        await send("2026-01-23", {"partner": "P", "partnerParams": {}}),
        "SmsSendOptions.MessagingConnect.PartnerParams",
        "The PartnerParams field is required and needs at least one parameter.",
    )
    assert_validation_problem(
        await send("2026-01-23", {"partnerParams": {"k": "v"}}),
        "SmsSendOptions.MessagingConnect.Partner",
        "The Partner field is required.",
    )
    assert (await send("2025-09-17", {"apiKey": "k", "partner": "P"})).status_code == 202
    assert_validation_problem(
        await send("2025-09-17", {"partner": "P"}),
        "SmsSendOptions.MessagingConnect.ApiKey",
        "The ApiKey field is required.",
    )
    assert (await send("2021-03-07", {"anything": 1})).status_code == 202


async def test_opt_out_recipients_are_1_to_100(acs):
    full = await acs.post_json(f"/sms/optouts:add?{V}", opt_out_body(numbers(100)))
    too_many = await acs.post_json(f"/sms/optouts:add?{V}", opt_out_body(numbers(101)))
    none = await acs.post_json(f"/sms/optouts:check?{V}", opt_out_body([]))
    empty_to = await acs.post_json(f"/sms/optouts:remove?{V}", opt_out_body([ALICE, ""]))
    missing = await acs.post_json(f"/sms/optouts:check?{V}", {"from": SENDER})

    assert full.status_code == 200
    assert [i["httpStatusCode"] for i in full.json()["value"]] == [200] * 100
    assert_validation_problem(
        too_many,
        "Recipients",
        "The field Recipients must be a string or array type with a maximum length of '100'.",
    )
    assert_validation_problem(
        none,
        "Recipients",
        "The field Recipients must be a string or array type with a minimum length of '1'.",
    )
    assert_validation_problem(empty_to, "Recipients[1].To", "The To field is required.")
    assert_validation_problem(missing, "Recipients", "The Recipients field is required.")
    checked = await acs.post_json(f"/sms/optouts:check?{V}", opt_out_body(numbers(100)))
    assert all(i["isOptedOut"] for i in checked.json()["value"])


async def test_opt_out_answers_per_recipient_like_the_spec_examples(acs):
    body = opt_out_body([ALICE, "+123", BOB])
    added = await acs.post_json(f"/sms/optouts:add?{V}", opt_out_body([ALICE]))
    checked = await acs.post_json(f"/sms/optouts:check?{V}", body)
    removed = await acs.post_json(f"/sms/optouts:remove?{V}", body)

    assert added.json() == {"value": [{"to": ALICE, "httpStatusCode": 200}]}
    assert checked.status_code == 200
    assert checked.headers["content-type"] == "application/json; charset=utf-8"
    assert "2026-01-23" in checked.headers["api-supported-versions"]
    bad = {
        "to": "+123",
        "httpStatusCode": 400,
        "errorMessage": "Invalid recipient phone number format",
    }
    assert checked.json()["value"] == [
        {"to": ALICE, "isOptedOut": True, "httpStatusCode": 200},
        bad,
        {"to": BOB, "isOptedOut": False, "httpStatusCode": 200},
    ]
    assert removed.json()["value"] == [
        {"to": ALICE, "httpStatusCode": 200},
        bad,
        {"to": BOB, "httpStatusCode": 200},
    ]


async def test_opt_out_errors_before_the_list_is_touched(acs):
    not_owned = await acs.post_json(
        f"/sms/optouts:add?{V}", opt_out_body([ALICE], sender="+18005559999")
    )
    missing_version = await acs.post_json("/sms/optouts:add", opt_out_body([ALICE]))
    async with SignedClient(str(acs.http.base_url), access_key="d3Jvbmcta2V5") as wrong_key:
        denied = await wrong_key.post_json(f"/sms/optouts:add?{V}", opt_out_body([ALICE]))

    assert not_owned.status_code == 401
    assert not_owned.json()["error"]["code"] == "Unauthorized"
    assert missing_version.json() == {
        "error": {
            "code": "ApiVersionUnspecified",
            "message": "An API version is required, but was not specified.",
            "innerError": None,
        }
    }
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "Denied"
    assert (await acs.http.get("/sandbox/optouts")).json() == {"value": []}


async def test_delivery_report_found_and_not_found(acs):
    sent = await acs.send_sms(SENDER, [ALICE], "hi", tag="t", api_version="2026-01-23")
    message_id = sent.json()["value"][0]["messageId"]
    report = await get_report(acs, message_id)
    missing = await acs.call("GET", f"/deliveryReports/Outgoing_unknown?{V}")
    old_version = await acs.call("GET", f"/deliveryReports/{message_id}?api-version=2025-09-17")

    assert set(report.json()) == {
        "messageId",
        "from",
        "to",
        "deliveryStatus",
        "deliveryStatusDetails",
        "deliveryAttempts",
        "receivedTimestamp",
        "tag",
    }
    assert missing.status_code == 404
    body = missing.json()
    assert set(body) == {"type", "title", "status", "traceId"}
    assert (body["type"], body["title"], body["status"]) == (
        "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        "Not Found",
        404,
    )
    assert old_version.status_code == 400
    assert old_version.json()["error"]["code"] == "InvalidApiVersion"


async def test_faults_per_route(acs):
    for route in ("optouts", "deliveryReports"):
        added = await acs.http.post(
            "/sandbox/faults", json={"kind": "status", "status": 503, "route": route}
        )
        assert added.status_code == 201
    faults = (await acs.http.get("/sandbox/faults")).json()["value"]
    assert [f["route"] for f in faults] == ["optouts", "deliveryReports"]

    sent = await acs.send_sms(SENDER, [ALICE], "not faulted")
    first_check = await acs.post_json(f"/sms/optouts:check?{V}", opt_out_body([ALICE]))
    second_check = await acs.post_json(f"/sms/optouts:check?{V}", opt_out_body([ALICE]))
    first_get = await acs.call("GET", f"/deliveryReports/x?{V}")
    second_get = await acs.call("GET", f"/deliveryReports/x?{V}")

    assert sent.status_code == 202
    assert (first_check.status_code, second_check.status_code) == (503, 200)
    assert first_check.json()["error"]["code"] == "ServiceUnavailable"
    assert (first_get.status_code, second_get.status_code) == (503, 404)
    assert (
        await acs.http.post("/sandbox/faults", json={"kind": "delay", "route": "x"})
    ).status_code == 400


async def test_dropped_opt_out_answer_still_applies(acs):
    await acs.http.post("/sandbox/faults", json={"kind": "drop-response", "route": "optouts"})
    with pytest.raises(httpx.RemoteProtocolError):
        await acs.post_json(f"/sms/optouts:add?{V}", opt_out_body([ALICE]))
    listed = (await acs.http.get("/sandbox/optouts")).json()["value"]
    assert listed == [{"from": SENDER, "to": ALICE, "optedOut": True, "carrierBlocked": False}]


async def test_calls_log_every_route_requests_only_sends(acs):
    await acs.send_sms(SENDER, [ALICE], "hi")
    await acs.post_json(f"/sms/optouts:add?{V}", opt_out_body([ALICE, BOB]))
    await acs.call("GET", f"/deliveryReports/nope?{V}")

    calls = (await acs.http.get("/sandbox/calls")).json()["value"]
    assert [(c["method"], c["path"].split("?")[0], c["status"]) for c in calls] == [
        ("POST", "/sms", 202),
        ("POST", "/sms/optouts:add", 200),
        ("GET", "/deliveryReports/nope", 404),
    ]
    assert calls[1]["recipients"] == [ALICE, BOB]
    assert len((await acs.http.get("/sandbox/requests")).json()["value"]) == 1
    assert (await acs.http.delete("/sandbox/calls")).status_code == 204
    assert (await acs.http.get("/sandbox/calls")).json() == {"value": []}


async def test_opt_out_list_shows_api_entries_and_carrier_stops(acs):
    await acs.post_json(f"/sms/optouts:add?{V}", opt_out_body([ALICE]))
    stop = await acs.http.post(
        "/sandbox/inbound", json={"from": BOB, "to": SENDER, "message": "STOP"}
    )
    assert stop.status_code == 202

    assert (await acs.http.get("/sandbox/optouts")).json()["value"] == [
        {"from": SENDER, "to": ALICE, "optedOut": True, "carrierBlocked": False},
        {"from": SENDER, "to": BOB, "optedOut": True, "carrierBlocked": True},
    ]
    await acs.post_json(f"/sms/optouts:remove?{V}", opt_out_body([ALICE, BOB]))
    # The API lifts ACS's list; a carrier STOP stays until the handset texts START.
    assert (await acs.http.get("/sandbox/optouts")).json()["value"] == [
        {"from": SENDER, "to": BOB, "optedOut": False, "carrierBlocked": True},
    ]
    await acs.http.post("/sandbox/reset")
    assert (await acs.http.get("/sandbox/optouts")).json() == {"value": []}
