"""Scheduled and paced sending through the outbox, against Azurite and the ACS sandbox."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import on_sms_received
import schedule_reminder
import send_sms
import sms_batches
from shared.dispatch import Dispatcher
from shared.outbox import OutboxDrainer
from shared.records import BatchRecord, MessageRecord
from shared.runtime import Services, close_services, get_services
from shared.send_request import parse_send_request
from shared.sending import SmsSender
from tests.conftest import SENDERS
from tests.helpers import (
    http_request,
    inbound_payload,
    response_json,
    sandbox_config,
    sandbox_get,
    sandbox_post,
    trigger_event,
)

pytestmark = pytest.mark.usefixtures("app_env")


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def post(body: dict[str, Any]) -> dict[str, Any]:
    response = await send_sms.main(http_request("POST", "sms", body=body))
    assert response.status_code == 202, response.get_body()
    result: dict[str, Any] = response_json(response)
    return result


async def view(message_id: str) -> dict[str, Any]:
    response = await send_sms.main(
        http_request("GET", f"sms/{message_id}", route_params={"id": message_id})
    )
    result: dict[str, Any] = response_json(response)
    return result


def drainer_for(
    services: Services,
    *,
    report_timeout: timedelta = timedelta(hours=1),
    clock: Callable[[], datetime] | None = None,
) -> OutboxDrainer:
    """A second outbox runner beside the app's own, at ACS's toll-free rate, no quiet hours."""
    options: dict[str, Any] = {"clock": clock} if clock else {}
    return OutboxDrainer(
        services.storage,
        Dispatcher(services.storage, services.acs, report_timeout=report_timeout, **options),
        services.reports,
        rate_per_minute=200,
        quiet_hours=None,
        report_timeout=report_timeout,
        **options,
    )


def planned_batch(to: list[str], now: datetime) -> tuple[BatchRecord, list[MessageRecord]]:
    """A send's records as the send plans them, before anything is written."""
    from shared.ids import new_batch_id
    from shared.phone import normalize_recipients
    from shared.send_plan import plan_batch

    request = parse_send_request({"to": to, "message": "hi"}, pool=SENDERS, default_region="US")
    recipients = normalize_recipients(to, "US")
    return plan_batch(request, recipients, set(), batch_id=new_batch_id(), pool=SENDERS, now=now)


async def tick() -> None:
    from azure.functions.timer import TimerRequest

    await schedule_reminder.main(TimerRequest(past_due=False))


async def test_a_scheduled_message_goes_out_once_after_its_time(sandbox_url: str) -> None:
    answer = await post({"to": "+12065550301", "message": "see you", "sendAt": soon(1.5)})
    [result] = answer["results"]
    assert result["status"] == "scheduled" and "dueAt" in result and answer["sendAt"]
    await tick()
    assert (await view(result["id"]))["status"] == "scheduled"  # not before its time
    assert sandbox_get(sandbox_url, "/sandbox/requests") == []
    await asyncio.sleep(1.6)
    await tick()
    await tick()
    message = await view(result["id"])
    assert message["status"] == "accepted"
    assert [h["status"] for h in message["history"]] == ["scheduled", "queued", "accepted"]
    assert len(sandbox_get(sandbox_url, "/sandbox/messages", to="+12065550301")) == 1


async def test_two_ticks_at_once_send_each_message_once(sandbox_url: str) -> None:
    to = [f"+1206555{i:04d}" for i in range(400, 430)]
    answer = await post({"to": to, "message": "reminder", "sendAt": soon(1)})
    await asyncio.sleep(1.2)
    services = await get_services()
    twin = drainer_for(services, report_timeout=timedelta(hours=1))
    await asyncio.gather(services.drainer.drain(), twin.drain(), services.drainer.drain())
    inbox = Counter(m["to"] for m in sandbox_get(sandbox_url, "/sandbox/messages"))
    assert inbox == Counter(to)  # everyone once, nobody twice
    batch = response_json(
        await sms_batches.main(
            http_request("GET", "sms/batches/x", route_params={"batchId": answer["batchId"]})
        )
    )
    assert (
        batch["counts"] == {"accepted": 30} and batch["done"] is True and batch["progress"] == 1.0
    )


async def test_stop_between_scheduling_and_due_time_cancels(sandbox_url: str) -> None:
    person = "+12065550302"
    answer = await post({"to": [person, "+12065550303"], "message": "promo", "sendAt": soon(1)})
    await on_sms_received.main(
        trigger_event(
            inbound_payload(sender=person, to=SENDERS[0], message="stop", event_id="in-1")
        )
    )
    first, second = answer["results"]
    message = await view(first["id"])
    assert message["status"] == "canceled"
    assert message["error"]["message"] == "the recipient opted out"
    await asyncio.sleep(1.2)
    await tick()
    assert (await view(second["id"]))["status"] == "accepted"
    assert sandbox_get(sandbox_url, "/sandbox/messages", to=person) == []


async def test_an_opt_out_after_scheduling_wins_at_send_time(sandbox_url: str) -> None:
    person = "+12065550304"
    answer = await post({"to": person, "message": "promo", "sendAt": soon(1)})
    services = await get_services()
    await services.storage.opt_outs.add(
        person, at=datetime.now(UTC), source="test"
    )  # no cancel ran
    await asyncio.sleep(1.2)
    await tick()
    assert (await view(answer["results"][0]["id"]))["status"] == "optedOut"
    assert sandbox_get(sandbox_url, "/sandbox/requests") == []


async def test_valid_until_expires_instead_of_sending_late(sandbox_url: str) -> None:
    answer = await post(
        {"to": "+12065550305", "message": "flash sale", "sendAt": soon(0.5), "validUntil": soon(1)}
    )
    await asyncio.sleep(1.2)
    await tick()
    message = await view(answer["results"][0]["id"])
    assert message["status"] == "expired"
    assert sandbox_get(sandbox_url, "/sandbox/requests") == []


async def test_cancel_by_request(sandbox_url: str) -> None:
    answer = await post({"to": "+12065550306", "message": "x", "sendAt": soon(60)})
    message_id = answer["results"][0]["id"]
    response = await send_sms.main(
        http_request("DELETE", f"sms/{message_id}", route_params={"id": message_id})
    )
    assert response.status_code == 200
    assert response_json(response)["status"] == "canceled"
    again = await send_sms.main(
        http_request("DELETE", f"sms/{message_id}", route_params={"id": message_id})
    )
    assert again.status_code == 409


async def test_quiet_hours_defer_to_the_window_end_in_the_recipients_zone(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    """A window around Seattle's current hour: Seattle waits for its end, New York (three hours
    later, outside the window) does not."""
    seattle, new_york = "+14255550140", "+12125550140"
    local = datetime.now(ZoneInfo("America/Los_Angeles"))
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    window = f"{start:%H}:00-{end:%H}:00"
    monkeypatch.setenv("SMS_QUIET_HOURS", window)
    await close_services()
    answer = await post({"to": [seattle, new_york], "message": "hi", "sendAt": soon(0.5)})
    await asyncio.sleep(0.8)
    await tick()
    held, sent = [await view(r["id"]) for r in answer["results"]]
    assert sent["status"] == "accepted"
    assert held["status"] == "scheduled"
    due = datetime.fromisoformat(held["dueAt"]).astimezone(ZoneInfo("America/Los_Angeles"))
    assert (due.hour, due.minute) == (end.hour, 0)
    assert timedelta(hours=1) < due - local <= timedelta(hours=2)
    assert sandbox_get(sandbox_url, "/sandbox/messages", to=seattle) == []


async def test_throttled_sends_are_queued_and_sent_after_retry_after(sandbox_url: str) -> None:
    sandbox_post(
        sandbox_url,
        "/sandbox/faults",
        {"kind": "status", "status": 429, "times": 1, "retryAfter": 1},
    )
    answer = await post({"to": "+12065550307", "message": "hello"})
    [result] = answer["results"]
    assert result["status"] == "queued"  # ACS said "later": nothing lost, nothing sent twice
    await asyncio.sleep(1.2)
    await tick()
    assert (await view(result["id"]))["status"] == "accepted"
    assert len(sandbox_get(sandbox_url, "/sandbox/messages", to="+12065550307")) == 1


async def test_batch_route_404(sandbox_url: str) -> None:
    response = await sms_batches.main(
        http_request("GET", "sms/batches/nope", route_params={"batchId": "nope"})
    )
    assert response.status_code == 404


def scaled_clock(scale: float) -> Callable[[], datetime]:
    start = datetime.now(UTC)
    began = time.monotonic()
    return lambda: start + timedelta(seconds=(time.monotonic() - began) * scale)


async def test_bulk_send_is_paced_at_the_pools_rate(sandbox_url: str) -> None:
    """2,000 recipients over 3 toll-free numbers at 200/min each, time-scaled 10×: the sandbox
    enforces ACS's limit, the app paces itself from its shared budget."""
    scale, recipients = 10.0, 2000
    sandbox_config(sandbox_url, ratePerMinute=200, timeScale=scale)
    services: Services = await get_services()
    clock = scaled_clock(scale)
    dispatcher = Dispatcher(
        services.storage, services.acs, report_timeout=timedelta(hours=1), clock=clock
    )
    sender = SmsSender(services.settings, services.storage, dispatcher, clock=clock)
    drainer = drainer_for(services, report_timeout=timedelta(hours=1), clock=clock)
    to = [f"+1206555{i:04d}" for i in range(recipients)]
    request = parse_send_request(
        {"to": to, "message": "Your order is ready"}, pool=SENDERS, default_region="US", now=clock()
    )
    started = clock()
    outcome = await sender.send(request, idempotency_key=None)
    first = Counter(m.status.value for m in outcome.messages)
    assert first["accepted"] + first["queued"] == recipients
    remaining = first["queued"]
    deadline = time.monotonic() + 60
    while remaining > 0 and time.monotonic() < deadline:
        report = await drainer.drain()  # what the timer does on every tick
        remaining -= (report.sent or Counter())["accepted"]
        await asyncio.sleep(0.01)
    finished = clock()
    counts = await services.storage.messages.status_counts(outcome.batch.batch_id)
    assert counts == {"accepted": recipients}
    inbox = Counter(m["to"] for m in sandbox_get(sandbox_url, "/sandbox/messages"))
    assert inbox == Counter(to)  # none lost, none twice
    throttled = sum(r["status"] == 429 for r in sandbox_get(sandbox_url, "/sandbox/requests"))
    # The rate ACS saw: a full bucket (one minute's worth per number) may go at once, then the
    # rest at the refill rate, so measure from the end of that burst to the last message.
    received = sorted(
        datetime.fromisoformat(m["receivedAt"])
        for m in sandbox_get(sandbox_url, "/sandbox/messages")
    )
    burst = first["accepted"]  # what the first minute's buckets let through at once
    span = (received[-1] - received[burst - 1]).total_seconds() * scale / 60
    achieved = (recipients - burst) / span
    allowed = 200 * len(SENDERS)
    total = (finished - started).total_seconds() / 60
    print(
        f"\npaced bulk: {recipients} recipients over {len(SENDERS)} numbers in {total:.2f} "
        f"scaled minutes; after the first minute's burst ACS saw {achieved:.0f}/min against "
        f"{allowed}/min allowed ({achieved / allowed:.0%}); 429s absorbed by retries: {throttled}"
    )
    assert achieved >= 0.95 * allowed
    assert throttled <= 10


def shifted(by: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + by


async def test_a_send_whose_process_died_is_finished_by_the_sweep(sandbox_url: str) -> None:
    """The request wrote its rows (claimed, with repeatability ids) and died before ACS: when
    the claim lapses the batch's sweep row brings the messages back, and they go out once."""
    from shared.send_plan import claim
    from shared.sending import outbox_rows

    services = await get_services()
    to = ["+12065550310", "+12065550311"]
    now = datetime.now(UTC)
    batch, planned = planned_batch(to, now)
    lease = timedelta(minutes=2)  # as the send writes them before calling ACS: claimed, with ids
    held = [replace(claim(m, now, lease), due_at=now + lease) for m in planned]
    await services.storage.outbox.add(outbox_rows(held, now, lease))
    await services.storage.messages.create_batch(batch, held)  # ...and the process dies here

    later = drainer_for(
        services, report_timeout=timedelta(hours=1), clock=shifted(timedelta(minutes=3))
    )
    await later.drain()  # the sweep: claims lapsed, back to the outbox
    await later.drain()  # sent, with the ids written before the crash
    found = await services.storage.messages.get_batch(batch.batch_id)
    assert found is not None
    assert [m.status.value for m in found[1]] == ["accepted", "accepted"]
    assert [m.repeatability_request_id for m in found[1]] == [
        m.repeatability_request_id for m in held
    ]
    inbox = Counter(m["to"] for m in sandbox_get(sandbox_url, "/sandbox/messages"))
    assert inbox == Counter(to)


async def test_no_delivery_report_in_time_becomes_unknown(sandbox_url: str) -> None:
    sandbox_config(sandbox_url, reportDelaySeconds=3600)  # ACS never reports within the test
    answer = await post({"to": ["+12065550312", "+12065550313"], "message": "hi"})
    services = await get_services()
    late = drainer_for(
        services, report_timeout=timedelta(minutes=30), clock=shifted(timedelta(minutes=31))
    )
    await late.drain()
    for result in answer["results"]:
        message = await view(result["id"])
        assert message["status"] == "unknown"
        assert "no delivery report" in message["history"][-1]["detail"]
    early = drainer_for(
        services, report_timeout=timedelta(minutes=30), clock=shifted(timedelta(minutes=31))
    )
    assert (await early.drain()).looked_at == 0  # nothing left to watch: the sweep row is gone


async def test_a_waiting_message_whose_row_was_lost_is_found_by_its_batchs_sweep(
    sandbox_url: str,
) -> None:
    """A failure can leave a message queued with no outbox row of its own (its state was saved,
    the row never written): the batch's sweep notices it overdue and files it again."""
    from shared.outbox_entry import sweep_entry

    services = await get_services()
    to = ["+12065550320"]
    past = datetime.now(UTC) - timedelta(minutes=5)
    batch, planned = planned_batch(to, past)
    await services.storage.messages.create_batch(batch, planned)  # queued, due 5 minutes ago
    await services.storage.outbox.add([sweep_entry(batch.batch_id, past)])  # only the sweep row
    drainer = drainer_for(services)
    await drainer.drain()  # the sweep files it again, due now
    await drainer.drain()  # and it goes
    found = await services.storage.messages.get_batch(batch.batch_id)
    assert found is not None and [m.status.value for m in found[1]] == ["accepted"]
    assert Counter(m["to"] for m in sandbox_get(sandbox_url, "/sandbox/messages")) == Counter(to)


async def test_a_report_acs_never_pushed_is_pulled_before_giving_up(sandbox_url: str) -> None:
    """Past the report deadline the outbox asks ACS (`GET /deliveryReports/{id}`): a report
    it has settles the message; only one ACS has no report for becomes `unknown`."""
    sandbox_config(sandbox_url, dropReports=1.0, reportDelaySeconds=0)  # never pushed
    answer = await post({"to": ["+12065550330", "+14255550191"], "message": "hi"})
    pushed_never, no_report_at_all = (r["id"] for r in answer["results"])
    await asyncio.sleep(0.3)  # ACS has made its report (and not pushed it)
    services = await get_services()
    late = drainer_for(
        services, report_timeout=timedelta(minutes=30), clock=shifted(timedelta(minutes=31))
    )
    await late.drain()
    settled = await view(pushed_never)
    assert settled["status"] == "delivered" and settled["deliveryStatus"] == "Delivered"
    unknown = await view(no_report_at_all)
    assert unknown["status"] == "unknown"
    assert "ACS has none" in unknown["history"][-1]["detail"]
