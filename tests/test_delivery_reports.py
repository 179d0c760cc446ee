"""`on_delivery_report` through its real entry point, against Azurite and the ACS sandbox."""

from __future__ import annotations

from typing import Any

import pytest

import on_delivery_report
import send_sms
from shared.conflicts import save_reapplying
from shared.dispatch import reapply_outcome
from shared.errors import StoreUnavailableError
from shared.runtime import get_services
from shared.tables.parked_events import POISON
from tests.conftest import SENDERS
from tests.helpers import (
    delivery_report_payload,
    http_request,
    response_json,
    sandbox_get,
    trigger_event,
)

pytestmark = pytest.mark.usefixtures("app_env")
T1, T2, T3 = "2030-01-01T00:00:10.1234567Z", "2030-01-01T00:00:20.1234567Z", "2030-01-01T00:00:30Z"


async def send(to: str, sandbox_url: str, sender: str = SENDERS[0]) -> dict[str, Any]:
    response = await send_sms.main(
        http_request("POST", "sms", body={"to": to, "message": "hello", "from": sender})
    )
    result: dict[str, Any] = response_json(response)["results"][0]
    [received] = sandbox_get(sandbox_url, "/sandbox/messages", to=to)
    result["tag"] = received["tag"]
    result["from"] = sender
    return result


async def report(sent: dict[str, Any], **kwargs: Any) -> None:
    payload = delivery_report_payload(
        acs_message_id=sent["acsMessageId"],
        sender=sent["from"],
        to=sent["to"],
        tag=sent["tag"],
        **kwargs,
    )
    await on_delivery_report.main(trigger_event(payload))


async def view(message_id: str) -> dict[str, Any]:
    response = await send_sms.main(
        http_request("GET", f"sms/{message_id}", route_params={"id": message_id})
    )
    result: dict[str, Any] = response_json(response)
    return result


async def test_delivered_report_records_the_facts(sandbox_url: str) -> None:
    sent = await send("+12065550101", sandbox_url)
    await report(sent, received=T1, segments=2)
    message = await view(sent["id"])
    assert message["status"] == "delivered"
    assert message["deliveredAt"] == "2030-01-01T00:00:10.123Z"
    assert message["deliveryStatusDetails"] == "No error."
    assert (message["deliveryStatus"], message["deliveryAttempts"]) == ("Delivered", 1)
    assert (message["segmentsSucceeded"], message["segmentsFailed"]) == (2, 0)
    assert message["deliveryMs"] > 0  # from sentAt to the report's receivedTimestamp
    assert [h["status"] for h in message["history"]] == ["queued", "accepted", "delivered"]


async def test_duplicates_and_late_reports_change_nothing(sandbox_url: str) -> None:
    sent = await send("+12065550102", sandbox_url)
    await report(sent, received=T2)
    before = await view(sent["id"])
    await report(sent, received=T2)  # Event Grid duplicate
    await report(sent, received=T1, status="Failed", details="5000: Failed")  # older, arrives late
    await report(sent, received=T3, status="Failed", details="5000: Failed")  # newer, but final
    assert await view(sent["id"]) == before


async def test_reordered_reports_keep_the_newest(sandbox_url: str) -> None:
    sent = await send("+12065550103", sandbox_url)
    await report(sent, received=T2, status="Failed", details="4006: Destination unreachable")
    await report(sent, received=T1)  # an older Delivered arriving second
    message = await view(sent["id"])
    assert message["status"] == "failed"
    assert message["deliveryStatusDetails"] == "4006: Destination unreachable"


async def test_unknown_status_is_recorded_not_fatal(sandbox_url: str) -> None:
    sent = await send("+12065550104", sandbox_url)
    await report(sent, received=T1, status="Rerouted", details="1234: something new")
    message = await view(sent["id"])
    assert message["status"] == "accepted"
    assert message["deliveryStatusDetails"] == "1234: something new"
    assert "Rerouted" in message["history"][-1]["detail"]
    await report(sent, received=T2)  # a later real answer still settles it
    assert (await view(sent["id"]))["status"] == "delivered"


async def test_expired_counts_as_failed_and_pascal_case_is_read(sandbox_url: str) -> None:
    sent = await send("+12065550105", sandbox_url)
    await report(sent, received=T1, status="Expired", details="5002: Delivery timeout", pascal=True)
    message = await view(sent["id"])
    assert message["status"] == "failed"
    assert message["deliveryStatusDetails"] == "5002: Delivery timeout"


async def test_report_before_the_send_is_recorded_as_accepted(sandbox_url: str) -> None:
    """ACS can report before our own 'accepted' write lands: the report wins, nothing is lost."""
    from dataclasses import replace

    from shared.status import Status

    services = await get_services()
    sent = await send("+12065550106", sandbox_url)
    batch_id, index = sent["id"].rsplit("-", 1)
    found = await services.storage.messages.get_batch(batch_id)
    assert found is not None
    stored = found[1][int(index)]
    # Put the row back to its pre-ACS state, as if the send's update had not landed yet.
    queued = await services.storage.messages.update_one(
        replace(
            stored,
            status=Status.QUEUED,
            acs_message_id=None,
            sent_at=None,
            history=stored.history[:1],
        )
    )
    await report(sent, received=T1)
    assert (await view(sent["id"]))["status"] == "delivered"
    # The send's own update now arrives with a stale ETag: it is re-applied, not forced.
    late = queued.advance(Status.ACCEPTED, queued.created_at, acs_message_id=sent["acsMessageId"])
    await save_reapplying(services.storage.messages, [late], reapply_outcome)
    message = await view(sent["id"])
    assert message["status"] == "delivered"
    assert message["acsMessageId"] == sent["acsMessageId"]


async def test_carrier_block_becomes_a_sender_scoped_opt_out(sandbox_url: str) -> None:
    sent = await send("+12065550107", sandbox_url, sender=SENDERS[1])
    await report(sent, received=T1, status="Failed", details="Sender blocked for given recipient.")
    again_same = response_json(
        await send_sms.main(
            http_request("POST", "sms", body={"to": sent["to"], "message": "x", "from": SENDERS[1]})
        )
    )
    assert again_same["results"][0]["status"] == "optedOut"
    other = response_json(
        await send_sms.main(
            http_request("POST", "sms", body={"to": sent["to"], "message": "x", "from": SENDERS[0]})
        )
    )
    assert other["results"][0]["status"] == "accepted"
    services = await get_services()
    entries, _ = await services.storage.consent.list(sent["to"], limit=10, continuation=None)
    assert [(e.action, e.scope, e.source, e.last_message_id) for e in entries] == [
        ("optOut", SENDERS[1], "carrier", sent["id"])
    ]


async def test_report_that_is_not_ours_is_kept_not_dropped() -> None:
    payload = delivery_report_payload(
        acs_message_id="Outgoing_elsewhere",
        sender="+18005550100",
        to="+12065550108",
        tag="other-app",
    )
    await on_delivery_report.main(trigger_event(payload))
    services = await get_services()
    kept = await services.storage.parked.list_orphan_reports()
    assert [k["PartitionKey"] for k in kept] == ["Outgoing_elsewhere"]


@pytest.mark.parametrize(
    "data",
    [
        {
            "from": "+18005550100",
            "to": "+12065550109",
            "deliveryStatus": "Delivered",
            "receivedTimestamp": T1,
        },
        {
            "messageId": "m",
            "from": "+18005550100",
            "to": "+12065550109",
            "deliveryStatus": "Delivered",
            "receivedTimestamp": "yesterday",
        },
        {
            "messageId": "m",
            "from": "+18005550100",
            "to": "+12065550109",
            "deliveryStatus": 7,
            "receivedTimestamp": T1,
        },
        {
            "messageId": "m",
            "from": "x",
            "to": "y",
            "deliveryStatus": "Delivered",
            "receivedTimestamp": T1,
            "deliveryAttempts": "many",
        },
    ],
)
async def test_malformed_report_is_parked_and_acknowledged(data: dict[str, Any]) -> None:
    payload = delivery_report_payload(
        acs_message_id="m", sender="+1", to="+1", tag=None, event_id="bad-1"
    )
    payload["data"] = data
    await on_delivery_report.main(trigger_event(payload))  # does not raise: no retry loop
    services = await get_services()
    # Filed under the day it arrived, whichever that was: read the table whole.
    [parked] = await services.storage.gateway.first_rows(POISON, 10)
    assert parked["RowKey"] == "bad-1"
    assert parked["Reason"]


async def test_storage_outage_raises_so_event_grid_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from local.stack import azurite_tables_connection_string, free_port
    from shared.runtime import close_services

    monkeypatch.setenv("TABLES_CONNECTION_STRING", azurite_tables_connection_string(free_port()))
    await close_services()
    payload = delivery_report_payload(
        acs_message_id="m",
        sender="+18005550100",
        to="+12065550110",
        tag="01ARZ3NDEKTSV4RRFFQ69G5FAV.0.0",
    )
    with pytest.raises(StoreUnavailableError):
        await on_delivery_report.main(trigger_event(payload))


async def test_a_report_kept_for_want_of_its_message_is_applied_when_it_appears() -> None:
    """Whatever the cause (a table restored from backup, another deployment's prefix), a report
    whose message is not there yet is kept, and a later tick applies it once it is."""
    from datetime import UTC, datetime, timedelta

    from shared.ids import new_batch_id
    from shared.phone import normalize_recipients
    from shared.records import acs_tag
    from shared.send_plan import claim, plan_batch
    from shared.send_request import parse_send_request
    from shared.status import Status

    services = await get_services()
    to, batch_id = "+12065550120", new_batch_id()
    payload = delivery_report_payload(
        acs_message_id="Outgoing_later",
        sender=SENDERS[0],
        to=to,
        tag=acs_tag(batch_id, [0]),
        received=T1,
    )
    await on_delivery_report.main(trigger_event(payload))
    assert len(await services.storage.parked.list_orphan_reports()) == 1
    now = datetime.now(UTC)
    assert await services.reports.retry_kept(now) == 0  # still nothing to apply it to

    request = parse_send_request(
        {"to": to, "message": "hi", "from": SENDERS[0]}, pool=SENDERS, default_region="US"
    )
    batch, [message] = plan_batch(
        request, normalize_recipients([to], "US"), set(), batch_id=batch_id, pool=SENDERS, now=now
    )
    sent = claim(message, now, timedelta(minutes=2)).advance(
        Status.ACCEPTED, now, acs_message_id="Outgoing_later", sent_at=now
    )
    await services.storage.messages.create_batch(batch, [sent])
    assert await services.reports.retry_kept(now) == 1
    assert (await view(f"{batch_id}-0"))["status"] == "delivered"
    assert await services.storage.parked.list_orphan_reports() == []


async def test_a_report_with_a_hostile_id_is_kept_in_a_bounded_form() -> None:
    """A 20,000-character message id (with characters keys may not hold) cannot be a table key
    as it is: the report is kept under a bounded key and acknowledged, not failed for a day."""
    hostile = "Outgoing_" + "/#?\\" * 5000
    payload = delivery_report_payload(
        acs_message_id=hostile,
        sender="+18005550100",
        to="+14255550123",
        tag=None,
        event_id="e" * 20000,
    )
    await on_delivery_report.main(trigger_event(payload))  # does not raise
    services = await get_services()
    [kept] = await services.storage.parked.list_orphan_reports()
    assert len(kept["PartitionKey"]) <= 200 and len(kept["RowKey"]) <= 200
    await on_delivery_report.main(trigger_event(payload))  # a repeat rewrites the same row
    assert len(await services.storage.parked.list_orphan_reports()) == 1
