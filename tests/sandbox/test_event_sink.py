"""The event sink over real HTTP: the official Event Grid publisher against the topic, and the
`standardwebhooks` reference library agreeing with the webhook receiver's own verification."""

from __future__ import annotations

import base64
import json
import re
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
)
from azure.core.messaging import CloudEvent
from azure.eventgrid.aio import EventGridPublisherClient
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from local.acs_sandbox.config import EVENTGRID_DEV_KEY, SandboxConfig
from local.acs_sandbox.sink_checks import cloud_event_problems, is_rfc3339
from local.acs_sandbox.testing import serve
from local.acs_sandbox.tls import TlsFiles, ensure_certificate

SEVEN_DIGITS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z")
BATCH = "application/cloudevents-batch+json; charset=utf-8"
SECRET = "whsec_" + base64.b64encode(b"sandbox-webhook-secret-32-bytes!").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the-secret-before-the-rotation!!").decode()


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    async with serve() as url:
        yield url


@pytest.fixture
async def http(sandbox: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox, trust_env=False, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return ensure_certificate(tmp_path_factory.mktemp("tls"))


def publisher(base: str, topic: str = "orders", key: str = EVENTGRID_DEV_KEY, **kwargs: Any) -> Any:
    """The SDK client for one sandbox topic; retries are quick so fault tests stay fast."""
    kwargs.setdefault("retry_backoff_factor", 0.01)
    return EventGridPublisherClient(
        f"{base}/eventgrid/{topic}/api/events", AzureKeyCredential(key), **kwargs
    )


def cloud_event(**attributes: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": "e-1", "source": "/tests", "type": "t.created"} | attributes


async def post_batch(
    http: httpx.AsyncClient,
    events: Any,
    *,
    topic: str = "orders",
    key: str | None = EVENTGRID_DEV_KEY,
    content_type: str = BATCH,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"content-type": content_type} | ({"aeg-sas-key": key} if key else {})
    return await http.post(
        f"/eventgrid/{topic}/api/events",
        params={"api-version": "2018-01-01"},
        content=events if isinstance(events, bytes) else json.dumps(events).encode(),
        headers=sent | (headers or {}),
    )


async def kept(http: httpx.AsyncClient, topic: str = "orders") -> dict[str, Any]:
    answer: dict[str, Any] = (await http.get(f"/sandbox/eventgrid/{topic}/events")).json()
    return answer


async def deliveries(http: httpx.AsyncClient, name: str = "crm", **params: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await http.get(f"/sandbox/webhooks/{name}", params=params)).json()
    return answer


def signed(
    secret: str, body: str, *, at: datetime | None = None, msg_id: str = "msg_1"
) -> dict[str, str]:
    when = at or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body),
    }


# --- Event Grid topic ---------------------------------------------------------------------


async def test_the_official_publisher_over_plain_http(sandbox, http):
    events: list[CloudEvent[Any]] = [
        CloudEvent(source="/sms", type="Sms.Sent", data={"messageId": "m-1", "n": 1}),
        CloudEvent(source="/sms", type="Sms.Failed", data={"ünï": "✓"}, subject="+1425"),
        CloudEvent(source="/sms", type="Sms.Raw", data=b"\x00\x01binary", extensions={"tid": "7"}),
    ]
    async with publisher(sandbox) as client:
        await client.send(events)

    answer = await kept(http)
    got = [entry["event"] for entry in answer["value"]]
    assert [(e["id"], e["type"], e["source"]) for e in got] == [
        (e.id, e.type, e.source) for e in events
    ]
    assert got[0]["data"] == {"messageId": "m-1", "n": 1}
    assert (got[1]["data"], got[1]["subject"]) == ({"ünï": "✓"}, "+1425")
    assert base64.b64decode(got[2]["data_base64"]) == b"\x00\x01binary"
    assert got[2]["tid"] == "7"
    assert all(e["specversion"] == "1.0" and is_rfc3339(e["time"]) for e in got)
    assert {entry["auth"] for entry in answer["value"]} == {"key"}
    assert all(SEVEN_DIGITS.fullmatch(entry["receivedAt"]) for entry in answer["value"])
    assert [(a["answered"], a["events"], a["auth"]) for a in answer["attempts"]] == [
        (200, 3, "key")
    ]


async def test_events_are_kept_per_topic_in_order_and_cleared(sandbox, http):
    async with publisher(sandbox, "a") as first, publisher(sandbox, "b") as second:
        await first.send([CloudEvent(source="/s", type="one")])
        await second.send([CloudEvent(source="/s", type="other")])
        await first.send([CloudEvent(source="/s", type="two"), CloudEvent(source="/s", type="3")])

    assert [e["event"]["type"] for e in (await kept(http, "a"))["value"]] == ["one", "two", "3"]
    assert [e["event"]["type"] for e in (await kept(http, "b"))["value"]] == ["other"]
    assert (await http.delete("/sandbox/eventgrid/a/events")).status_code == 204
    assert (await kept(http, "a")) == {"value": [], "attempts": []}
    assert len((await kept(http, "b"))["value"]) == 1
    assert (await kept(http, "never-used")) == {"value": [], "attempts": []}


async def test_a_wrong_key_is_refused_with_401(sandbox, http):
    async with publisher(sandbox, key="d3Jvbmcta2V5") as client:
        with pytest.raises(ClientAuthenticationError) as raised:
            await client.send([CloudEvent(source="/s", type="t")])
    assert raised.value.status_code == 401

    missing = await post_batch(http, [cloud_event()], key=None)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "Unauthorized"
    assert "aeg-sas-key" in missing.json()["error"]["message"]
    wrong = await post_batch(http, [cloud_event()], key="wrong")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "Unauthorized")
    answer = await kept(http)
    assert answer["value"] == []
    assert [(a["answered"], a["auth"]) for a in answer["attempts"]] == [(401, None)] * 3


async def test_a_bearer_token_stands_in_for_a_managed_identity(sandbox, http, tls):
    accepted = await post_batch(
        http, [cloud_event()], key=None, headers={"Authorization": "Bearer eyJ0eXAi.fake"}
    )
    empty = await post_batch(http, [cloud_event()], key=None, headers={"Authorization": "Bearer"})
    assert (accepted.status_code, accepted.content) == (200, b"")
    assert empty.status_code == 401
    assert [e["auth"] for e in (await kept(http))["value"]] == ["bearer"]

    class FakeIdentity:
        async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
            return AccessToken("token-of-a-managed-identity", int(time.time()) + 3600)

        async def close(self) -> None:
            pass

    over_http = EventGridPublisherClient(
        f"{sandbox}/eventgrid/orders/api/events", cast(Any, FakeIdentity())
    )
    async with over_http:
        # azure-core sends bearer tokens only over TLS; key credentials go over plain HTTP.
        with pytest.raises(ServiceRequestError, match="non-TLS"):
            await over_http.send([CloudEvent(source="/s", type="t")])
    async with serve(tls=tls) as https_url:
        client = EventGridPublisherClient(
            f"{https_url}/eventgrid/orders/api/events",
            cast(Any, FakeIdentity()),
            connection_verify=str(tls.ca),
        )
        async with client:
            await client.send([CloudEvent(source="/s", type="over.tls")])
        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=tls.ca), trust_env=False
        ) as https:
            answer = (await https.get(f"{https_url}/sandbox/eventgrid/orders/events")).json()
    assert [(e["auth"], e["event"]["type"]) for e in answer["value"]] == [("bearer", "over.tls")]


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (cloud_event(specversion="0.3"), "'specversion' must be \"1.0\""),
        ({"specversion": "1.0", "source": "/s", "type": "t"}, "'id' is required"),
        (cloud_event(source=""), "'source' is required"),
        (cloud_event(type=7), "'type' is required"),
        (cloud_event(time="yesterday"), "'time' must be an RFC 3339 timestamp"),
        (cloud_event(time="2026-02-30T10:00:00Z"), "'time' must be an RFC 3339 timestamp"),
        (cloud_event(subject=""), "'subject' must be a non-empty string"),
        (cloud_event(data={}, data_base64="AA=="), "mutually exclusive"),
        (cloud_event(data_base64="not base64!"), "'data_base64' must be a base64 string"),
        (cloud_event(traceId="x"), "attribute name 'traceId'"),
        (cloud_event(ext={"nested": 1}), "attribute 'ext' must be a string"),
        ("an event", "is not a JSON object"),
    ],
)
async def test_an_invalid_event_is_refused_with_400_naming_it(http, event, named):
    response = await post_batch(http, [cloud_event(id="fine"), event])

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    assert named in error["message"]
    assert error["message"].startswith("Invalid CloudEvent: event 1: ")
    assert (await kept(http))["value"] == []  # the valid event of that publish is not kept


async def test_the_publisher_raises_on_an_invalid_event(sandbox, http):
    bad = cloud_event(time="not a time")  # the SDK passes dict events through unchanged
    async with publisher(sandbox) as client:
        with pytest.raises(HttpResponseError) as raised:
            await client.send([bad])
    assert raised.value.status_code == 400
    assert (await kept(http))["value"] == []


async def test_body_shape_size_type_and_api_version(http):
    assert (await post_batch(http, cloud_event())).status_code == 400  # not an array
    assert (await post_batch(http, [])).status_code == 400
    assert (await post_batch(http, b"[{")).status_code == 400
    assert (await post_batch(http, [cloud_event()], content_type="text/plain")).status_code == 400
    no_version = await http.post(
        "/eventgrid/orders/api/events",
        content=json.dumps([cloud_event()]),
        headers={"content-type": BATCH, "aeg-sas-key": EVENTGRID_DEV_KEY},
    )
    assert no_version.status_code == 400
    large = [cloud_event(id=str(i), data="x" * 1000) for i in range(1100)]
    too_large = await post_batch(http, large)
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "RequestEntityTooLarge"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * 60_000
        yield json.dumps([cloud_event()]).encode()

    streamed = await http.post(
        "/eventgrid/orders/api/events?api-version=2018-01-01",
        content=chunked(),
        headers={"content-type": BATCH, "aeg-sas-key": EVENTGRID_DEV_KEY},
    )
    assert streamed.status_code == 413
    assert (await kept(http))["value"] == []
    assert (await post_batch(http, large[:900])).status_code == 200  # just under 1 MB
    assert len((await kept(http))["value"]) == 900


async def test_status_faults_answer_without_keeping_and_the_sdk_retries(sandbox, http):
    fault = await http.post("/sandbox/eventgrid/orders/faults", json={"status": 503, "count": 2})
    assert fault.status_code == 201
    assert fault.json() == {"value": [{"count": 2, "status": 503}]}
    async with publisher(sandbox) as client:
        await client.send([CloudEvent(source="/s", type="after.retries")])

    answer = await kept(http)
    assert [a["answered"] for a in answer["attempts"]] == [503, 503, 200]
    assert [e["event"]["type"] for e in answer["value"]] == ["after.retries"]
    assert (await http.get("/sandbox/eventgrid/orders/faults")).json() == {"value": []}

    await http.post("/sandbox/eventgrid/orders/faults", json={"status": 500})  # for good
    async with publisher(sandbox, retry_total=0) as client:
        for _ in range(2):
            with pytest.raises(HttpResponseError) as raised:
                await client.send([CloudEvent(source="/s", type="lost")])
            assert raised.value.status_code == 500
    assert (await post_batch(http, [cloud_event()])).json()["error"]["code"] == (
        "InternalServerError"
    )
    assert (await http.delete("/sandbox/eventgrid/orders/faults")).status_code == 204
    assert (await post_batch(http, [cloud_event()])).status_code == 200
    assert [e["event"]["type"] for e in (await kept(http))["value"]] == [
        "after.retries",
        "t.created",
    ]


async def test_a_drop_fault_closes_the_connection_without_an_answer(sandbox, http):
    await http.post("/sandbox/eventgrid/orders/faults", json={"drop": 1})
    with pytest.raises(httpx.TransportError):
        await post_batch(http, [cloud_event()])
    assert (await post_batch(http, [cloud_event()])).status_code == 200

    await http.post("/sandbox/eventgrid/orders/faults", json={"drop": 1})
    async with publisher(sandbox, retry_total=0) as client:
        with pytest.raises(ServiceRequestError, match="Server disconnected"):
            await client.send([CloudEvent(source="/s", type="dropped")])
    answer = await kept(http)
    assert [a["answered"] for a in answer["attempts"]] == ["dropped", 200, "dropped"]
    assert len(answer["value"]) == 1


async def test_bad_fault_bodies_are_refused(http):
    for body in ({}, {"status": 200}, {"drop": 0}, {"drop": 1, "status": 500}, {"count": 1}):
        response = await http.post("/sandbox/eventgrid/orders/faults", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "BadRequest"
    response = await http.post("/sandbox/webhooks/crm/faults", json={"status": 500, "retry": 1})
    assert "unknown field(s): retry" in response.json()["error"]["message"]


async def test_reset_forgets_the_sink(http):
    await post_batch(http, [cloud_event()])
    await http.post("/sandbox/eventgrid/orders/faults", json={"status": 503})
    await http.post("/sandbox/webhooks/crm", content=b"{}")
    await http.post("/sandbox/webhooks/crm/secret", json={"secret": SECRET})
    await http.post("/sandbox/webhooks/crm/faults", json={"status": 410})

    assert (await http.post("/sandbox/reset")).status_code == 204
    assert (await kept(http)) == {"value": [], "attempts": []}
    assert (await deliveries(http)) == {"value": [], "rejected": []}
    assert (await post_batch(http, [cloud_event()])).status_code == 200
    assert (await http.post("/sandbox/webhooks/crm", content=b"{}")).status_code == 204
    assert (await deliveries(http))["value"][0]["verified"] is None


async def test_the_topic_key_can_be_set_from_the_environment():
    config = SandboxConfig.from_env({"ACS_SANDBOX_EVENTGRID_KEY": "b3RoZXIta2V5"})
    assert config.eventgrid_key == "b3RoZXIta2V5"
    assert "eventgridKey" not in json.dumps(config.to_json())
    async with (
        serve(config) as url,
        httpx.AsyncClient(base_url=url, trust_env=False) as http,
    ):
        assert (await post_batch(http, [cloud_event()])).status_code == 401
        assert (await post_batch(http, [cloud_event()], key="b3RoZXIta2V5")).status_code == 200


# --- webhook receiver ---------------------------------------------------------------------


async def test_the_receiver_records_headers_and_the_raw_body(http):
    body = '{"type": "sms.sent",  "ünï": "✓"}'
    response = await http.post(
        "/sandbox/webhooks/crm",
        content=body.encode(),
        headers={"Content-Type": "application/json", "X-Custom-Thing": "A"},
    )

    assert response.status_code == 204
    (delivery,) = (await deliveries(http))["value"]
    assert delivery["body"] == body  # as sent, spacing included
    assert delivery["headers"]["content-type"] == "application/json"
    assert delivery["headers"]["x-custom-thing"] == "A"
    assert all(name == name.lower() for name in delivery["headers"])
    assert SEVEN_DIGITS.fullmatch(delivery["receivedAt"])
    assert delivery["verified"] is None
    assert (await http.delete("/sandbox/webhooks/crm")).status_code == 204
    assert (await deliveries(http)) == {"value": [], "rejected": []}


async def test_receiver_status_faults_count_then_for_good(http):
    await http.post("/sandbox/webhooks/crm/faults", json={"status": 500, "count": 2})
    statuses = [
        (await http.post("/sandbox/webhooks/crm", content=f"{i}".encode())).status_code
        for i in range(3)
    ]
    assert statuses == [500, 500, 204]
    listed = await deliveries(http)
    assert [d["body"] for d in listed["value"]] == ["2"]
    assert [(d["body"], d["answered"]) for d in listed["rejected"]] == [("0", 500), ("1", 500)]
    every = (await deliveries(http, all="true"))["value"]
    assert [(d["body"], d["answered"]) for d in every] == [("0", 500), ("1", 500), ("2", 204)]

    await http.post("/sandbox/webhooks/crm/faults", json={"status": 410})
    for _ in range(3):
        assert (await http.post("/sandbox/webhooks/crm", content=b"gone")).status_code == 410
    assert (await http.get("/sandbox/webhooks/crm/faults")).json() == {
        "value": [{"count": None, "status": 410}]
    }
    await http.delete("/sandbox/webhooks/crm/faults")
    assert (await http.post("/sandbox/webhooks/crm", content=b"back")).status_code == 204


async def test_receiver_drop_and_delay_faults(http):
    await http.post("/sandbox/webhooks/crm/faults", json={"drop": 1})
    with pytest.raises(httpx.TransportError):
        await http.post("/sandbox/webhooks/crm", content=b"lost")
    await http.post("/sandbox/webhooks/crm/faults", json={"delayMs": 1500, "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        await http.post("/sandbox/webhooks/crm", content=b"slow", timeout=0.3)
    started = time.monotonic()
    late = await http.post("/sandbox/webhooks/other/faults", json={"delayMs": 300, "count": 1})
    assert late.status_code == 201
    assert (await http.post("/sandbox/webhooks/other", content=b"late")).status_code == 204
    assert time.monotonic() - started >= 0.3

    every = (await deliveries(http, all="1"))["value"]
    assert [(d["body"], d["answered"], d["delayMs"]) for d in every] == [
        ("lost", "dropped", 0.0),
        ("slow", 204, 1500.0),
    ]
    assert [d["body"] for d in (await deliveries(http))["rejected"]] == ["lost"]


async def test_signatures_agree_with_the_standardwebhooks_library(http):
    assert (
        await http.post("/sandbox/webhooks/crm/secret", json={"secret": SECRET})
    ).status_code == (204)
    body = json.dumps({"type": "sms.delivered", "data": {"to": "+14255550123"}})
    good = signed(SECRET, body)
    tampered = signed(SECRET, body) | {"webhook-id": "msg_2"}
    stale = signed(SECRET, body, at=datetime.now(UTC) - timedelta(minutes=6))
    wrong_key = signed(OLD_SECRET, body)
    # Key rotation: the sender signs with the old and the new secret; only the second is ours.
    rotated = signed(SECRET, body) | {
        "webhook-signature": f"{wrong_key['webhook-signature']} {good['webhook-signature']}"
    }
    cases = {"good": good, "tampered": tampered, "stale": stale, "wrong": wrong_key}
    cases |= {"rotated": rotated, "unsigned": {}}

    answers = {}
    for name, headers in cases.items():
        sent = await http.post("/sandbox/webhooks/crm", content=body.encode(), headers=headers)
        answers[name] = sent.status_code
    every = (await deliveries(http, all="true"))["value"]

    reference = Webhook(SECRET)
    for (name, headers), attempt in zip(cases.items(), every, strict=True):
        try:
            reference.verify(attempt["body"], attempt["headers"])
            library_says = True
        except WebhookVerificationError:
            library_says = False
        assert attempt["verified"] is library_says, name
        assert answers[name] == (204 if library_says else 401), name
        assert attempt["headers"].get("webhook-id") == headers.get("webhook-id")
    assert {n for n, status in answers.items() if status == 204} == {"good", "rotated"}
    rejected = (await deliveries(http))["rejected"]
    assert [d["verifyError"] for d in rejected] == [
        "no v1 signature matches",
        "webhook-timestamp is more than 5 minutes away from now",
        "no v1 signature matches",
        "missing webhook-id, webhook-timestamp or webhook-signature",
    ]
    refused = await http.post("/sandbox/webhooks/crm", content=b"x", headers=stale)
    assert refused.json()["error"]["code"] == "InvalidSignature"

    assert (await http.delete("/sandbox/webhooks/crm/secret")).status_code == 204
    assert (await http.post("/sandbox/webhooks/crm", content=b"x")).status_code == 204


async def test_a_fault_wins_over_a_good_signature_and_bad_secrets_are_refused(http):
    await http.post("/sandbox/webhooks/crm/secret", json={"secret": SECRET})
    await http.post("/sandbox/webhooks/crm/faults", json={"status": 503, "count": 1})
    body = '{"n": 1}'
    first = await http.post("/sandbox/webhooks/crm", content=body, headers=signed(SECRET, body))
    second = await http.post("/sandbox/webhooks/crm", content=body, headers=signed(SECRET, body))
    assert (first.status_code, second.status_code) == (503, 204)
    assert [
        (d["answered"], d["verified"]) for d in (await deliveries(http, all="true"))["value"]
    ] == [
        (503, True),
        (204, True),
    ]
    for secret in ("whsec_not base64!", "whsec_", 42):
        response = await http.post("/sandbox/webhooks/crm/secret", json={"secret": secret})
        assert response.status_code == 400, secret
    unpadded = SECRET.rstrip("=")
    assert (
        await http.post("/sandbox/webhooks/crm/secret", json={"secret": unpadded})
    ).status_code == (204)


# --- checks without a server ----------------------------------------------------------------


def test_rfc3339_timestamps():
    good = ("2026-03-01T10:00:00Z", "2026-03-01t10:00:00.1234567+05:30", "2016-12-31T23:59:60Z")
    bad = ("2026-03-01", "2026-03-01 10:00:00Z", "2026-13-01T10:00:00Z", "2026-03-01T10:00:00")
    assert all(is_rfc3339(t) for t in good)
    assert not any(is_rfc3339(t) for t in bad)
    assert cloud_event_problems(cloud_event(time=good[1], ext=1, flag=True)) == []
