"""Small builders shared by the tests: HTTP requests the way the Functions host builds them,
and reads of the ACS sandbox's ledgers."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import httpx


def http_request(
    method: str,
    route: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    all_headers = {"content-type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    return func.HttpRequest(
        method,
        f"http://127.0.0.1:7071/api/{route}",
        headers=all_headers,
        params=params or {},
        route_params=route_params or {},
        body=data,
    )


def response_json(response: func.HttpResponse) -> Any:
    assert response.mimetype == "application/json"
    return json.loads(response.get_body())


def sandbox_get(url: str, path: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}{path}", params=params, timeout=5)
    response.raise_for_status()
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def sandbox_post(url: str, path: str, payload: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{url}{path}", json=payload, timeout=5)
    response.raise_for_status()
    return response


def sandbox_config(url: str, **config: Any) -> dict[str, Any]:
    response = httpx.put(f"{url}/sandbox/config", json=config, timeout=5)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def trigger_event(payload: dict[str, Any]) -> Any:
    """An Event Grid or CloudEvents payload turned into what the worker hands the function,
    through azure.functions' own converter."""
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    return EventGridEventInConverter.decode(Datum(json.dumps(payload), "json"), trigger_metadata={})


def delivery_report_payload(
    *,
    acs_message_id: str,
    sender: str,
    to: str,
    tag: str | None,
    status: str = "Delivered",
    details: str = "No error.",
    received: str = "2030-01-01T00:00:10.1234567Z",
    event_id: str | None = None,
    segments: int = 1,
    pascal: bool = False,
) -> dict[str, Any]:
    failed = status != "Delivered"
    data: dict[str, Any] = {
        "messageId": acs_message_id,
        "from": sender.lstrip("+"),
        "to": to,
        "deliveryStatus": status,
        "deliveryStatusDetails": details,
        "receivedTimestamp": received,
        "deliveryAttempts": [
            {
                "timestamp": received,
                "segmentsSucceeded": 0 if failed else segments,
                "segmentsFailed": segments if failed else 0,
            }
        ],
    }
    if tag is not None:
        data["tag"] = tag
    if pascal:
        data = _pascal(data)
    return {
        "id": event_id or f"{acs_message_id}-{status}-{received}",
        "topic": "/subscriptions/x/resourceGroups/y/providers/microsoft.communication/communicationservices/z",
        "subject": f"/phonenumber/{sender.lstrip('+')}",
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "data": data,
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": received,
    }


def inbound_payload(
    *,
    sender: str,
    to: str,
    message: str,
    event_id: str,
    received: str = "2030-01-01T00:01:00.1234567Z",
    cloud: bool = False,
) -> dict[str, Any]:
    data = {
        "messageId": event_id,
        "from": sender.lstrip("+"),
        "to": to.lstrip("+"),
        "message": message,
        "receivedTimestamp": received,
        "segmentCount": 1,
    }
    if cloud:
        return {
            "specversion": "1.0",
            "id": event_id,
            "source": "/subscriptions/x/providers/microsoft.communication/communicationservices/z",
            "subject": f"/phonenumber/{to.lstrip('+')}",
            "type": "Microsoft.Communication.SMSReceived",
            "time": received,
            "data": _pascal(data),
        }
    return {
        "id": event_id,
        "topic": "/subscriptions/x",
        "subject": f"/phonenumber/{to.lstrip('+')}",
        "eventType": "Microsoft.Communication.SMSReceived",
        "data": data,
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": received,
    }


def _pascal(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    return value
