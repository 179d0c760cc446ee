"""Status events under faults, over the real processes: every subscriber (a Standard Webhooks
endpoint, an Event Grid topic, a send's own callbackUrl) gets every event of every message at
least once, in `sequence` order per message once repeats are dropped by `id`, and the replay
API returns the same set.

The faults: each receiver refuses (500/503) and drops a connection; the function host is killed
after the state changes were written and before any was published; and storage resets every
connection for a while during publishing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.messaging import CloudEvent
from standardwebhooks import Webhook

from tests.conftest import ARTIFACTS
from tests.faults_kit import SENDERS, Api, FaultStack, Proxy, eventually, numbers, require

pytestmark = pytest.mark.slow

NEW_SECRET = "whsec_" + "bmV3LXNpZ25pbmcta2V5LWZvci10aGUtZXZlbnRzLXRlc3Q="
OLD_SECRET = "whsec_" + "b2xkLXNpZ25pbmcta2V5LWZvci10aGUtZXZlbnRzLXRlc3Q="
GRID_KEY = "c2FuZGJveC1ldmVudGdyaWQtZGV2LWtleQ=="  # the sandbox's documented topic key
NEVER = "0 0 0 1 1 *"
COUNT = 100
STATUSES = ("queued", "accepted", "delivered")


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    running = FaultStack.start(ARTIFACTS / "events-faults")
    yield running
    running.stop()


def events_env(sandbox: str, *, publish: bool) -> dict[str, str]:
    return {
        "SMS_EVENTS_SCHEDULE": "*/1 * * * * *" if publish else NEVER,
        "SMS_EVENTS_DESTINATIONS": "crm,topic",
        "SMS_EVENTS_CRM_URL": f"{sandbox}/sandbox/webhooks/crm",
        "SMS_EVENTS_CRM_SECRETS": f"{NEW_SECRET} {OLD_SECRET}",
        "SMS_EVENTS_TOPIC_KIND": "eventgrid",
        "SMS_EVENTS_TOPIC_URL": f"{sandbox}/eventgrid/sms/api/events",
        "SMS_EVENTS_TOPIC_KEY": GRID_KEY,
        "SMS_EVENTS_CALLBACK_SECRETS": NEW_SECRET,
        "SMS_CALLBACK_ALLOW_PRIVATE": "true",
        "SMS_EVENTS_RETRY_BASE_SECONDS": "1",
        "SMS_EVENTS_RETRY_MAX_SECONDS": "2",
    }


async def _get(http: httpx.AsyncClient, url: str, **params: str) -> Any:
    response = await http.get(url, params=params, timeout=30)
    response.raise_for_status()
    return response.json()


async def _post(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> None:
    response = await http.post(url, json=body, timeout=30)
    response.raise_for_status()


def first_seen_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events as a consumer keeps them: the first of each `id`."""
    seen: set[str] = set()
    out = []
    for event in events:
        if event["id"] not in seen:
            seen.add(event["id"])
            out.append(event)
    return out


def in_order_per_message(events: list[dict[str, Any]]) -> bool:
    last: dict[str, int] = {}
    for event in first_seen_order(events):
        message, sequence = event["data"]["messageId"], event["data"]["sequence"]
        if sequence <= last.get(message, 0):
            return False
        last[message] = sequence
    return True


async def test_every_event_reaches_every_subscriber_through_faults(stack: FaultStack) -> None:
    sandbox = f"http://127.0.0.1:{stack.sandbox.port}"
    stack.start_host(f"ev{uuid.uuid4().hex[:8]}", env=events_env(sandbox, publish=False))
    async with httpx.AsyncClient() as http:
        api, proxy = Api(http, stack.host_port), Proxy(http, stack.control_port)
        for name in ("crm", "cb"):
            await _post(
                http, f"{sandbox}/sandbox/webhooks/{name}/faults", {"status": 500, "count": 3}
            )
            await _post(http, f"{sandbox}/sandbox/webhooks/{name}/faults", {"drop": 1})
        await _post(http, f"{sandbox}/sandbox/eventgrid/sms/faults", {"status": 503, "count": 2})
        await _post(http, f"{sandbox}/sandbox/eventgrid/sms/faults", {"drop": 1})

        recipients = numbers(7000, COUNT)
        sent = await api.send(
            {
                "to": recipients,
                "message": "Your table is ready",
                "from": SENDERS[0],
                "tag": "events-faults",
                "callbackUrl": f"{sandbox}/sandbox/webhooks/cb",
            }
        )
        require(sent.status == 202, f"send answered {sent.short()}")
        ids = [r["id"] for r in sent.body["results"]]
        batch = sent.body["batchId"]

        async def all_delivered() -> bool:
            answer = await api.batch(batch)
            return answer.status == 200 and answer.body["counts"].get("delivered") == COUNT

        require(await eventually(all_delivered, within=60, every=0.5), "reports did not arrive")
        # Every state change is written; nothing has been published: the host dies now.
        stack.kill_host()
        stack.start_host(env=events_env(sandbox, publish=True))
        await asyncio.sleep(1.5)
        await proxy.set("reset")  # storage drops every connection for a while
        await asyncio.sleep(2.0)
        await proxy.set("pass")

        expected = {f"{m}.{n}" for m in ids for n in (1, 2, 3)}

        async def received() -> dict[str, list[dict[str, Any]]]:
            crm = await _get(http, f"{sandbox}/sandbox/webhooks/crm")
            cb = await _get(http, f"{sandbox}/sandbox/webhooks/cb")
            grid = await _get(http, f"{sandbox}/sandbox/eventgrid/sms/events")
            return {
                "crm": crm["value"],
                "cb": cb["value"],
                "topic": [v["event"] for v in grid["value"]],
            }

        async def complete() -> dict[str, list[dict[str, Any]]] | None:
            got = await received()
            bodies = {
                "crm": [json.loads(d["body"]) for d in got["crm"]],
                "cb": [json.loads(d["body"]) for d in got["cb"]],
                "topic": got["topic"],
            }
            if all({e["id"] for e in events} >= expected for events in bodies.values()):
                return got
            return None

        done = await eventually(complete, within=120, every=1.0)
        got = done or await received()
        for name in ("crm", "cb"):
            ids_seen = {json.loads(d["body"])["id"] for d in got[name]}
            assert expected <= ids_seen, f"{name} is missing {len(expected - ids_seen)} events"
        assert expected <= {e["id"] for e in got["topic"]}

        # Standard Webhooks: the reference verifier accepts every delivery, with either key.
        for delivery in got["crm"]:
            Webhook(NEW_SECRET).verify(delivery["body"], delivery["headers"])
            Webhook(OLD_SECRET).verify(delivery["body"], delivery["headers"])
        for delivery in got["cb"]:
            Webhook(NEW_SECRET).verify(delivery["body"], delivery["headers"])
        # Event Grid: what the topic got is what the SDK's own CloudEvent model reads back.
        for event in got["topic"]:
            parsed: CloudEvent[Any] = CloudEvent.from_dict(event)
            assert parsed.specversion == "1.0" and parsed.type.startswith("sms.message.")
            assert parsed.data is not None
            assert parsed.data["messageId"] == event["data"]["messageId"]

        streams = {
            "crm": [json.loads(d["body"]) for d in got["crm"]],
            "cb": [json.loads(d["body"]) for d in got["cb"]],
            "topic": got["topic"],
        }
        for name, events in streams.items():
            assert in_order_per_message(events), f"{name}: a message's events out of order"
            kept = [e for e in first_seen_order(events) if e["id"] in expected]
            assert {e["type"] for e in kept} == {f"sms.message.{s}" for s in STATUSES}

        # The replay API returns the same set, page by page.
        replayed: list[dict[str, Any]] = []
        after = "0" * 19
        for _ in range(100):
            page = await _get(http, f"{api.url}/events", after=after, limit="100")
            replayed += [v["event"] for v in page["value"]]
            after = page["next"]
            if not page["more"]:
                break
        assert {e["id"] for e in replayed if e["id"] in expected} == expected
        assert in_order_per_message([e for e in replayed if e["id"] in expected])

        # The faults did happen: each receiver refused, and one connection of each was dropped.
        for name in ("crm", "cb"):
            attempts = (await _get(http, f"{sandbox}/sandbox/webhooks/{name}", all="true"))["value"]
            answered = [a["answered"] for a in attempts]
            assert answered.count(500) == 3 and "dropped" in answered, (name, answered[:10])
        grid = (await _get(http, f"{sandbox}/sandbox/eventgrid/sms/events"))["attempts"]
        answered = [a["answered"] for a in grid]
        assert answered.count(503) == 2 and "dropped" in answered, answered[:10]
        states = await _get(http, f"{api.url}/events/destinations")
        counts = {d["name"]: d for d in states["value"]}
        assert all(counts[n]["deadLettered"] == 0 for n in ("crm", "topic", "callback"))
        assert all(counts[n]["retrying"] == 0 for n in ("crm", "topic", "callback"))
