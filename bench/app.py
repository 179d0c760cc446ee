"""The app's real entry points, driven the way the Functions worker drives them: HTTP requests
and Event Grid events built by azure.functions' own types and converter."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum

import on_delivery_report
import on_sms_received
import send_sms
import verifications

TOPIC = (
    "/subscriptions/x/resourceGroups/y/providers/microsoft.communication/communicationservices/z"
)


def http_request(
    method: str,
    route: str,
    *,
    body: Any = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> func.HttpRequest:
    all_headers = {"content-type": "application/json"} if body is not None else {}
    return func.HttpRequest(
        method,
        f"http://127.0.0.1:7071/api/{route}",
        headers={**all_headers, **(headers or {})},
        params=params or {},
        route_params=route_params or {},
        body=b"" if body is None else json.dumps(body).encode(),
    )


async def post_sms(body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
    """`POST /api/sms`; answers the JSON body of its 202."""
    headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
    response = await send_sms.main(http_request("POST", "sms", body=body, headers=headers))
    answer: dict[str, Any] = json.loads(response.get_body())
    if response.status_code != 202:
        raise RuntimeError(f"POST /api/sms answered {response.status_code}: {answer}")
    return answer


async def verify(
    method: str, route_params: dict[str, str] | None = None, body: Any = None
) -> dict[str, Any]:
    """`/api/verifications` (start, check, resend, read); answers the JSON body of a 2xx."""
    request = http_request(method, "verifications", body=body, route_params=route_params)
    response = await verifications.main(request)
    answer: dict[str, Any] = json.loads(response.get_body())
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"{method} /api/verifications answered {response.status_code}: {answer}")
    return answer


def event(payload: dict[str, Any]) -> func.EventGridEvent:
    """An Event Grid payload as the worker hands it to a function."""
    decoded = EventGridEventInConverter.decode(
        Datum(json.dumps(payload), "json"), trigger_metadata={}
    )
    assert isinstance(decoded, func.EventGridEvent)
    return decoded


def delivery_report(
    *, acs_message_id: str, sender: str, to: str, tag: str, event_id: str, received: str
) -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": TOPIC,
        "subject": f"/phonenumber/{sender.lstrip('+')}",
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "data": {
            "messageId": acs_message_id,
            "from": sender.lstrip("+"),
            "to": to,
            "deliveryStatus": "Delivered",
            "deliveryStatusDetails": "No error.",
            "receivedTimestamp": received,
            "deliveryAttempts": [
                {"timestamp": received, "segmentsSucceeded": 1, "segmentsFailed": 0}
            ],
            "tag": tag,
        },
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": received,
    }


def inbound(*, sender: str, to: str, text: str, event_id: str, received: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "topic": TOPIC,
        "subject": f"/phonenumber/{to.lstrip('+')}",
        "eventType": "Microsoft.Communication.SMSReceived",
        "data": {
            "messageId": event_id,
            "from": sender.lstrip("+"),
            "to": to.lstrip("+"),
            "message": text,
            "receivedTimestamp": received,
            "segmentCount": 1,
        },
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": received,
    }


async def report(payload: dict[str, Any]) -> None:
    await on_delivery_report.main(event(payload))


async def receive(payload: dict[str, Any]) -> None:
    await on_sms_received.main(event(payload))
