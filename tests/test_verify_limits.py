"""The layered limits and the SMS-pumping guard against a real Azurite: each refusal a 429 with
its own reason and a Retry-After, kept in the `rateBuckets` rows every instance shares, and
counted in analytics by reason."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import send_sms
from shared.runtime import close_services, get_services
from shared.tables.rate_buckets import RATE_BUCKETS
from shared.verify_sending import ranked_senders
from tests.conftest import SENDERS
from tests.helpers import http_request, response_json, sandbox_get
from tests.test_verifications import call, usage

pytestmark = pytest.mark.usefixtures("app_env")


async def configure(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    await close_services()  # the next call builds the services with these settings


async def starts(numbers: list[str], **fields: Any) -> list[tuple[int, Any, dict[str, str]]]:
    return [await call("POST", body={"to": n, **fields}) for n in numbers]


def reasons(answers: list[tuple[int, Any, dict[str, str]]]) -> list[str | None]:
    return [
        body["error"]["innererror"]["code"] if status == 429 else None
        for status, body, _ in answers
    ]


async def test_a_number_gets_its_limit_and_then_a_429_naming_it(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    await configure(monkeypatch, SMS_VERIFY_LIMIT_NUMBER="2/10m")
    to = "+14255550140"
    answers = await starts([to, to, to])
    assert reasons(answers) == [None, None, "perNumber"]
    _, body, headers = answers[-1]
    assert (body["error"]["code"], body["error"]["target"]) == ("TooManyRequests", "to")
    assert 250 <= int(headers["Retry-After"]) <= 300  # one text every five minutes
    assert len(sandbox_get(sandbox_url, "/sandbox/messages", to=to)) == 2
    # Another number is not affected: attempts and limits never lock out a stranger.
    assert reasons(await starts(["+14255550141"])) == [None]
    row = await (await get_services()).storage.gateway.get(RATE_BUCKETS, f"verify|number|{to}", "")
    assert row is not None and row["Tokens600"] < 1


async def test_a_pumping_burst_at_one_prefix_is_refused_and_others_go_on(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    await configure(monkeypatch, SMS_VERIFY_GUARD_MIN_SENDS="4")
    burst = [f"+1207555{n:04d}" for n in range(10, 18)]  # one prefix, nobody enters a code
    answers = await starts(burst)
    assert reasons(answers) == [None] * 4 + ["lowConversion"] * 4
    assert len(sandbox_get(sandbox_url, "/sandbox/requests")) == 4
    assert reasons(await starts(["+12065550177"])) == [None]  # another prefix goes on
    blocked = Counter(r["Reason"] for r in await usage("verifyBlocked"))
    assert blocked == {"lowConversion": 4}


async def test_the_guard_in_monitor_mode_counts_and_sends(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    await configure(monkeypatch, SMS_VERIFY_GUARD_MIN_SENDS="2", SMS_VERIFY_GUARD="monitor")
    answers = await starts([f"+1207556{n:04d}" for n in range(10, 14)])
    assert [status for status, _, _ in answers] == [201] * 4
    blocked = Counter(r["Reason"] for r in await usage("verifyBlocked"))
    assert blocked == {"lowConversionMonitored": 2}


async def test_the_prefix_ip_and_total_limits(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    await configure(
        monkeypatch,
        SMS_VERIFY_LIMIT_PREFIX="3/1h",
        SMS_VERIFY_LIMIT_IP="2/1h",
        SMS_VERIFY_LIMIT_TOTAL="5/1d",
    )
    ip = {"context": {"ip": "203.0.113.9"}}
    assert reasons(await starts(["+13035550100", "+13035550101", "+13035550102"], **ip)) == [
        None,
        None,
        "perIp",
    ]
    assert reasons(await starts([f"+1303555{n:04d}" for n in range(103, 105)])) == [
        None,
        "perPrefix",  # +1303555 has had three
    ]
    assert reasons(await starts(["+13125550100", "+13125550101", "+13125550102"])) == [
        None,
        None,
        "total",
    ]
    blocked = Counter(r["Reason"] for r in await usage("verifyBlocked"))
    assert blocked == {"perIp": 1, "perPrefix": 1, "total": 1}


async def test_a_refused_start_leaves_its_idempotency_key_free(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    await configure(monkeypatch, SMS_VERIFY_LIMIT_NUMBER="1/10m")
    to = "+14255550142"
    assert reasons(await starts([to])) == [None]
    key = {"Idempotency-Key": "signin-refused"}
    refused = [await call("POST", body={"to": to}, headers=key) for _ in range(2)]
    # Refused both times for the limit, not "in progress": nothing was kept under the key.
    assert reasons(refused) == ["perNumber", "perNumber"]


async def test_a_code_goes_at_once_when_bulk_traffic_has_spent_its_sender(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    """The priority lane: bulk sends leave the bucket at its reserve, a code may spend half."""
    await configure(monkeypatch, SMS_RATE_PER_NUMBER_PER_MINUTE="12")  # reserve 2, codes 1
    to = "+14255550143"
    sender = ranked_senders(SENDERS, to)[0]
    bulk = [f"+1206555{n:04d}" for n in range(600, 620)]
    answer = response_json(
        await send_sms.main(
            http_request("POST", "sms", body={"to": bulk, "message": "sale today", "from": sender})
        )
    )
    statuses = Counter(r["status"] for r in answer["results"])
    assert statuses == {"accepted": 10, "queued": 10}  # 12 less the reserve of 2
    late = response_json(
        await send_sms.main(
            http_request("POST", "sms", body={"to": "+12065550620", "message": "x", "from": sender})
        )
    )
    assert late["results"][0]["status"] == "queued"  # bulk waits for the bucket
    status, started, _ = await call("POST", body={"to": to})
    assert (status, started["delivery"]) == (201, "accepted")  # the code does not
    [text] = sandbox_get(sandbox_url, "/sandbox/messages", to=to)
    assert text["from"] == sender
