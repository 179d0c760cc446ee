"""Event throughput: delivery reports and inbound messages through the real handlers, with
Event Grid's duplicates (10%) mixed in, several in flight as the worker runs them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from time import perf_counter
from typing import Any

import azure.functions as func

import on_delivery_report
import on_sms_received
from bench import app
from bench.results import Run
from bench.stack import SENDERS, Stack
from bench.workload import MESSAGE, one_per_sender, recipients
from shared.runtime import close_services, get_services

DUPLICATES = 0.10
REPLY = "Thanks, see you then"  # no keyword: threaded and counted, nothing sent


@dataclass(frozen=True, slots=True)
class EventRuns:
    reports: Run
    inbound: Run


def with_duplicates(payloads: Sequence[dict[str, Any]], seed: int) -> list[func.EventGridEvent]:
    """Every event once, a tenth of them twice, in a shuffled order; converted up front (the
    worker's part, not ours)."""
    rng = random.Random(seed)
    stream = [*payloads, *rng.sample(list(payloads), round(len(payloads) * DUPLICATES))]
    rng.shuffle(stream)
    return [app.event(p) for p in stream]


async def drive(
    handler: Callable[[func.EventGridEvent], Awaitable[None]],
    events: Sequence[func.EventGridEvent],
    concurrency: int,
) -> Run:
    gate = asyncio.Semaphore(concurrency)

    async def one(event: func.EventGridEvent) -> None:
        async with gate:
            await handler(event)

    began = perf_counter()
    await asyncio.gather(*(one(e) for e in events))
    return Run(len(events), perf_counter() - began)


async def event_throughput(stack: Stack, count: int, concurrency: int) -> EventRuns:
    """Send to `count` recipients, then feed a report for each and a reply from each."""
    stack.use()
    await close_services()
    services = await get_services()
    await app.post_sms({"to": one_per_sender(SENDERS), "message": MESSAGE})
    stack.sandbox("DELETE", "/sandbox/messages")
    answer = await app.post_sms({"to": recipients(count, area=425), "message": MESSAGE})
    inbox = {m["messageId"]: m for m in stack.sandbox("GET", "/sandbox/messages").json()["value"]}
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    sent = [(r, inbox[r["acsMessageId"]]) for r in answer["results"]]
    reports = [
        app.delivery_report(
            acs_message_id=r["acsMessageId"],
            sender=m["from"],
            to=r["to"],
            tag=m["tag"],
            event_id=f"report-{i}",
            received=now,
        )
        for i, (r, m) in enumerate(sent)
    ]
    replies = [
        app.inbound(sender=r["to"], to=m["from"], text=REPLY, event_id=f"in-{i}", received=now)
        for i, (r, m) in enumerate(sent)
    ]
    report_run = await drive(on_delivery_report.main, with_duplicates(reports, 1), concurrency)
    counts = await services.storage.messages.status_counts(answer["batchId"])
    if counts != {"delivered": count}:
        raise RuntimeError(f"after the reports the batch holds {counts}")
    inbound_run = await drive(on_sms_received.main, with_duplicates(replies, 2), concurrency)
    stack.sandbox("DELETE", "/sandbox/messages")
    await close_services()
    return EventRuns(report_run, inbound_run)
