"""Status events published per second: a bulk send's events through the publisher's ticks to a
Standard Webhooks receiver and an Event Grid topic (the sandbox's), against the same events
POSTed one at a time, signed, to a receiver by a bare httpx loop with nothing stored.

The app's side is timed from its first tick after the send to the tick after which both
destinations have every event: the relay into the event log, the deliveries and their cursors,
all of it. The bare loop is the floor: the HTTP deliveries alone, one by one."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

import httpx
from standardwebhooks import Webhook

from bench import app
from bench.results import Run, median_rate
from bench.stack import SENDERS, Stack
from bench.verify import settings
from bench.workload import MESSAGE, one_per_sender, recipients
from shared.runtime import close_services, get_services

# A fixed secret for the benchmark's receivers only (base64 after `whsec_`).
SECRET = "whsec_YmVuY2gtb25seS13ZWJob29rLXNpZ25pbmcta2V5"
GRID_KEY = "c2FuZGJveC1ldmVudGdyaWQtZGV2LWtleQ=="  # the sandbox topic's public development key
EVENTS_PER_MESSAGE = 2  # a send makes each message queued, then accepted
MAX_TICKS = 50


@dataclass(frozen=True, slots=True)
class PublishRuns:
    events: int
    app: list[Run]
    bare: list[Run]

    @property
    def ratio(self) -> float:
        return median_rate(self.app) / median_rate(self.bare)


@dataclass(frozen=True, slots=True)
class Sinks:
    webhook: str  # the receiver's name in the sandbox
    topic: str

    def env(self, stack: Stack) -> dict[str, str]:
        """The two destinations, as `SMS_EVENTS_*` settings."""
        return {
            "SMS_EVENTS_DESTINATIONS": "crm,grid",
            "SMS_EVENTS_CRM_URL": f"{stack.sandbox_url}/sandbox/webhooks/{self.webhook}",
            "SMS_EVENTS_CRM_SECRETS": SECRET,
            "SMS_EVENTS_GRID_KIND": "eventgrid",
            "SMS_EVENTS_GRID_URL": f"{stack.sandbox_url}/eventgrid/{self.topic}/api/events",
            "SMS_EVENTS_GRID_KEY": GRID_KEY,
        }

    def clear(self, stack: Stack) -> None:
        stack.sandbox("DELETE", f"/sandbox/webhooks/{self.webhook}")
        stack.sandbox("DELETE", f"/sandbox/eventgrid/{self.topic}/events")

    def received(self, stack: Stack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What the webhook took (with its verdict on the signature) and the topic kept."""
        hook = stack.sandbox("GET", f"/sandbox/webhooks/{self.webhook}").json()
        grid = stack.sandbox("GET", f"/sandbox/eventgrid/{self.topic}/events").json()
        if hook["rejected"]:
            raise RuntimeError(f"the webhook refused {len(hook['rejected'])} deliveries")
        return hook["value"], [v["event"] for v in grid["value"]]


async def app_run(stack: Stack, count: int, round_: int) -> tuple[Run, list[str]]:
    """Fresh tables; a warm-up send and tick (tables, connections, the destinations' cursors);
    then a send to `count` recipients and the ticks until both destinations have its events.
    Answers the run and the webhook bodies, in the order they arrived."""
    prefix = stack.use()
    sinks = Sinks(f"publish-{prefix}", f"publish-{prefix}")
    stack.sandbox("POST", f"/sandbox/webhooks/{sinks.webhook}/secret", {"secret": SECRET})
    with settings(sinks.env(stack)):
        await close_services()
        services = await get_services()
        await app.post_sms({"to": one_per_sender(SENDERS), "message": MESSAGE})
        warm = await services.publisher.tick()
        before = {name: state.delivered for name, state in warm.destinations.items()}
        sinks.clear(stack)
        targets = recipients(count, area=415 + round_)
        answer = await app.post_sms({"to": targets, "message": MESSAGE, "tag": "bench"})
        expected = EVENTS_PER_MESSAGE * len(answer["results"])
        ticks = logged = 0
        began = perf_counter()
        while ticks < MAX_TICKS:
            report = await services.publisher.tick()
            ticks += 1
            logged += report.logged
            delivered = [
                report.destinations[name].delivered - before[name]
                for name in ("crm", "grid")
                if name in report.destinations
            ]
            if len(delivered) == 2 and min(delivered) >= expected:
                break
        seconds = perf_counter() - began
        await close_services()
    hook, grid = sinks.received(stack)
    bodies = [d["body"] for d in hook]
    _check(bodies, [d["verified"] for d in hook], grid, expected)
    sinks.clear(stack)
    stack.sandbox("DELETE", "/sandbox/messages")
    return Run(expected, seconds, {"ticks": ticks, "logged": logged}), bodies


def _check(
    bodies: Sequence[str], verified: Sequence[bool | None], grid: Sequence[dict[str, Any]], n: int
) -> None:
    """Every event once at each destination, signed, and each message's events in order."""
    events = [json.loads(b) for b in bodies]
    ids = {e["id"] for e in events}
    if len(events) != n or len(ids) != n or {e["id"] for e in grid} != ids:
        raise RuntimeError(
            f"expected {n} events at each destination; the webhook got {len(events)} "
            f"({len(ids)} distinct), the topic {len(grid)}"
        )
    if not all(verified):
        raise RuntimeError("the webhook could not verify every signature")
    sequences: dict[str, list[int]] = defaultdict(list)
    for event in events:
        sequences[event["subject"]].append(event["data"]["sequence"])
    if any(s != sorted(s) for s in sequences.values()):
        raise RuntimeError("a message's events reached the webhook out of order")


def bare_run(stack: Stack, bodies: Sequence[str]) -> Run:
    """The same events, each POSTed and signed the Standard Webhooks way, one after another to
    a fresh receiver that checks the signatures: no storage, no log, no cursors."""
    name = f"publish-bare-{len(bodies)}-{perf_counter():.0f}"
    stack.sandbox("POST", f"/sandbox/webhooks/{name}/secret", {"secret": SECRET})
    url = f"{stack.sandbox_url}/sandbox/webhooks/{name}"
    signer = Webhook(SECRET)
    with httpx.Client(timeout=10) as http:
        http.post(url, content=b"{}", headers=_signed(signer, "warm-up", "{}"))
        stack.sandbox("DELETE", f"/sandbox/webhooks/{name}")
        work = [(str(json.loads(body)["id"]), body) for body in bodies]
        began = perf_counter()
        for event_id, body in work:
            headers = _signed(signer, event_id, body)
            http.post(url, content=body.encode(), headers=headers).raise_for_status()
        seconds = perf_counter() - began
    taken = stack.sandbox("GET", f"/sandbox/webhooks/{name}").json()
    if len(taken["value"]) != len(bodies) or not all(d["verified"] for d in taken["value"]):
        raise RuntimeError("the bare loop's deliveries were not all taken and verified")
    stack.sandbox("DELETE", f"/sandbox/webhooks/{name}")
    return Run(len(bodies), seconds)


def _signed(signer: Webhook, event_id: str, body: str) -> dict[str, str]:
    at = datetime.now(UTC)
    return {
        "content-type": "application/cloudevents+json; charset=utf-8",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer.sign(event_id, at, body),
    }


def publish_throughput(stack: Stack, count: int, rounds: int) -> PublishRuns:
    """`rounds` of each side, the order alternating; the bare loop posts the bodies the
    webhook received in the first app round."""
    app_runs: list[Run] = []
    bare_runs: list[Run] = []
    bodies: list[str] = []
    for round_ in range(rounds):
        order = ("app", "bare") if round_ % 2 == 0 else ("bare", "app")
        for side in order:
            if side == "app":
                run, got = asyncio.run(app_run(stack, count, round_))
                bodies = bodies or got
                app_runs.append(run)
                how = f"{run.counts['ticks']} ticks"
            else:
                run = bare_run(stack, bodies)
                bare_runs.append(run)
                how = "webhook only"
            print(f"    round {round_ + 1} {side:<5} {run.rate:9,.0f} events/s ({how})", flush=True)
    events = app_runs[0].items if app_runs else 0
    return PublishRuns(events, app_runs, bare_runs)
