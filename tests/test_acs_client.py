"""The ACS client's pure parts: our signature judged by the sandbox's independent verifier, the
retry rules (waits recorded through the injectable sleep instead of slept), request bodies,
the report-timeout range, error bodies and delivery reports. `test_acs_client_sandbox.py` runs
every operation against the sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from local.acs_sandbox.auth import AuthError, verify_request
from shared.acs_auth import sign_request
from shared.acs_client import AcsSmsClient
from shared.acs_errors import (
    AcsAuthenticationError,
    AcsError,
    AcsRequestError,
    AcsThrottledError,
    AcsTimeoutError,
    AcsUnavailableError,
    error_from_response,
    parse_retry_after,
)
from shared.acs_messages import (
    DeliveryAttempt,
    DeliveryReportInfo,
    OptOutResult,
    OutgoingSms,
    build_opt_out_body,
    build_send_body,
    check_delivery_report_timeout,
    delivery_report_timeout_seconds,
    opted_out,
    parse_delivery_report,
)
from tests.test_acs_auth import BODY, DATE, KEY

VECTOR_TIME = datetime(2019, 3, 26, 16, 6, 51, tzinfo=UTC)


def test_sandbox_verifier_accepts_our_signature_on_the_known_vector() -> None:
    request = httpx.Request(
        "POST", "https://contoso.communication.azure.com/sms?api-version=2021-03-07", content=BODY
    )
    sign_request(request, KEY, DATE)
    verify_request(
        "POST",
        request.url.raw_path.decode(),
        dict(request.headers),
        BODY,
        KEY,
        VECTOR_TIME + timedelta(seconds=30),
        timedelta(minutes=15),
    )
    with pytest.raises(AuthError):  # one changed byte must fail
        verify_request(
            "POST",
            request.url.raw_path.decode(),
            dict(request.headers),
            BODY.replace(b"t1", b"t2"),
            KEY,
            VECTOR_TIME,
            timedelta(minutes=15),
        )


def recipients(count: int) -> list[OutgoingSms]:
    return [
        OutgoingSms(f"+1425555{i:04d}", f"00000000-0000-4000-8000-{i:012d}", DATE)
        for i in range(count)
    ]


def accept_all(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(
        202,
        json={
            "value": [
                {
                    "to": r["to"],
                    "messageId": "m-" + r["to"],
                    "httpStatusCode": 202,
                    "successful": True,
                }
                for r in body["smsRecipients"]
            ]
        },
    )


class Script:
    """Answers from a list, then accepts; records bodies and requested sleeps."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.bodies: list[bytes] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.content)
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return accept_all(request)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, **kwargs: object) -> AcsSmsClient:
        return AcsSmsClient(
            "https://contoso.communication.azure.com",
            KEY,
            transport=httpx.MockTransport(self),
            sleep=self.sleep,
            **kwargs,  # type: ignore[arg-type]
        )


async def test_splits_into_requests_of_100() -> None:
    script = Script()
    async with script.client() as client:
        outcomes = await client.send(
            sender="+18005550100", recipients=recipients(250), message="hi"
        )
    assert [len(o.recipients) for o in outcomes] == [100, 100, 50]
    assert sorted(len(json.loads(b)["smsRecipients"]) for b in script.bodies) == [50, 100, 100]
    assert sum(len(o.results) for o in outcomes) == 250


async def test_retries_honour_retry_after_and_reuse_the_same_body() -> None:
    script = Script(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503),
        httpx.ReadTimeout("lost"),
    )
    async with script.client() as client:
        results = await client.send_request(
            sender="+18005550100", recipients=recipients(2), message="hi"
        )
    assert [r.successful for r in results] == [True, True]
    assert len(script.bodies) == 4
    assert len(set(script.bodies)) == 1  # same repeatability ids on every attempt
    assert script.sleeps[0] == 7
    # Jittered exponential backoff: attempt n waits 0.5 * 2^(n-1) s, times 0.5..1.
    assert 0.5 <= script.sleeps[1] <= 1.0 and 1.0 <= script.sleeps[2] <= 2.0


async def test_long_retry_after_is_handed_to_the_caller() -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "120"}))
    async with script.client() as client:
        with pytest.raises(AcsThrottledError) as info:
            await client.send_request(sender="+18005550100", recipients=recipients(1), message="hi")
    assert info.value.retry_after == 120
    assert script.sleeps == []


async def test_exhausted_retries_are_typed() -> None:
    script = Script(*[httpx.Response(503)] * 4)
    async with script.client() as client:
        with pytest.raises(AcsUnavailableError):
            await client.send_request(sender="+18005550100", recipients=recipients(1), message="hi")
    script = Script(*[httpx.ReadTimeout("lost")] * 4)
    async with script.client() as client:
        with pytest.raises(AcsTimeoutError) as timeout:
            await client.send_request(sender="+18005550100", recipients=recipients(1), message="hi")
    assert timeout.value.ambiguous


async def test_401_is_not_retried() -> None:
    script = Script(httpx.Response(401, json={"error": {"code": "Unauthorized", "message": ""}}))
    async with script.client() as client:
        with pytest.raises(AcsAuthenticationError) as info:
            await client.send_request(sender="+18005550100", recipients=recipients(1), message="hi")
    assert info.value.code == "Unauthorized"
    assert len(script.bodies) == 1


def test_retry_after_forms() -> None:
    assert parse_retry_after(httpx.Headers({"retry-after": "3"})) == 3
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500"})) == 1.5
    assert (
        parse_retry_after(
            httpx.Headers({"retry-after": "Wed, 25 Nov 2026 12:00:10 GMT"}),
            now=datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp(),
        )
        == 10
    )
    assert parse_retry_after(httpx.Headers({})) is None


def test_body_is_compact_utf8_with_repeatability_fields() -> None:
    body = build_send_body(
        sender="+18005550100",
        recipients=recipients(1),
        message="héllo",
        enable_delivery_report=True,
        tag="B",
    )
    assert "héllo".encode() in body
    parsed = json.loads(body)
    assert parsed["smsRecipients"][0]["repeatabilityRequestId"].startswith("00000000-")
    assert parsed["smsSendOptions"] == {"enableDeliveryReport": True, "tag": "B"}


async def test_a_429_after_a_lost_answer_is_still_ambiguous() -> None:
    """ACS may have taken the first attempt: whatever a later attempt answers, the caller must
    know, so it never gives the message fresh repeatability ids."""
    script = Script(httpx.ReadError("connection reset"), *[httpx.Response(429)] * 3)
    async with script.client() as client:
        [outcome] = await client.send(sender="+18005550100", recipients=recipients(1), message="hi")
    assert isinstance(outcome.error, AcsThrottledError)
    assert outcome.error.ambiguous


async def test_a_plain_429_is_not_ambiguous() -> None:
    script = Script(*[httpx.Response(429)] * 4)
    async with script.client() as client:
        [outcome] = await client.send(sender="+18005550100", recipients=recipients(1), message="hi")
    assert isinstance(outcome.error, AcsThrottledError) and not outcome.error.ambiguous


async def test_recipients_who_opted_out_meanwhile_are_withdrawn_before_a_retry() -> None:
    script = Script(httpx.Response(503))
    people = recipients(3)
    asked: list[list[str]] = []

    async def opted_out_now(remaining: Sequence[OutgoingSms]) -> set[str]:
        asked.append([r.to for r in remaining])
        return {people[1].to}

    async with script.client() as client:
        [outcome] = await client.send(
            sender="+18005550100", recipients=people, message="hi", before_retry=opted_out_now
        )
    assert asked == [[r.to for r in people]]  # asked before the retry only
    first, second = (json.loads(b)["smsRecipients"] for b in script.bodies)
    assert [r["to"] for r in second] == [people[0].to, people[2].to]
    # Those left keep their repeatability ids: ACS still recognises them.
    assert [r["repeatabilityRequestId"] for r in second] == [
        first[0]["repeatabilityRequestId"],
        first[2]["repeatabilityRequestId"],
    ]
    assert outcome.withdrawn == {people[1].to}
    assert [r.to for r in outcome.results] == [people[0].to, people[2].to]


async def test_no_retry_when_opt_outs_cannot_be_read_again() -> None:
    script = Script(httpx.ReadError("lost"))

    async def storage_down(remaining: Sequence[OutgoingSms]) -> set[str]:
        raise OSError("storage unreachable")

    async with script.client() as client:
        [outcome] = await client.send(
            sender="+18005550100", recipients=recipients(1), message="hi", before_retry=storage_down
        )
    assert len(script.bodies) == 1  # not sent again unchecked
    assert isinstance(outcome.error, AcsUnavailableError) and outcome.error.ambiguous


def test_body_carries_the_report_timeout_when_given() -> None:
    body = build_send_body(
        sender="+18005550100",
        recipients=recipients(1),
        message="hi",
        enable_delivery_report=True,
        tag=None,
        delivery_report_timeout=300,
    )
    assert json.loads(body)["smsSendOptions"] == {
        "enableDeliveryReport": True,
        "deliveryReportTimeoutInSeconds": 300,
    }


@pytest.mark.parametrize(
    ("minutes", "seconds"),
    [(0, 60), (1, 60), (2, 120), (30, 1800), (720, 43_200), (721, 43_200), (1440, 43_200)],
)
def test_report_timeout_setting_maps_into_acs_range(minutes: int, seconds: int) -> None:
    assert delivery_report_timeout_seconds(minutes) == seconds
    check_delivery_report_timeout(delivery_report_timeout_seconds(minutes))


@pytest.mark.parametrize("value", [59, 43_201, 0, -60, 60.0, True, "60"])
def test_report_timeout_outside_acs_range_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="delivery_report_timeout"):
        check_delivery_report_timeout(value)  # type: ignore[arg-type]


async def test_bad_report_timeout_sends_nothing() -> None:
    script = Script()
    async with script.client() as client:
        with pytest.raises(ValueError):
            await client.send(
                sender="+18005550100",
                recipients=recipients(150),
                message="hi",
                delivery_report_timeout=30,
            )
    assert script.bodies == []


def error_of(status: int, body: object, headers: dict[str, str] | None = None) -> AcsError:
    return error_from_response(httpx.Response(status, json=body, headers=headers))


def test_problem_details_become_typed_errors() -> None:
    validation = error_of(
        400,
        {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": {
                "Message": ["The field Message must be a string with a maximum length of 2048."]
            },
            "traceId": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        },
    )
    assert isinstance(validation, AcsRequestError)
    assert validation.status_code == 400
    assert validation.code == "Request"
    assert validation.errors == {
        "Message": ["The field Message must be a string with a maximum length of 2048."]
    }
    assert validation.trace_id == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    assert validation.message == (
        "ACS answered 400: One or more validation errors occurred. "
        "Message: The field Message must be a string with a maximum length of 2048."
    )
    not_found = error_of(404, {"type": "x", "title": "Not Found", "status": 404, "traceId": "t"})
    assert isinstance(not_found, AcsRequestError)
    assert (not_found.message, not_found.errors) == ("ACS answered 404: Not Found", {})


def test_other_error_bodies_still_read() -> None:
    model_state = error_of(400, {"From": ["Invalid From phone number format"]})
    assert model_state.errors == {"From": ["Invalid From phone number format"]}
    assert model_state.message == "ACS answered 400: From: Invalid From phone number format"
    standard = error_of(
        400, {"error": {"code": "InvalidApiVersion", "message": "no", "innerError": None}}
    )
    assert (standard.code, standard.message) == ("InvalidApiVersion", "ACS answered 400: no")
    denied = error_of(401, {"error": {"code": "Denied", "message": "bad signature"}})
    assert isinstance(denied, AcsAuthenticationError) and denied.code == "Denied"
    busy = error_of(503, {"error": {"code": "ServiceUnavailable", "message": ""}})
    assert isinstance(busy, AcsUnavailableError) and busy.code == "ServiceUnavailable"
    throttled = error_of(429, {"title": "Too Many Requests"}, {"Retry-After": "4"})
    assert isinstance(throttled, AcsThrottledError) and throttled.retry_after == 4
    text = error_from_response(httpx.Response(502, text="<html>bad gateway</html>"))
    assert isinstance(text, AcsUnavailableError) and "bad gateway" in text.message


# The 2026-01-23 spec's DeliveryReportGet.json example, 200 body.
SPEC_REPORT = {
    "deliveryStatus": "Delivered",
    "deliveryStatusDetails": "2000: No Error",
    "deliveryAttempts": [
        {"timestamp": "2025-08-12T14:40:00Z", "segmentsSucceeded": 2, "segmentsFailed": 0},
        {"timestamp": "2025-08-12T14:35:00Z", "segmentsSucceeded": 1, "segmentsFailed": 1},
    ],
    "receivedTimestamp": "2025-08-12T14:40:00Z",
    "tag": "customer-tag",
    "messageId": "abc123-message-id",
    "from": "+1234567890",
    "to": "+0987654321",
}


def test_delivery_report_of_the_spec_example() -> None:
    report = parse_delivery_report(SPEC_REPORT)
    at = datetime(2025, 8, 12, 14, 40, tzinfo=UTC)
    assert report == DeliveryReportInfo(
        message_id="abc123-message-id",
        sender="+1234567890",
        to="+0987654321",
        status="Delivered",
        details="2000: No Error",
        attempts=(
            DeliveryAttempt(at, 2, 0),
            DeliveryAttempt(at - timedelta(minutes=5), 1, 1),
        ),
        received_at=at,
        tag="customer-tag",
    )
    assert report.delivered


def test_delivery_report_with_only_the_required_fields_and_seven_digits() -> None:
    report = parse_delivery_report(
        {
            "deliveryStatus": "Failed",
            "messageId": "m",
            "from": "+18005550100",
            "to": "+14255550123",
            "receivedTimestamp": "2026-01-23T10:00:00.1234567Z",
            "messagingConnectPartnerMessageId": "p-1",
        }
    )
    assert (report.status, report.details, report.attempts, report.tag) == (
        "Failed",
        None,
        (),
        None,
    )
    assert report.received_at == datetime(2026, 1, 23, 10, 0, 0, 123456, tzinfo=UTC)
    assert report.partner_message_id == "p-1"
    assert not report.delivered
    broken_bodies: list[object] = [
        {**SPEC_REPORT, "deliveryStatus": None},
        {"messageId": "m"},
        [],
        {**SPEC_REPORT, "receivedTimestamp": "yesterday"},
        {**SPEC_REPORT, "deliveryAttempts": [{"timestamp": "2025-08-12T14:40:00Z"}]},
    ]
    for broken in broken_bodies:
        with pytest.raises((ValueError, KeyError, TypeError)):
            parse_delivery_report(broken)


def test_opted_out_keeps_only_answered_numbers() -> None:
    answers = [
        OptOutResult("+14255550123", 200, True),
        OptOutResult("+14255550124", 200, False),
        OptOutResult("+123", 400, None, "Invalid recipient phone number format"),
        OptOutResult("+14255550125", 500, None, "Internal Server Error"),
    ]
    assert opted_out(answers) == {"+14255550123": True, "+14255550124": False}
    assert [a.successful for a in answers] == [True, True, False, False]
    body = json.loads(build_opt_out_body(sender="+18005550100", recipients=["+1", "+2"]))
    assert body == {"from": "+18005550100", "recipients": [{"to": "+1"}, {"to": "+2"}]}
