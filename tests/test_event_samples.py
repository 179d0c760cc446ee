"""The event samples of the Event Grid documentation for ACS SMS, verbatim, through the real
handlers: camelCase Event Grid schema, and the PascalCase CloudEvents sample."""

from __future__ import annotations

from typing import Any

import pytest

import on_delivery_report
import on_sms_received
from shared.events import DELIVERY_REPORT, SMS_RECEIVED
from shared.runtime import get_services
from shared.tables.parked_events import POISON
from tests.helpers import trigger_event

pytestmark = pytest.mark.usefixtures("app_env")

TOPIC = (
    "/subscriptions/{subscription-id}/resourceGroups/{group-name}/providers/microsoft.communication"
    "/communicationservices/{communication-services-resource-name}"
)

DELIVERY_REPORT_EVENT_GRID: dict[str, Any] = {
    "id": "Outgoing_202009180022138813a09b-0cbf-4304-9b03-1546683bb910",
    "topic": TOPIC,
    "subject": "/phonenumber/15555555555",
    "data": {
        "messageId": "Outgoing_202009180022138813a09b-0cbf-4304-9b03-1546683bb910",
        "from": "15555555555",
        "to": "+15555555555",
        "deliveryStatus": "Delivered",
        "deliveryStatusDetails": "No error.",
        "receivedTimestamp": "2020-09-18T00:22:20.2855749Z",
        "deliveryAttempts": [
            {
                "timestamp": "2020-09-18T00:22:14.9315918Z",
                "segmentsSucceeded": 1,
                "segmentsFailed": 0,
            }
        ],
        "tag": "Optional customer-tag set in the original message",
    },
    "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
    "dataVersion": "1.0",
    "metadataVersion": "1",
    "eventTime": "2020-09-18T00:22:20Z",
}

SMS_RECEIVED_EVENT_GRID: dict[str, Any] = {
    "id": "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
    "topic": "/subscriptions/{subscription-id}/resourcegroups/acse2e/providers/microsoft.communication/communicationservices/{communication-services-resource-name}",
    "subject": "/phonenumber/15555555555",
    "data": {
        "messageId": "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
        "from": "15555555555",
        "to": "15555555555",
        "message": "Great to connect with ACS events",
        "receivedTimestamp": "2020-09-18T00:27:45.32Z",
        "segmentCount": 1,
    },
    "eventType": "Microsoft.Communication.SMSReceived",
    "dataVersion": "1.0",
    "metadataVersion": "1",
    "eventTime": "2020-09-18T00:27:47Z",
}

SMS_RECEIVED_CLOUD_EVENT: dict[str, Any] = {
    "source": "/subscriptions/{subscription-id}/resourceGroups/{group-name}/providers/microsoft.communication/communicationservices/{communication-services-resource-name}",
    "subject": "/phonenumber/15555555555",
    "type": "Microsoft.Communication.SMSReceived",
    "time": "2020-09-18T00:27:47.0000000Z",
    "id": "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
    "data": {
        "MessageId": "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
        "From": "15555555555",
        "To": "15555555555",
        "Message": "Great to connect with ACS events",
        "ReceivedTimestamp": "2020-09-18T00:27:45.32Z",
    },
    "specversion": "1.0",
}


async def test_the_docs_delivery_report_is_read_and_kept() -> None:
    """Its tag is a customer's, not ours: read fine, and kept rather than dropped."""
    await on_delivery_report.main(trigger_event(DELIVERY_REPORT_EVENT_GRID))
    services = await get_services()
    [kept] = await services.storage.parked.list_orphan_reports()
    assert kept["PartitionKey"] == DELIVERY_REPORT_EVENT_GRID["data"]["messageId"]
    # Nothing parked as malformed, under any day (rows are filed under the day they arrive).
    assert await services.storage.gateway.first_rows(POISON, 10) == []


def test_our_event_type_names_are_the_sdks() -> None:
    from azure.eventgrid import SystemEventNames

    assert SystemEventNames.AcsSmsReceivedEventName.value == SMS_RECEIVED
    assert SystemEventNames.AcsSmsDeliveryReportReceivedEventName.value == DELIVERY_REPORT


@pytest.mark.parametrize("sample", [SMS_RECEIVED_EVENT_GRID, SMS_RECEIVED_CLOUD_EVENT])
async def test_the_docs_inbound_samples_land_in_the_thread(sample: dict[str, Any]) -> None:
    await on_sms_received.main(trigger_event(sample))
    await on_sms_received.main(trigger_event(sample))  # and once more, as Event Grid may
    services = await get_services()
    entries, _ = await services.storage.threads.list("+15555555555", limit=10, continuation=None)
    assert [(e.direction, e.text) for e in entries] == [("in", "Great to connect with ACS events")]
    assert entries[0].at.isoformat() == "2020-09-18T00:27:45.320000+00:00"
