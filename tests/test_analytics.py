"""`GET /api/analytics` after a known story told through the real entry points (Azurite and the
ACS sandbox): sends with an invalid and an opted-out recipient, delivery reports with known
reasons and latencies, Event Grid duplicates, a reply and a STOP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import analytics
import on_delivery_report
import on_sms_received
import send_sms
from shared.clock import utcnow
from shared.rollups import hour_of, hours_between
from shared.rollups_refresh import CLOCK_SKEW, refresh_rollups
from shared.runtime import get_services
from shared.usage import UsageEvent
from tests.conftest import SENDERS
from tests.helpers import (
    delivery_report_payload,
    http_request,
    inbound_payload,
    response_json,
    sandbox_get,
    trigger_event,
)

S0, S1 = SENDERS[0], SENDERS[1]  # toll-free: an exact STOP gets no reply from us
A, B, C, D, E, F = (f"+120655501{n:02d}" for n in range(1, 7))
UK = "+447400123456"
LONG = "Spring sale: every plan is 20% off until Sunday. " * 4  # 2 segments (GSM-7, 196 chars)
# Milliseconds from the send to its report, chosen away from the histogram's bucket edges.
LATENCY = {A: 1_500, B: 3_000, UK: 1_500, D: 7_000, C: 1_200, F: 30_000}
FAILURES = {C: "4006: Destination unreachable", F: "5001: Temporary unavailability"}

TOTALS: dict[str, Any] = {
    "sent": 6,
    "accepted": 6,
    "rejected": 0,
    "unknown": 0,
    "invalid": 1,
    "optedOut": 1,
    "delivered": 4,
    "failed": 2,
    "segments": 8,
    "inbound": 3,
    "replies": 2,
    "optOuts": 2,
    "optIns": 0,
    "deliveryRate": 0.6667,
    "optOutRate": 0.3333,
    "replyRate": 0.3333,
    "failureReasons": [
        {"reason": "4006", "meaning": "Recipient unreachable", "count": 1},
        {"reason": "5001", "meaning": "Temporarily unavailable", "count": 1},
    ],
    # six reports: three in [1 s, 2 s), one each in [2 s, 5 s), [5 s, 10 s), [20 s, 50 s)
    "medianLatencyMs": 2_000,  # rank 3 of 6: the top of the first bucket
    "p95LatencyMs": 41_000,  # rank 5.7: 70% into [20 s, 50 s)
    # no one-time code in this story
    "verifications": {
        "started": 0,
        "approved": 0,
        "conversionRate": None,
        "blocked": 0,
        "blockedReasons": [],
    },
    "events": {"delivered": 0, "failed": 0, "deadLettered": 0, "byDestination": []},
}


@dataclass
class Scenario:
    """What the story left behind: the events to replay and the report's date range."""

    started: datetime
    duplicates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def params(self) -> dict[str, str]:
        # The story's rows are stamped up to a minute ahead: cover tomorrow near midnight.
        last = (utcnow() + timedelta(minutes=5)).date()
        return {"from": (self.started - timedelta(days=1)).date().isoformat(), "to": str(last)}


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def send(to: list[str], message: str, sender: str, tag: str) -> list[dict[str, Any]]:
    body = {"to": to, "message": message, "from": sender, "tag": tag}
    response = await send_sms.main(
        http_request("POST", "sms", body=body, headers={"Idempotency-Key": tag})
    )
    assert response.status_code == 202
    results: list[dict[str, Any]] = response_json(response)["results"]
    return results


async def sent_at(message_id: str) -> datetime:
    response = await send_sms.main(
        http_request("GET", f"sms/{message_id}", route_params={"id": message_id})
    )
    return datetime.fromisoformat(response_json(response)["sentAt"])


async def report(sandbox_url: str, result: dict[str, Any], sender: str) -> dict[str, Any]:
    to = result["to"]
    [received] = sandbox_get(sandbox_url, "/sandbox/messages", to=to)
    at = await sent_at(result["id"]) + timedelta(milliseconds=LATENCY[to])
    payload = delivery_report_payload(
        acs_message_id=result["acsMessageId"],
        sender=sender,
        to=to,
        tag=received["tag"],
        status="Failed" if to in FAILURES else "Delivered",
        details=FAILURES.get(to, "No error."),
        received=stamp(at),
        segments=received["segments"],
    )
    await on_delivery_report.main(trigger_event(payload))
    return payload


async def inbound(their: str, text: str, event_id: str, at: datetime) -> dict[str, Any]:
    payload = inbound_payload(
        sender=their, to=S0, message=text, event_id=event_id, received=stamp(at)
    )
    await on_sms_received.main(trigger_event(payload))
    return payload


async def run_scenario(sandbox_url: str) -> Scenario:
    """Six messages sent, one invalid and one opted out; four delivered, two failed; a reply
    from A, a STOP from B (who was texted) and one from E (who was not)."""
    story = Scenario(started=utcnow())
    await inbound(E, "STOP", "in-stop-e", utcnow())
    first = await send([A, B, C, UK, "not a number", E], "Your order has shipped", S0, "orders")
    assert [r["status"] for r in first] == ["accepted"] * 4 + ["invalid", "optedOut"]
    second = await send([D, F], LONG, S1, "promo")
    assert [r["status"] for r in second] == ["accepted"] * 2
    reports = {r["to"]: await report(sandbox_url, r, S0) for r in first[:4]}
    reports |= {r["to"]: await report(sandbox_url, r, S1) for r in second}
    later = utcnow() + timedelta(seconds=40)
    thanks = await inbound(A, "Thanks, see you then", "in-thanks-a", later)
    stop = await inbound(B, "STOP", "in-stop-b", later + timedelta(seconds=1))
    story.duplicates = [reports[A], reports[C], reports[F], thanks, stop]
    return story


async def replay(story: Scenario) -> None:
    for payload in story.duplicates:
        if payload["eventType"].endswith("SMSReceived"):
            await on_sms_received.main(trigger_event(payload))
        else:
            await on_delivery_report.main(trigger_event(payload))
    again = await send([D, F], LONG, S1, "promo")  # the same Idempotency-Key: nothing sent
    assert [r["status"] for r in again] == ["delivered", "failed"]


async def get_analytics(**params: str) -> dict[str, Any]:
    response = await analytics.main(http_request("GET", "analytics", params=params))
    assert response.status_code == 200, response.get_body()
    result: dict[str, Any] = response_json(response)
    return result


def always(now: datetime) -> list[str]:
    """The hours every refresh recomputes: the previous, the current, and the next near its start."""
    return hours_between(now - timedelta(hours=1), now + CLOCK_SKEW)


@pytest.mark.usefixtures("app_env")
async def test_the_story_counted_exactly_and_once(sandbox_url: str) -> None:
    story = await run_scenario(sandbox_url)
    answer = await get_analytics(**story.params)
    assert answer["totals"] == TOTALS
    assert answer["groupBy"] == "day"
    assert [e["key"] for e in answer["series"]] == sorted(e["key"] for e in answer["series"])
    assert sum(e["sent"] for e in answer["series"]) == 6
    assert sum(e["replies"] for e in answer["series"]) == 2
    assert len(answer["busiestHours"]) == 24
    assert sum(h["sent"] for h in answer["busiestHours"]) == 6
    assert answer["busiestHours"][story.started.hour]["sent"] >= 4

    await replay(story)  # Event Grid duplicates and a repeated send
    assert await refresh_rollups(
        (await get_services()).storage.usage, utcnow(), min_interval=timedelta(0)
    )
    again = await get_analytics(**story.params)
    assert again["totals"] == TOTALS
    assert again["series"] == answer["series"]


@pytest.mark.usefixtures("app_env")
async def test_grouped_by_sender_country_and_tag(sandbox_url: str) -> None:
    story = await run_scenario(sandbox_url)
    by_sender = await get_analytics(**story.params, groupBy="sender")
    assert by_sender["totals"] == TOTALS
    s0, s1, unsent = by_sender["series"]
    assert (unsent["key"], unsent["invalid"], unsent["sent"]) == (None, 1, 0)  # never had one
    assert (s0["key"], s0["sent"], s0["invalid"], s0["optedOut"]) == (S0, 4, 0, 1)
    assert (s0["delivered"], s0["failed"], s0["segments"]) == (3, 1, 4)
    assert (s0["inbound"], s0["replies"], s0["optOuts"], s0["deliveryRate"]) == (3, 2, 2, 0.75)
    assert (s0["medianLatencyMs"], s0["p95LatencyMs"]) == (1_667, 4_400)
    assert s0["failureReasons"] == [
        {"reason": "4006", "meaning": "Recipient unreachable", "count": 1}
    ]
    assert (s1["key"], s1["sent"], s1["segments"], s1["delivered"], s1["failed"]) == (
        S1,
        2,
        4,
        1,
        1,
    )
    assert (s1["medianLatencyMs"], s1["p95LatencyMs"], s1["inbound"]) == (10_000, 47_000, 0)

    by_country = await get_analytics(**story.params, groupBy="country", top="1")
    assert [(e["key"], e["sent"], e["delivered"]) for e in by_country["series"]] == [
        ("US", 5, 3),
        ("GB", 1, 1),
        (None, 0, 0),  # the invalid number has no country
    ]
    us = by_country["series"][0]
    assert (us["optedOut"], us["failed"], us["optOuts"], us["replies"]) == (1, 2, 2, 2)
    assert us["failureReasons"] == [
        {"reason": "4006", "meaning": "Recipient unreachable", "count": 1}
    ]  # top=1
    assert by_country["series"][2]["invalid"] == 1

    by_tag = await get_analytics(**story.params, groupBy="tag")
    assert [(e["key"], e["sent"], e["segments"]) for e in by_tag["series"]] == [
        ("orders", 4, 4),
        ("promo", 2, 4),
        (None, 0, 0),  # inbound messages carry no tag
    ]
    untagged = by_tag["series"][2]
    assert (untagged["inbound"], untagged["replies"], untagged["optOutRate"]) == (3, 2, None)
    for answer in (by_sender, by_country, by_tag):
        assert sum(e["sent"] for e in answer["series"]) == TOTALS["sent"]
        assert sum(e["delivered"] for e in answer["series"]) == TOTALS["delivered"]
        assert answer["totals"]["failureReasons"] == TOTALS["failureReasons"][: answer["top"]]


@pytest.mark.usefixtures("app_env")
async def test_defaults_and_empty_days() -> None:
    before = utcnow().date()
    answer = await get_analytics()
    after = utcnow().date()  # the call may straddle UTC midnight: either day is right
    assert answer["to"] in (str(before), str(after))
    to = date.fromisoformat(answer["to"])
    assert answer["from"] == str(to - timedelta(days=29))
    assert len(answer["series"]) == 30
    assert answer["totals"]["sent"] == 0
    assert answer["totals"]["deliveryRate"] is None
    assert answer["totals"]["medianLatencyMs"] is None


@pytest.mark.usefixtures("app_env")
async def test_late_rows_are_noticed_and_old_hours_computed_on_demand() -> None:
    store = (await get_services()).storage.usage
    now = utcnow()
    assert await refresh_rollups(store, now) >= 2  # the current and previous hours at least
    assert await refresh_rollups(store, now + timedelta(seconds=10)) == 0  # within a minute

    # A report redelivered by Event Grid hours later lands in an hour already rolled up.
    five_ago = now - timedelta(hours=5)
    late = UsageEvent("delivered", five_ago, "late-1", sender=S0, country="US", latency_ms=900)
    await store.record([late])
    later = now + timedelta(minutes=2)
    assert await refresh_rollups(store, later) == len(always(later)) + 1
    assert await refresh_rollups(store, later + timedelta(minutes=2)) == len(
        always(later + timedelta(minutes=2))
    )
    rollups, markers = await store.read_rollups(str(five_ago.date()), str(five_ago.date()), ["all"])
    assert markers[hour_of(five_ago)].raw_rows == 1
    [counted] = [r for r in rollups if r.hour == hour_of(five_ago) and r.dimension == "all"]
    assert (counted.tally["delivered"], counted.tally.latency_quantile(0.5)) == (1, 750)

    # A day beyond the refresh window, never rolled up: the API computes its hours itself.
    old = now - timedelta(days=3)
    await store.record(
        [UsageEvent("accepted", old, f"old-{i}", sender=S1, segments=2) for i in range(3)]
    )
    day = str(old.date())
    answer = await get_analytics(**{"from": day, "to": day})
    assert (answer["totals"]["sent"], answer["totals"]["segments"]) == (3, 6)
    assert answer["busiestHours"][old.hour]["sent"] == 3
    _, markers = await store.read_rollups(day, day, ["all"])
    assert hour_of(old) in markers  # stored: the next report reads it
    assert len(markers) == 24 - int(hour_of(old)[11:13])  # from its first usage on


@pytest.mark.parametrize(
    ("params", "target"),
    [
        ({"from": "2030-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"to": "20300101"}, "to"),
        ({"from": "2030-02-01", "to": "2030-01-01"}, "from"),
        ({"from": "2029-01-01", "to": "2030-01-02"}, "from"),  # 367 days
        ({"groupBy": "week"}, "groupBy"),
        ({"top": "0"}, "top"),
        ({"top": "many"}, "top"),
    ],
)
async def test_bad_parameters_answer_400_naming_them(params: dict[str, str], target: str) -> None:
    response = await analytics.main(http_request("GET", "analytics", params=params))
    assert response.status_code == 400
    assert response_json(response)["error"]["target"] == target
