"""Status events through the real entry points, Azurite and the sandbox's webhook receiver and
Event Grid topic: every state change becomes one event, delivered signed, in order per subject,
retried, dead-lettered, and disabled on `410 Gone`."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

import analytics
import events
import on_delivery_report
import optouts
import send_sms
import verifications
from shared.clock import utcnow
from shared.ids import new_batch_id
from shared.records import BatchRecord, HistoryEntry, MessageRecord, batch_to_entity
from shared.runtime import close_services, get_services
from shared.status import Status
from shared.status_events import StatusEvent, message_events
from shared.tables.messages import MESSAGES
from shared.tables.pending_events import HINT_SETTLE, event_rows, upserts
from tests.conftest import SENDERS
from tests.helpers import (
    delivery_report_payload,
    http_request,
    response_json,
    sandbox_get,
    trigger_event,
)

pytestmark = pytest.mark.usefixtures("app_env")

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0wMTIzNDU2"
OLD_SECRET = "whsec_" + "b2xkLXNlY3JldC1rZXktZm9yLXRlc3RzLW9ubHktMDE="
GRID_KEY = "c2FuZGJveC1ldmVudGdyaWQtZGV2LWtleQ=="


@pytest.fixture
async def events_env(monkeypatch: pytest.MonkeyPatch, sandbox_url: str) -> dict[str, str]:
    env = {
        "SMS_EVENTS_DESTINATIONS": "crm,grid",
        "SMS_EVENTS_CRM_URL": f"{sandbox_url}/sandbox/webhooks/crm",
        "SMS_EVENTS_CRM_SECRETS": f"{SECRET} {OLD_SECRET}",
        "SMS_EVENTS_GRID_KIND": "eventgrid",
        "SMS_EVENTS_GRID_URL": f"{sandbox_url}/eventgrid/orders/api/events",
        "SMS_EVENTS_GRID_KEY": GRID_KEY,
        "SMS_EVENTS_GRID_TYPES": "sms.message.*",
        "SMS_EVENTS_RETRY_BASE_SECONDS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    await close_services()
    return env


def webhook_deliveries(sandbox_url: str, name: str = "crm") -> list[dict[str, Any]]:
    return sandbox_get(sandbox_url, f"/sandbox/webhooks/{name}")


def grid_events(sandbox_url: str, topic: str = "orders") -> list[dict[str, Any]]:
    return [v["event"] for v in sandbox_get(sandbox_url, f"/sandbox/eventgrid/{topic}/events")]


async def send(to: list[str], **extra: Any) -> dict[str, Any]:
    body = {"to": to, "message": "hello", "from": SENDERS[0], **extra}
    response = await send_sms.main(http_request("POST", "sms", body=body))
    assert response.status_code == 202, response.get_body()
    result: dict[str, Any] = response_json(response)
    return result


async def report(sandbox_url: str, to: str, status: str = "Delivered") -> None:
    [received] = sandbox_get(sandbox_url, "/sandbox/messages", to=to)
    payload = delivery_report_payload(
        acs_message_id=received["messageId"],
        sender=received["from"],
        to=to,
        tag=received["tag"],
        status=status,
        received=(utcnow() + timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
    )
    await on_delivery_report.main(trigger_event(payload))


async def fault(sandbox_url: str, name: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{sandbox_url}/sandbox/webhooks/{name}/faults", json=body)
        response.raise_for_status()


async def tick() -> None:
    services = await get_services()
    await services.publisher.tick()


async def test_each_status_change_is_one_signed_event_in_order(
    events_env: dict[str, str], sandbox_url: str
) -> None:
    sent = await send(["+12065550101", "+12065550102"], tag="order-7")
    await report(sandbox_url, "+12065550101")
    await report(sandbox_url, "+12065550102", status="Failed")
    await tick()

    deliveries = webhook_deliveries(sandbox_url)
    bodies = [json.loads(d["body"]) for d in deliveries]
    # Both the new and the old secret verify: the receiver may hold either while keys rotate.
    for secret in (SECRET, OLD_SECRET):
        for delivery in deliveries:
            Webhook(secret).verify(delivery["body"], delivery["headers"])
    by_message: dict[str, list[dict[str, Any]]] = {}
    for body in bodies:
        assert body["specversion"] == "1.0" and body["source"] == "/sms"
        by_message.setdefault(body["data"]["messageId"], []).append(body)
    first, second = (r["id"] for r in sent["results"])
    assert [e["type"] for e in by_message[first]] == [
        "sms.message.queued",
        "sms.message.accepted",
        "sms.message.delivered",
    ]
    assert [e["type"] for e in by_message[second]][-1] == "sms.message.failed"
    assert [e["data"]["sequence"] for e in by_message[first]] == [1, 2, 3]
    assert {e["data"]["tag"] for e in by_message[first]} == {"order-7"}
    assert by_message[first][0]["data"]["to"] == "+12065550101"
    assert [d["headers"]["webhook-id"] for d in deliveries] == [b["id"] for b in bodies]

    # The Event Grid topic got the same message events, as the SDK publishes them.
    grid = grid_events(sandbox_url)
    assert sorted(e["id"] for e in grid) == sorted(b["id"] for b in bodies)

    # Nothing is told twice: a repeated report and another tick add no event.
    await report(sandbox_url, "+12065550101")
    await tick()
    assert len(webhook_deliveries(sandbox_url)) == len(deliveries)


async def test_consent_changes_are_events_and_filters_apply(
    events_env: dict[str, str], sandbox_url: str
) -> None:
    phone = "+12065550177"
    for method in ("PUT", "DELETE"):
        response = await optouts.main(
            http_request(method, f"optouts/{phone}", route_params={"phone": phone})
        )
        assert response.status_code == 200
    await tick()
    bodies = [json.loads(d["body"]) for d in webhook_deliveries(sandbox_url)]
    assert [b["type"] for b in bodies] == ["sms.consent.optOut", "sms.consent.optIn"]
    assert bodies[0]["data"]["recipient"] == phone
    assert bodies[0]["data"]["sequence"] < bodies[1]["data"]["sequence"]
    assert phone.lstrip("+") not in bodies[0]["id"]  # ids name no number
    assert grid_events(sandbox_url) == []  # the topic asked for message events only


async def test_a_refused_event_is_retried_and_the_rest_of_its_message_waits(
    events_env: dict[str, str], sandbox_url: str
) -> None:
    await fault(sandbox_url, "crm", {"status": 500, "count": 1})
    sent = await send(["+12065550103"])
    await tick()  # queued refused; accepted waits behind it
    assert webhook_deliveries(sandbox_url) == []
    await report(sandbox_url, "+12065550103")
    services = await get_services()
    await services.publisher.tick(utcnow() + timedelta(seconds=5))
    bodies = [json.loads(d["body"]) for d in webhook_deliveries(sandbox_url)]
    message = sent["results"][0]["id"]
    assert [b["id"] for b in bodies] == [f"{message}.1", f"{message}.2", f"{message}.3"]
    state = (await services.storage.event_deliveries.states())["crm"]
    assert state.failed == 1 and state.delivered == 3
    # Analytics count them per destination.
    usage = response_json(await analytics.main(http_request("GET", "analytics")))
    events = {d["destination"]: d for d in usage["totals"]["events"]["byDestination"]}
    assert events["crm"] == {"destination": "crm", "delivered": 3, "failed": 1, "deadLettered": 0}


async def test_gone_disables_a_webhook_and_says_so(
    events_env: dict[str, str], sandbox_url: str
) -> None:
    await fault(sandbox_url, "crm", {"status": 410})
    await send(["+12065550104"])
    await tick()
    services = await get_services()
    state = (await services.storage.event_deliveries.states())["crm"]
    assert state.disabled and state.reason == "410 Gone"
    await tick()  # the event saying so goes out to the other destinations
    disabled = [
        e for e in grid_events(sandbox_url, "orders") if e["type"] == "sms.destination.disabled"
    ]
    assert disabled == []  # the topic's filter is message events only
    log = await services.storage.event_log.read("0" * 19, "9" * 19, 100)
    assert any(
        e.event.type == "sms.destination.disabled" and e.event.data["destination"] == "crm"
        for e in log
    )


async def test_a_verification_tells_its_start_and_its_end_never_its_code(
    events_env: dict[str, str], sandbox_url: str
) -> None:
    started = response_json(
        await verifications.main(http_request("POST", "verifications", body={"to": "+12065550188"}))
    )
    [text] = sandbox_get(sandbox_url, "/sandbox/messages", to="+12065550188")
    [code] = re.findall(r"\b(\d{6})\b", text["message"])
    params = {"id": started["id"], "action": "check"}
    checked = await verifications.main(
        http_request("POST", "verifications", body={"code": code}, route_params=params)
    )
    assert response_json(checked)["status"] == "approved"
    await tick()
    bodies = [json.loads(d["body"]) for d in webhook_deliveries(sandbox_url)]
    mine = [b for b in bodies if b["type"].startswith("sms.verification.")]
    assert [b["type"] for b in mine] == ["sms.verification.started", "sms.verification.approved"]
    assert [b["data"]["sequence"] for b in mine] == [1, 2]
    assert all(code not in json.dumps(b) for b in bodies)
    # The code's text is a message like any other: its events name no text at all.
    texts = [b for b in bodies if b["type"].startswith("sms.message.")]
    assert texts and all("message" not in b["data"] for b in texts)


async def test_events_of_a_send_that_never_committed_are_never_published(
    events_env: dict[str, str],
) -> None:
    """Rows a send left before its header (its commit point) tell of nothing that happened;
    once the header is there they go out, and a hint that led to nothing is let go."""

    services = await get_services()
    storage = services.storage
    record = message_record()
    await storage.pending_events.announce(MESSAGES, record.batch_id)
    rows = event_rows(record.batch_id, message_events(record, 0))
    await storage.gateway.transact(MESSAGES, upserts(rows))
    report = await services.publisher.tick()
    assert report.logged == 0  # no header: the send did not commit
    header = BatchRecord(record.batch_id, "hello", "GSM-7", 1, 1, record.created_at)
    await storage.gateway.upsert(MESSAGES, batch_to_entity(header))
    assert (await services.publisher.tick()).logged == 1
    assert (await services.publisher.tick()).logged == 0  # moved once
    # A hint whose partition holds nothing is dropped once it has settled, not before.
    assert await storage.pending_events.hints(10)
    await services.publisher.tick(utcnow() + HINT_SETTLE + timedelta(seconds=5))
    assert await storage.pending_events.hints(10) == []


def message_record() -> MessageRecord:
    now = utcnow()
    return MessageRecord(
        batch_id=new_batch_id(),
        index=0,
        to="+12065550199",
        sender=SENDERS[0],
        status=Status.QUEUED,
        created_at=now,
        history=(HistoryEntry(Status.QUEUED, now),),
    )


async def events_call(
    method: str, view: str | None = None, action: str | None = None, **kw: Any
) -> tuple[int, Any]:
    params = {k: v for k, v in (("view", view), ("action", action)) if v}
    route = "/".join(["events", *params.values()])
    response = await events.main(http_request(method, route, route_params=params, **kw))
    return response.status_code, response_json(response)


async def test_dead_letters_are_listed_and_redriven(
    events_env: dict[str, str], sandbox_url: str
) -> None:
    await fault(sandbox_url, "crm", {"status": 503})  # refuses until told otherwise
    sent = await send(["+12065550105"])
    services = await get_services()
    first = utcnow()
    await services.publisher.tick(first)
    # Three days and more later, still refused: given up on, and its chain goes on.
    await services.publisher.tick(first + timedelta(hours=73))
    status, dead = await events_call("GET", "deadletters", params={"destination": "crm"})
    message = sent["results"][0]["id"]
    assert status == 200
    assert [d["id"] for d in dead["value"]] == [f"{message}.1"]
    assert dead["value"][0]["attempts"] == 2 and dead["value"][0]["lastError"] == "HTTP 503"
    async with httpx.AsyncClient() as client:
        await client.delete(f"{sandbox_url}/sandbox/webhooks/crm/faults")
    status, done = await events_call("POST", "deadletters", "redrive", body={"destination": "crm"})
    assert (status, done["redriven"], done["enabled"]) == (200, 1, False)
    await services.publisher.tick(first + timedelta(hours=74))  # .2's retry is due by then
    bodies = [json.loads(d["body"]) for d in webhook_deliveries(sandbox_url)]
    assert [b["id"] for b in bodies] == [f"{message}.1", f"{message}.2"]
    status, listed = await events_call("GET", "destinations")
    crm = next(d for d in listed["value"] if d["name"] == "crm")
    assert crm["deadLettered"] == 1 and crm["retrying"] == 0 and crm["delivered"] == 2
    assert (await events_call("GET", "deadletters"))[1]["value"] == []


async def test_a_redrive_naming_a_gone_destination_runs_it_again(
    events_env: dict[str, str], sandbox_url: str
) -> None:
    await fault(sandbox_url, "crm", {"status": 410})
    await send(["+12065550106"])
    await tick()
    async with httpx.AsyncClient() as client:
        await client.delete(f"{sandbox_url}/sandbox/webhooks/crm/faults")
    status, done = await events_call("POST", "deadletters", "redrive", body={"destination": "crm"})
    assert status == 200 and done["enabled"] is True
    await tick()
    types = [json.loads(d["body"])["type"] for d in webhook_deliveries(sandbox_url)]
    # What waited is delivered in order, and the destination hears it had been disabled.
    assert [t for t in types if t.startswith("sms.message.")] == [
        "sms.message.queued",
        "sms.message.accepted",
    ]
    assert "sms.destination.disabled" in types


@pytest.mark.parametrize(
    ("view", "action", "method", "options", "status", "target"),
    [
        (None, None, "GET", {"params": {"after": "yesterday"}}, 400, "after"),
        (None, None, "GET", {"params": {"limit": "0"}}, 400, "limit"),
        (None, None, "GET", {"params": {"types": "sms.message.<script>"}}, 400, "types"),
        ("deadletters", None, "GET", {"params": {"destination": "nope"}}, 404, "destination"),
        ("deadletters", "redrive", "POST", {"body": {"limit": 0}}, 400, "limit"),
        ("deadletters", "redrive", "POST", {"body": {"destination": 7}}, 400, "destination"),
        ("deadletters", "redrive", "POST", {"body": {"other": 1}}, 400, "other"),
        ("deadletters", "redrive", "GET", {}, 405, None),
        (None, None, "POST", {}, 405, None),
        ("nothing", None, "GET", {}, 404, None),
    ],
)
async def test_bad_event_requests_are_4xx_naming_the_field(
    events_env: dict[str, str],
    view: str | None,
    action: str | None,
    method: str,
    options: dict[str, Any],
    status: int,
    target: str | None,
) -> None:
    answered, body = await events_call(method, view, action, **options)
    assert answered == status
    assert body["error"].get("target") == target


async def test_the_replay_reads_on_from_its_cursor_with_filters(events_env: dict[str, str]) -> None:
    await send(["+12065550107", "+12065550108"])
    await tick()
    status, page = await events_call("GET", params={"limit": "3"})
    assert status == 200 and len(page["value"]) == 3 and page["more"] is True
    status, rest = await events_call("GET", params={"after": page["next"]})
    assert [v["cursor"] for v in page["value"] + rest["value"]] == sorted(
        v["cursor"] for v in page["value"] + rest["value"]
    )
    assert len(page["value"] + rest["value"]) == 4 and rest["more"] is False
    _, accepted = await events_call("GET", params={"types": "sms.message.accepted"})
    assert [v["event"]["type"] for v in accepted["value"]] == ["sms.message.accepted"] * 2


async def test_a_callback_url_that_reaches_inward_is_refused(app_env: dict[str, str]) -> None:
    response = await send_sms.main(
        http_request(
            "POST",
            "sms",
            body={"to": "+12065550109", "message": "hi", "callbackUrl": "https://169.254.169.254/"},
        )
    )
    assert response.status_code == 400
    assert response_json(response)["error"]["target"] == "callbackUrl"


async def test_the_log_forgets_what_is_past_its_retention(events_env: dict[str, str]) -> None:
    from shared.tables.event_log import LogEntry, cursor_at

    services = await get_services()
    log = services.storage.event_log
    now = utcnow()
    old, recent = (
        LogEntry(cursor_at(now - timedelta(days=8)), _event("old")),
        LogEntry(cursor_at(now - timedelta(days=6)), _event("recent")),
    )
    await log.append([old, recent])
    assert await log.purge(now - timedelta(days=7)) == 1
    kept = await log.read("0" * 19, "9" * 19, 10)
    assert [e.event.id for e in kept] == ["recent"]


def _event(name: str) -> StatusEvent:
    return StatusEvent(name, "sms.message.queued", f"messages/{name}", utcnow(), {"sequence": 1})
