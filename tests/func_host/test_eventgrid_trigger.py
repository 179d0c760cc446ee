"""The Event Grid webhook end to end, against the behaviour of the real extension."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.func_host.conftest import RecordsReader

WEBHOOK = "/runtime/webhooks/EventGrid"
NOTIFICATION = {"aeg-event-type": "Notification"}


def sms_event(**data: Any) -> dict[str, Any]:
    """An Event Grid schema event shaped like ACS's SMSReceived."""
    return {
        "id": f"Incoming_{uuid.uuid4()}",
        "topic": "/subscriptions/x/resourceGroups/y/providers/microsoft.communication/"
        "communicationservices/z",
        "subject": "/phonenumber/15555555555",
        "data": {"from": "15555555555", "to": "15555550100", "message": "hi", **data},
        "eventType": "Microsoft.Communication.SMSReceived",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": "2020-09-18T00:27:47.1234567Z",
    }


def post_events(
    client: httpx.Client, body: Any, *, function: str = "on_event", headers: Any = None
) -> httpx.Response:
    return client.post(
        WEBHOOK,
        params={"functionName": function},
        json=body,
        headers=NOTIFICATION if headers is None else headers,
    )


def recorded_ids(records: RecordsReader, kind: str = "event") -> list[object]:
    return [record["id"] for record in records.of_kind(kind)]


def test_array_runs_the_function_once_per_event(
    client: httpx.Client, records: RecordsReader
) -> None:
    events = [sms_event(), sms_event(), sms_event()]
    response = post_events(client, events)
    assert response.status_code == 202
    ids = recorded_ids(records)
    for event in events:
        assert ids.count(event["id"]) == 1
    (first,) = [r for r in records.of_kind("event") if r["id"] == events[0]["id"]]
    assert first["type"] == "Microsoft.Communication.SMSReceived"
    assert first["subject"] == "/phonenumber/15555555555"
    assert first["data"] == events[0]["data"]
    assert first["event_time"] == "2020-09-18T00:27:47.123456+00:00"  # 7 digits truncated


def test_events_of_one_request_run_concurrently(client: httpx.Client) -> None:
    started = time.monotonic()
    response = post_events(client, [sms_event(sleep=0.6) for _ in range(3)])
    assert response.status_code == 202
    assert time.monotonic() - started < 1.5  # three 0.6 s sync runs in parallel threads


def test_one_failure_makes_it_500_but_every_event_still_runs(
    client: httpx.Client, records: RecordsReader
) -> None:
    good, bad = sms_event(), sms_event(fail=True)
    response = post_events(client, [good, bad])
    assert response.status_code == 500
    assert response.text == "Exception while executing function: Functions.on_event"
    ids = recorded_ids(records)
    assert good["id"] in ids and bad["id"] in ids


def test_single_cloud_event_object(client: httpx.Client, records: RecordsReader) -> None:
    cloud_event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/subscriptions/x/providers/microsoft.communication/communicationservices/z",
        "type": "Microsoft.Communication.SMSReceived",
        "subject": "/phonenumber/15555555555",
        "time": "2020-09-18T00:27:47.0000000Z",
        "data": {"MessageId": "m1", "From": "15555555555", "Message": "hi"},
    }
    headers = {**NOTIFICATION, "Content-Type": "application/cloudevents+json; charset=utf-8"}
    assert post_events(client, cloud_event, headers=headers).status_code == 202
    (recorded,) = [r for r in records.of_kind("cloudevent") if r["id"] == cloud_event["id"]]
    assert recorded["type"] == "Microsoft.Communication.SMSReceived"
    assert recorded["data"] == cloud_event["data"]


def test_single_event_grid_object_is_one_event(
    client: httpx.Client, records: RecordsReader
) -> None:
    event = sms_event()
    assert post_events(client, event).status_code == 202
    assert recorded_ids(records).count(event["id"]) == 1


def test_subscription_validation_handshake(client: httpx.Client, records: RecordsReader) -> None:
    validation = [
        {
            "id": "validation-1",
            "topic": "/subscriptions/x",
            "subject": "",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2020-09-18T00:00:00Z",
            "metadataVersion": "1",
            "dataVersion": "1",
        }
    ]
    response = post_events(client, validation, headers={"aeg-event-type": "SubscriptionValidation"})
    assert response.status_code == 200
    assert response.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert "validation-1" not in recorded_ids(records)  # the function is not invoked


def test_cloud_event_validation_with_double_encoded_data(client: httpx.Client) -> None:
    event = {"specversion": "1.0", "id": "v", "data": '{"validationCode": "abc"}'}
    response = post_events(client, event, headers={"aeg-event-type": "subscriptionvalidation"})
    assert response.json() == {"validationResponse": "abc"}


def test_cloud_events_options_handshake(client: httpx.Client) -> None:
    url = f"{WEBHOOK}?functionName=on_event"
    known = client.options(url, headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert known.status_code == 200
    assert known.headers["webhook-allowed-origin"] == "eventgrid.azure.net"
    other = client.options(url, headers={"WebHook-Request-Origin": "example.org"})
    assert other.headers["webhook-allowed-origin"] == "eventgrid.azure.net"  # as the extension


def test_unsubscribe_is_accepted(client: httpx.Client) -> None:
    assert post_events(client, [], headers={"aeg-event-type": "Unsubscribe"}).status_code == 202


@pytest.mark.parametrize("headers", [{}, {"aeg-event-type": "Whatever"}])
def test_missing_or_unknown_event_type_is_400(client: httpx.Client, headers: Any) -> None:
    assert post_events(client, [sms_event()], headers=headers).status_code == 400


@pytest.mark.parametrize("function", ["nope", "items", ""])
def test_unknown_function_is_404(client: httpx.Client, function: str) -> None:
    response = post_events(client, [sms_event()], function=function)
    assert response.status_code == 404
    assert response.text == f"cannot find function: '{function}'"


def test_a_function_that_failed_to_load_answers_500_so_event_grid_retries(
    client: httpx.Client,
) -> None:
    response = post_events(client, [sms_event()], function="broken_import")
    assert response.status_code == 500
    assert response.text == "Exception while executing function: Functions.broken_import"


def test_an_event_the_converter_refuses_answers_500(client: httpx.Client) -> None:
    # azure.functions refuses an eventTime with a non-zero offset; on Azure that is a failed
    # invocation (and a retry), not a 400.
    event = {**sms_event(), "eventTime": "2020-09-18T02:27:47+02:00"}
    assert post_events(client, [event]).status_code == 500


@pytest.mark.parametrize(
    "body", [b"{not json", b'"just a string"', b"[1, 2]", b"[" * 100_000 + b"]" * 100_000]
)
def test_unusable_body_is_400(client: httpx.Client, body: bytes) -> None:
    response = client.post(
        WEBHOOK, params={"functionName": "on_event"}, content=body, headers=NOTIFICATION
    )
    assert response.status_code == 400


def test_lower_case_path_parameter_and_header_value(client: httpx.Client) -> None:
    response = client.post(
        "/runtime/webhooks/eventgrid",
        params={"functionname": "on_event"},  # parameter names ignore case in .NET too
        json=[sms_event()],
        headers={"aeg-event-type": "notification"},
    )
    assert response.status_code == 202


def test_empty_array_is_accepted(client: httpx.Client) -> None:
    assert post_events(client, []).status_code == 202
