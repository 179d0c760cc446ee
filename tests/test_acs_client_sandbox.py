"""Every operation of the ACS client against the sandbox over real HTTP (and HTTPS): no mocks.

The sandbox is an independent implementation of api-version 2026-01-23, so these tests check
the client's paths, bodies, signatures and error handling against it. Retry waits go through
the client's injectable sleep and are recorded, not slept.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from local.acs_sandbox import DEV_ACCESS_KEY, NO_REPORT_NUMBER
from local.acs_sandbox.config import SandboxConfig
from local.acs_sandbox.reports import TIMEOUT_DETAILS
from local.acs_sandbox.testing import serve
from local.acs_sandbox.tls import ensure_certificate
from shared.acs_auth import rfc1123_now
from shared.acs_client import (
    API_VERSION,
    AcsSmsClient,
)
from shared.acs_errors import (
    AcsAuthenticationError,
    AcsRequestError,
    AcsThrottledError,
    AcsUnavailableError,
)
from shared.acs_messages import (
    DeliveryReportInfo,
    OutgoingSms,
    opted_out,
)

SENDER = "+18005550100"
ALICE = "+14255550123"
BOB = "+14255550124"
KEY = base64.b64decode(DEV_ACCESS_KEY)
FAST = SandboxConfig(time_scale=100.0, report_delay_seconds=0.0, rate_per_minute=0)
T = TypeVar("T")


class Sandbox:
    """The sandbox's URL, its control API, and a client whose sleeps are recorded."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, key: bytes = KEY, **kwargs: Any) -> AcsSmsClient:
        return AcsSmsClient(self.url, key, sleep=self.sleep, **kwargs)

    async def control(self, method: str, path: str, body: object = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, trust_env=False, verify=False) as http:
            response = await http.request(method, path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    async def fault(self, route: str, **fault: Any) -> None:
        await self.control("POST", "/sandbox/faults", {"route": route, **fault})

    async def calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = (await self.control("GET", "/sandbox/calls"))["value"]
        return calls


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with serve(FAST) as url:
        yield Sandbox(url)


def outgoing(to: str) -> OutgoingSms:
    return OutgoingSms(to, str(uuid.uuid4()), rfc1123_now())


def numbers(count: int) -> list[str]:
    return [f"+1425557{i:04d}" for i in range(count)]


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 3.0) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def send_one(client: AcsSmsClient, to: str, **options: Any) -> str:
    [outcome] = await client.send(
        sender=SENDER, recipients=[outgoing(to)], message="hello", **options
    )
    assert outcome.error is None
    [result] = outcome.results
    assert result.successful and result.message_id
    return result.message_id


async def test_requests_name_api_version_2026_01_23(sandbox):
    async with sandbox.client() as client:
        await send_one(client, ALICE)
        await client.get_delivery_report("Outgoing_x")
        await client.check_opt_outs(sender=SENDER, recipients=[ALICE])
    calls = await sandbox.calls()
    assert API_VERSION == "2026-01-23"
    assert [c["path"] for c in calls] == [
        "/sms?api-version=2026-01-23",
        "/deliveryReports/Outgoing_x?api-version=2026-01-23",
        "/sms/optouts:check?api-version=2026-01-23",
    ]


async def test_delivery_report_of_a_sent_message(sandbox):
    async with sandbox.client() as client:
        message_id = await send_one(client, ALICE, tag="batch-1")
        report = await eventually(lambda: client.get_delivery_report(message_id))

    assert isinstance(report, DeliveryReportInfo)
    assert (report.message_id, report.sender, report.to, report.tag) == (
        message_id,
        SENDER,
        ALICE,
        "batch-1",
    )
    assert (report.status, report.delivered, report.details) == ("Delivered", True, "No error.")
    [attempt] = report.attempts
    assert (attempt.segments_succeeded, attempt.segments_failed) == (1, 0)
    assert report.received_at is not None and report.received_at.tzinfo is not None
    assert attempt.timestamp <= report.received_at


async def test_report_timeout_is_sent_and_acs_reports_the_timeout(sandbox):
    async with sandbox.client() as client:
        silent = await send_one(client, NO_REPORT_NUMBER)
        timed = await send_one(client, NO_REPORT_NUMBER, delivery_report_timeout=60)
        report = await eventually(lambda: client.get_delivery_report(timed))  # 0.6 s here
        assert await client.get_delivery_report(silent) is None

    assert (report.status, report.details) == ("Failed", TIMEOUT_DETAILS)


async def test_unknown_report_is_none_and_odd_ids_are_escaped(sandbox):
    async with sandbox.client() as client:
        assert await client.get_delivery_report("Outgoing_unknown") is None
        assert await client.get_delivery_report("a/b c?d=1#e") is None
        with pytest.raises(ValueError):
            await client.get_delivery_report("")
    calls = await sandbox.calls()
    assert [(c["path"], c["status"]) for c in calls] == [
        ("/deliveryReports/Outgoing_unknown?api-version=2026-01-23", 404),
        ("/deliveryReports/a%2Fb%20c%3Fd%3D1%23e?api-version=2026-01-23", 404),
    ]


async def test_report_reads_are_retried_on_5xx_and_lost_answers(sandbox):
    await sandbox.fault("deliveryReports", kind="status", status=503, times=2)
    await sandbox.fault("deliveryReports", kind="drop-response")
    async with sandbox.client() as client:
        assert await client.get_delivery_report("Outgoing_x") is None
    assert [c["status"] for c in await sandbox.calls()] == [503, 503, 404, 404]
    assert len(sandbox.sleeps) == 3


async def test_report_reads_give_up_typed(sandbox):
    await sandbox.fault("deliveryReports", kind="status", status=503, times=4)
    async with sandbox.client() as client:
        with pytest.raises(AcsUnavailableError) as unavailable:
            await client.get_delivery_report("Outgoing_x")
        with pytest.raises(AcsAuthenticationError) as denied:
            async with sandbox.client(key=b"wrong key") as wrong:
                await wrong.get_delivery_report("Outgoing_x")
    assert (unavailable.value.status_code, unavailable.value.code) == (503, "ServiceUnavailable")
    assert denied.value.code == "Denied"
    assert len(await sandbox.calls()) == 5  # four attempts, then one 401 not retried


async def test_report_read_times_out_and_is_retried(sandbox):
    await sandbox.fault("deliveryReports", kind="delay", seconds=1.0)
    async with sandbox.client(timeout=httpx.Timeout(0.3, connect=1.0)) as client:
        assert await client.get_delivery_report("Outgoing_x") is None
    assert len(await sandbox.calls()) == 2
    assert len(sandbox.sleeps) == 1


async def test_opt_outs_add_check_remove_in_requests_of_100(sandbox):
    everyone = numbers(250)
    async with sandbox.client() as client:
        added = await client.add_opt_outs(sender=SENDER, recipients=everyone)
        checked = await client.check_opt_outs(sender=SENDER, recipients=everyone)
        removed = await client.remove_opt_outs(sender=SENDER, recipients=everyone[:120])
        after = opted_out(await client.check_opt_outs(sender=SENDER, recipients=everyone))

    assert [r.to for r in added] == everyone
    assert all(r.successful and r.is_opted_out is None for r in added + removed)
    assert opted_out(checked) == dict.fromkeys(everyone, True)
    assert after == {to: i >= 120 for i, to in enumerate(everyone)}
    sizes = [len(c["recipients"]) for c in await sandbox.calls()]
    assert sorted(sizes[:3]) == [50, 100, 100]
    assert sorted(sizes[6:8]) == [20, 100]
    assert all(size <= 100 for size in sizes)
    listed = (await sandbox.control("GET", "/sandbox/optouts"))["value"]
    assert len(listed) == 130


async def test_one_number_and_per_recipient_errors(sandbox):
    async with sandbox.client() as client:
        assert await client.is_opted_out(sender=SENDER, recipient=ALICE) is False
        await client.add_opt_outs(sender=SENDER, recipients=[ALICE])
        assert await client.is_opted_out(sender=SENDER, recipient=ALICE) is True
        assert await client.is_opted_out(sender="+18005550101", recipient=ALICE) is False
        assert await client.is_opted_out(sender=SENDER, recipient="+123") is None
        mixed = await client.check_opt_outs(sender=SENDER, recipients=[ALICE, "+123", BOB])
        assert await client.add_opt_outs(sender=SENDER, recipients=[]) == []
        with pytest.raises(ValueError):
            await client.add_opt_outs(sender=SENDER, recipients=[ALICE, ""])

    assert [(r.to, r.http_status_code, r.is_opted_out, r.error_message) for r in mixed] == [
        (ALICE, 200, True, None),
        ("+123", 400, None, "Invalid recipient phone number format"),
        (BOB, 200, False, None),
    ]
    assert opted_out(mixed) == {ALICE: True, BOB: False}


async def test_opt_out_request_errors_are_typed(sandbox):
    async with sandbox.client() as client:
        with pytest.raises(AcsAuthenticationError) as not_owned:
            await client.add_opt_outs(sender="+18005559999", recipients=[ALICE])
        with pytest.raises(AcsRequestError) as malformed:
            await client.check_opt_outs(sender="+1", recipients=[ALICE])

    assert (not_owned.value.status_code, not_owned.value.code) == (401, "Unauthorized")
    assert malformed.value.status_code == 400
    assert malformed.value.errors == {"From": ["Invalid From phone number format"]}
    assert malformed.value.trace_id is not None and malformed.value.trace_id.startswith("00-")
    assert "Invalid From phone number format" in malformed.value.message
    assert len(await sandbox.calls()) == 2  # 4xx are not retried


async def test_opt_outs_are_retried_and_honour_retry_after(sandbox):
    await sandbox.fault("optouts", kind="status", status=429, retryAfter=3)
    await sandbox.fault("optouts", kind="status", status=500)
    await sandbox.fault("optouts", kind="drop-response")
    async with sandbox.client() as client:
        added = await client.add_opt_outs(sender=SENDER, recipients=[ALICE])
    assert [r.successful for r in added] == [True]
    assert [c["status"] for c in await sandbox.calls()] == [429, 500, 200, 200]
    assert sandbox.sleeps[0] == 3
    assert len(sandbox.sleeps) == 3

    await sandbox.fault("optouts", kind="status", status=429, retryAfter=120)
    async with sandbox.client() as client:
        with pytest.raises(AcsThrottledError) as throttled:
            await client.remove_opt_outs(sender=SENDER, recipients=[ALICE])
    assert throttled.value.retry_after == 120


async def test_one_failed_request_fails_the_call_after_the_others(sandbox):
    await sandbox.fault("optouts", kind="status", status=503, times=4)
    async with sandbox.client(max_concurrency=1) as client:
        with pytest.raises(AcsUnavailableError):
            await client.add_opt_outs(sender=SENDER, recipients=numbers(150))
        # Idempotent: calling again completes what the failed request left undone.
        again = await client.add_opt_outs(sender=SENDER, recipients=numbers(150))
    assert all(r.successful for r in again)
    listed = (await sandbox.control("GET", "/sandbox/optouts"))["value"]
    assert len(listed) == 150


async def test_send_errors_from_problem_details(sandbox):
    async with sandbox.client() as client:
        [too_long] = await client.send(
            sender=SENDER, recipients=[outgoing(ALICE)], message="x" * 2049
        )
        [not_owned] = await client.send(
            sender="+18005559999", recipients=[outgoing(ALICE)], message="hi"
        )
    assert isinstance(too_long.error, AcsRequestError)
    assert list(too_long.error.errors) == ["Message"]
    assert isinstance(not_owned.error, AcsAuthenticationError)
    assert not_owned.error.code == "Unauthorized"


async def test_over_https_with_ssl_cert_file(tmp_path, monkeypatch):
    files = ensure_certificate(tmp_path / "tls")
    monkeypatch.setenv("SSL_CERT_FILE", str(files.ca))
    async with serve(FAST, tls=files) as url:
        assert url.startswith("https://")
        async with AcsSmsClient(url, KEY) as client:
            message_id = await send_one(client, ALICE, delivery_report_timeout=3600)
            report = await eventually(lambda: client.get_delivery_report(message_id))
            assert await client.is_opted_out(sender=SENDER, recipient=ALICE) is False
    assert report.delivered
