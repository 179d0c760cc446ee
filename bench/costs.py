"""Requests per operation, counted exactly on the wire (see `bench.counting`).

Measured warm, as in a worker that has been serving: tables exist and each sender's token-bucket
row and ETag are cached in the process (one warm-up send to every sender of the pool first).
The first send of a process costs more (a create-if-absent per table, a read per bucket), shown
apart. Run with pacing out of the way and ACS's rate limit off, so a bulk send goes at once.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench import app
from bench.counting import Cost, Meter
from bench.stack import SENDERS
from bench.workload import MESSAGE, one_per_sender, opt_outs, recipients, store_opt_outs
from shared.clock import utcnow
from shared.runtime import get_services
from shared.verifications import Verifications

BULK = 1_000
CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True, slots=True)
class Budget:
    tables: int
    acs: int

    def allows(self, cost: Cost) -> bool:
        return cost.tables <= self.tables and cost.acs <= self.acs


BUDGETS = {
    # A change's event is written in its own transaction; the hint that leads the publisher to
    # its partition is one upsert, reused by the process for a minute (a send's queued and
    # accepted events share one). A report is counted as if it came after that minute.
    "single send": Budget(tables=7, acs=1),
    "bulk send, 1,000 recipients": Budget(tables=60, acs=10),
    "delivery report": Budget(tables=5, acs=0),
    "inbound message": Budget(tables=5, acs=0),
    # One-time codes. A start: 6 limit rows (number, prefix, country, total; a number this
    # process has not seen costs a read), the record, the text as a send with its key (8), and
    # the start's usage row, and the hints of its events (the verification's, its text's). A
    # check: one read and one conditional save, whatever comes at once.
    "verification start": Budget(tables=18, acs=1),
    "verification check, wrong code": Budget(tables=2, acs=0),
    "verification check, approving": Budget(tables=5, acs=0),
    "verification resend": Budget(tables=16, acs=2),
}


@dataclass(frozen=True, slots=True)
class CostRow:
    name: str
    cost: Cost | None  # None: the operation is not there to measure
    note: str = ""

    @property
    def budget(self) -> Budget | None:
        return BUDGETS.get(self.name)

    @property
    def verdict(self) -> str:
        if self.cost is None:
            return "n/a"
        if self.budget is None:
            return ""
        return "pass" if self.budget.allows(self.cost) else "MISS"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tables": None if self.cost is None else self.cost.tables,
            "acs": None if self.cost is None else self.cost.acs,
            "budgetTables": None if self.budget is None else self.budget.tables,
            "budgetAcs": None if self.budget is None else self.budget.acs,
            "verdict": self.verdict,
            "breakdown": None if self.cost is None else self.cost.breakdown(),
            "note": self.note,
        }


async def _counted(meter: Meter, operation: Callable[[], Awaitable[object]]) -> Cost:
    mark = meter.mark()
    await operation()
    return meter.since(mark)


async def measure_costs(
    sandbox_url: str, meter: Meter, *, with_analytics: bool = True
) -> list[CostRow]:
    """Every operation, in a process whose services send through `meter`'s transports
    (`bench.counting.metered_services`), against fresh tables: once to warm up, then counted."""
    services = await get_services()
    cold = CostRow(
        "single send, cold",
        await _counted(meter, lambda: app.post_sms({"to": "+13125550100", "message": MESSAGE})),
        "first in a process: creates its tables, reads its sender's bucket",
    )
    bulk = recipients(BULK, area=312)
    await store_opt_outs(services.storage, opt_outs(bulk, SENDERS, area=312))
    await app.post_sms({"to": one_per_sender(SENDERS), "message": MESSAGE})  # every bucket
    await _operations(sandbox_url, meter, area=773, bulk=None)  # every table, once
    rows = [cold, *await _operations(sandbox_url, meter, area=312, bulk=bulk)]
    if with_analytics:
        first = await _analytics(meter)
        if first.cost is not None:
            first = replace(first, note="computes the rollups of every hour that has none")
        rows.append(await _analytics(meter))
        rows.append(replace(first, name="analytics, 30 days, first in a process"))
    return rows


async def _operations(
    sandbox_url: str, meter: Meter, *, area: int, bulk: list[str] | None
) -> list[CostRow]:
    rows: list[CostRow] = []

    async def row(name: str, operation: Callable[[], Awaitable[object]], note: str = "") -> None:
        rows.append(CostRow(name, await _counted(meter, operation), note))

    single = f"+1{area}5550123"
    await row("single send", lambda: app.post_sms({"to": single, "message": MESSAGE}))
    await row(
        "single send with Idempotency-Key",
        lambda: app.post_sms({"to": f"+1{area}5550124", "message": MESSAGE}, f"order-{area}"),
    )
    if bulk is not None:
        await row(
            "bulk send, 1,000 recipients",
            lambda: app.post_sms({"to": bulk, "message": MESSAGE}),
            "pool of 3 senders; 1,000 opt-outs stored, 100 of them among the recipients",
        )
        pinned = recipients(BULK, area=area + 1)
        await row(
            "bulk send, 1,000 recipients, one sender",
            lambda: app.post_sms({"to": pinned, "message": MESSAGE, "from": SENDERS[0]}),
            "`from` given: no opt-out among them",
        )

    [received] = _inbox(sandbox_url, single)
    report = app.delivery_report(
        acs_message_id=received["messageId"],
        sender=received["from"],
        to=single,
        tag=received["tag"],
        event_id=f"report-{area}",
        received=_now(),
    )
    services = await get_services()
    services.storage.pending_events.forget_announcements()  # the report comes a minute later
    await row("delivery report", lambda: app.report(report))
    await row("delivery report, repeated", lambda: app.report(report), "Event Grid duplicate")

    def inbound(text: str, event_id: str) -> dict[str, Any]:
        return app.inbound(
            sender=single, to=received["from"], text=text, event_id=event_id, received=_now()
        )

    await row("inbound message", lambda: app.receive(inbound("Thanks, see you then", f"in-{area}")))
    await row(
        "inbound STOP",
        lambda: app.receive(inbound("STOP", f"stop-{area}")),
        "exact STOP to a toll-free number: no reply; scans the outbox for waiting messages",
    )
    return rows + await _verification_rows(sandbox_url, meter, area=area)


async def _verification_rows(sandbox_url: str, meter: Meter, *, area: int) -> list[CostRow]:
    """A start, a wrong check, the approving check, and a resend (its wait skipped by a
    clock 31 s ahead), each for a number this process has not seen."""
    rows: list[CostRow] = []
    to, other = f"+1{area}5550140", f"+1{area}5550141"
    answers: dict[str, dict[str, Any]] = {}

    async def start(number: str) -> None:
        answers[number] = await app.verify("POST", body={"to": number})

    rows.append(
        CostRow(
            "verification start",
            await _counted(meter, lambda: start(to)),
            "limits of number, prefix, country, total; the record; the text (a send)",
        )
    )
    vid = answers[to]["id"]
    code = CODE.search(_inbox(sandbox_url, to)[0]["message"])
    assert code is not None
    wrong = f"{(int(code.group(1)) + 1) % 1_000_000:06d}"
    check = {"id": vid, "action": "check"}
    rows.append(
        CostRow(
            "verification check, wrong code",
            await _counted(meter, lambda: app.verify("POST", check, {"code": wrong})),
        )
    )
    rows.append(
        CostRow(
            "verification check, approving",
            await _counted(meter, lambda: app.verify("POST", check, {"code": code.group(1)})),
            "also counts the approval: a usage row, the guard's prefix and country cells",
        )
    )
    await start(other)
    services = await get_services()
    later = Verifications(
        services.settings,
        services.storage,
        services.sender,
        services.reports,
        clock=lambda: utcnow() + timedelta(seconds=31),
    )
    rows.append(
        CostRow(
            "verification resend",
            await _counted(meter, lambda: later.resend(answers[other]["id"], ip=None)),
            "its last text has no report yet: asks ACS for one first",
        )
    )
    return rows


async def _analytics(meter: Meter) -> CostRow:
    name = "analytics, 30 days"
    try:
        analytics = importlib.import_module("analytics")
    except ImportError:
        return CostRow(name, None, "GET /api/analytics is not there yet")

    async def query() -> None:
        response = await analytics.main(app.http_request("GET", "analytics"))
        if response.status_code != 200:
            raise RuntimeError(f"GET /api/analytics answered {response.status_code}")

    return CostRow(name, await _counted(meter, query), "GET /api/analytics, after a first one")


async def tick_costs(meter: Meter) -> list[CostRow]:
    """One publisher tick with nothing new, and one after a single send (its queued and
    accepted events), with the destinations the environment configures. Run in fresh tables:
    a tick reads every partition hinted in the last few minutes, so the count depends on what
    was written before it; here, the warm-up send's batch and the single send's."""
    services = await get_services()
    await app.post_sms({"to": one_per_sender(SENDERS), "message": MESSAGE})
    await services.publisher.tick()  # tables, connections, every destination's cursor
    await services.publisher.tick()
    names = ", ".join(d.name for d in services.settings.events.destinations)
    rows = [
        CostRow(
            "publisher tick, nothing new",
            await _counted(meter, services.publisher.tick),
            f"destinations {names} and per-send callbacks; one hinted batch",
        )
    ]
    await app.post_sms({"to": "+13125550199", "message": MESSAGE})
    tick = await _counted(meter, services.publisher.tick)
    rows.append(CostRow("publisher tick, a single send's 2 events", tick, "two hinted batches"))
    return rows


def _inbox(sandbox_url: str, to: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{sandbox_url}/sandbox/messages", params={"to": to}, timeout=10)
    response.raise_for_status()
    value: list[dict[str, Any]] = response.json()["value"]
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
