"""Delivery reports, inbound messages and Event Grid's delivery rules, seen from the webhook."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from local.acs_sandbox import NO_REPORT_NUMBER, NONEXISTENT_NUMBER, UNAVAILABLE_NUMBER
from local.acs_sandbox.config import SandboxConfig
from local.acs_sandbox.events import DELIVERY_REPORT_RECEIVED, SMS_RECEIVED
from local.acs_sandbox.testing import EventReceiver, SignedClient, serve

SENDER = "+18005550100"
ALICE = "+14255550123"
BOB = "+14255550124"
SEVEN_DIGITS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z")
FAST = SandboxConfig(time_scale=100.0, report_delay_seconds=0.0)


@pytest.fixture
async def receiver() -> AsyncIterator[EventReceiver]:
    async with EventReceiver() as rx:
        yield rx


@pytest.fixture
async def acs(receiver: EventReceiver) -> AsyncIterator[SignedClient]:
    config = dataclasses.replace(FAST, events_url=receiver.url)
    async with serve(config) as url, SignedClient(url) as client:
        yield client


async def configure(acs: SignedClient, **settings: Any) -> None:
    (await acs.http.put("/sandbox/config", json=settings)).raise_for_status()


async def event_log(acs: SignedClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await acs.http.get("/sandbox/events")).json()["value"]
    return entries


async def inbound(acs: SignedClient, handset: str, text: str, to: str = SENDER) -> str:
    response = await acs.http.post(
        "/sandbox/inbound", json={"from": handset, "to": to, "message": text}
    )
    assert response.status_code == 202
    return str(response.json()["messageId"])


async def test_delivery_report_event(acs, receiver):
    sent = await acs.send_sms(SENDER, [ALICE], "ünïcode ✓", tag="campaign-7")
    message_id = sent.json()["value"][0]["messageId"]
    (delivery,) = await receiver.wait_for(1)

    assert delivery.function_name == "on_delivery_report"
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["aeg-event-type"] == "Notification"
    assert headers["aeg-subscription-name"] == "SANDBOX"
    assert headers["aeg-delivery-count"] == "0"
    assert (headers["aeg-data-version"], headers["aeg-metadata-version"]) == ("1.0", "1")
    assert isinstance(delivery.body, list)
    (event,) = delivery.body
    assert event["id"] == message_id
    assert event["eventType"] == DELIVERY_REPORT_RECEIVED
    assert event["subject"] == "/phonenumber/18005550100"
    assert (event["dataVersion"], event["metadataVersion"]) == ("1.0", "1")
    data = event["data"]
    assert data["messageId"] == message_id
    assert (data["from"], data["to"], data["tag"]) == (SENDER, ALICE, "campaign-7")
    assert (data["deliveryStatus"], data["deliveryStatusDetails"]) == ("Delivered", "No error.")
    assert SEVEN_DIGITS.fullmatch(data["receivedTimestamp"])
    (attempt,) = data["deliveryAttempts"]
    assert (attempt["segmentsSucceeded"], attempt["segmentsFailed"]) == (1, 0)
    assert EventGridEvent.from_dict(event).event_type == DELIVERY_REPORT_RECEIVED


async def test_no_report_event_unless_asked(acs, receiver):
    await acs.send_sms(SENDER, [ALICE], "quiet", delivery_report=False)
    await acs.send_sms(SENDER, [BOB], "loud")
    await receiver.wait_for(1)
    await asyncio.sleep(0.1)
    assert [e["data"]["to"] for e in receiver.events()] == [BOB]


async def test_cloud_events_with_pascal_case_data(acs, receiver):
    await configure(acs, eventSchema="CloudEvents", eventCasing="pascal")
    await acs.send_sms(SENDER, [ALICE], "hi")
    (delivery,) = await receiver.wait_for(1)

    assert delivery.headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
    assert isinstance(delivery.body, dict)
    assert delivery.body["specversion"] == "1.0"
    assert delivery.body["data"]["DeliveryAttempts"][0]["SegmentsSucceeded"] == 1
    cloud_event: CloudEvent[dict[str, Any]] = CloudEvent.from_dict(delivery.body)
    assert cloud_event.type == DELIVERY_REPORT_RECEIVED
    assert cloud_event.data is not None
    assert cloud_event.data["MessageId"] == cloud_event.id


async def test_simulator_numbers(acs, receiver):
    await acs.send_sms(
        SENDER, [NONEXISTENT_NUMBER, NO_REPORT_NUMBER, UNAVAILABLE_NUMBER, ALICE], "x"
    )
    await receiver.wait_for(3)
    await asyncio.sleep(0.1)

    outcomes = {e["data"]["to"]: e["data"] for e in receiver.events()}
    assert set(outcomes) == {NONEXISTENT_NUMBER, UNAVAILABLE_NUMBER, ALICE}
    assert outcomes[NONEXISTENT_NUMBER]["deliveryStatus"] == "Failed"
    assert outcomes[NONEXISTENT_NUMBER]["deliveryStatusDetails"].startswith("4004:")
    assert outcomes[UNAVAILABLE_NUMBER]["deliveryStatusDetails"].startswith("5001:")
    assert outcomes[ALICE]["deliveryStatus"] == "Delivered"
    inbox = (await acs.http.get("/sandbox/messages")).json()["value"]
    assert {m["to"] for m in inbox} == {NO_REPORT_NUMBER, ALICE}


async def test_inbound_message_event(acs, receiver):
    message_id = await inbound(acs, ALICE, "Hello 👋")
    (delivery,) = await receiver.wait_for(1)

    assert delivery.function_name == "on_sms_received"
    (event,) = delivery.events
    assert message_id.startswith("Incoming_")
    assert event["id"] == event["data"]["messageId"] == message_id
    assert event["eventType"] == SMS_RECEIVED
    assert event["subject"] == "/phonenumber/18005550100"
    data = event["data"]
    assert (data["from"], data["to"], data["message"], data["segmentCount"]) == (
        ALICE,
        SENDER,
        "Hello 👋",
        1,
    )
    assert SEVEN_DIGITS.fullmatch(data["receivedTimestamp"])


async def test_inbound_stop_to_toll_free_blocks_the_pair(acs, receiver):
    await inbound(acs, ALICE, "  stop ")
    blocked = await acs.send_sms(SENDER, [ALICE, BOB], "a" * 200)
    await receiver.wait_for(3)

    assert blocked.status_code == 202
    assert all(item["successful"] for item in blocked.json()["value"])
    reports = {e["data"]["to"]: e["data"] for e in receiver.events(DELIVERY_REPORT_RECEIVED)}
    assert reports[ALICE]["deliveryStatus"] == "Failed"
    assert reports[ALICE]["deliveryStatusDetails"] == "Sender blocked for given recipient."
    attempt = reports[ALICE]["deliveryAttempts"][0]
    assert (attempt["segmentsSucceeded"], attempt["segmentsFailed"]) == (0, 2)
    assert reports[BOB]["deliveryStatus"] == "Delivered"
    inbox = (await acs.http.get("/sandbox/messages")).json()["value"]
    assert [m["to"] for m in inbox] == [BOB]
    # The keyword itself is still relayed to the app, as ACS does.
    assert receiver.events(SMS_RECEIVED)[0]["data"]["message"] == "  stop "

    await inbound(acs, ALICE, "UNSTOP")
    await acs.send_sms(SENDER, [ALICE], "welcome back")
    await receiver.wait_for(5)
    assert receiver.events(DELIVERY_REPORT_RECEIVED)[-1]["data"]["deliveryStatus"] == "Delivered"


async def test_stop_to_another_sender_or_inside_a_sentence_blocks_nothing(acs, receiver):
    await inbound(acs, ALICE, "please stop")
    await acs.send_sms(SENDER, [ALICE], "still allowed")
    await receiver.wait_for(2)
    assert receiver.events(DELIVERY_REPORT_RECEIVED)[0]["data"]["deliveryStatus"] == "Delivered"


async def test_event_is_retried_after_500():
    async with EventReceiver(statuses=[500]) as receiver:
        config = dataclasses.replace(FAST, events_url=receiver.url)
        async with serve(config) as url, SignedClient(url) as acs:
            await acs.send_sms(SENDER, [ALICE], "hi")
            first, second = await receiver.wait_for(2)
            (entry,) = await event_log(acs)

    assert first.body == second.body
    assert (first.headers["aeg-delivery-count"], second.headers["aeg-delivery-count"]) == ("0", "1")
    assert (entry["attempts"], entry["state"], entry["lastStatus"]) == (2, "delivered", 202)


async def test_event_is_not_retried_after_400():
    async with EventReceiver(statuses=[400]) as receiver:
        config = dataclasses.replace(FAST, events_url=receiver.url)
        async with serve(config) as url, SignedClient(url) as acs:
            await acs.send_sms(SENDER, [ALICE], "hi")
            await receiver.wait_for(1)
            await asyncio.sleep(0.3)  # three times the first retry delay at this time scale
            (entry,) = await event_log(acs)

    assert len(receiver.deliveries) == 1
    assert (entry["attempts"], entry["state"], entry["deadLettered"]) == (1, "deadLettered", True)
    assert entry["deadLetterReason"] == "NonRetriableStatus"


async def test_unreachable_webhook_is_retried_and_reset_cancels_it():
    config = dataclasses.replace(FAST, events_url="http://127.0.0.1:9")
    async with serve(config) as url, SignedClient(url) as acs:
        await acs.send_sms(SENDER, [ALICE], "hi")
        for _ in range(100):
            log = await event_log(acs)
            if log and log[0]["attempts"] >= 2:
                break
            await asyncio.sleep(0.02)
        assert log[0]["state"] == "pending"
        assert log[0]["lastError"]
        await acs.http.post("/sandbox/reset")
        assert await event_log(acs) == []


async def test_duplicate_events(acs, receiver):
    await configure(acs, duplicateEvents=1.0)
    await acs.send_sms(SENDER, [ALICE], "twice")
    first, second = await receiver.wait_for(2)

    assert first.body == second.body
    assert [e["duplicate"] for e in await event_log(acs)] == [False, True]


async def test_dropped_reports_are_never_pushed_but_can_be_pulled(acs, receiver):
    await configure(acs, dropReports=1.0)
    sent = await acs.send_sms(SENDER, [ALICE], "lost report")
    message_id = sent.json()["value"][0]["messageId"]
    await asyncio.sleep(0.1)

    assert receiver.deliveries == []
    pulled = await acs.call("GET", f"/deliveryReports/{message_id}?api-version=2026-01-23")
    assert pulled.json()["deliveryStatus"] == "Delivered"


async def test_reordered_events(acs, receiver):
    await configure(acs, reorderEvents=True, reorderWindowSeconds=10)
    recipients = [f"+1425555{i:04d}" for i in range(200, 210)]
    await acs.send_sms(SENDER, recipients, "shuffle")
    await receiver.wait_for(10)

    arrived = [e["data"]["to"] for e in receiver.events()]
    assert sorted(arrived) == recipients
    assert arrived != recipients  # 1 in 3.6 million chance of a false failure


async def test_report_delay_is_time_scaled(acs, receiver):
    await configure(acs, reportDelaySeconds=30)  # 0.3 s at time scale 100
    await acs.send_sms(SENDER, [ALICE], "later")
    await asyncio.sleep(0.1)
    assert receiver.deliveries == []
    await receiver.wait_for(1, within=2)
