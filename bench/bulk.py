"""Bulk send throughput: the app's `POST /api/sms` against the quickstart way, alternated.

Each round uses fresh tables holding the same 1,000 opt-outs; both sides are warmed up first
(tables created, connections open, and for the app each sender's bucket ETag cached)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter

from bench import app
from bench.baseline import baseline_run
from bench.results import Run, median_rate
from bench.stack import SENDERS, Stack
from bench.workload import MESSAGE, OptOut, one_per_sender, opt_outs, recipients, store_opt_outs
from shared.runtime import close_services, get_services


@dataclass(frozen=True, slots=True)
class Comparison:
    app: list[Run]
    baseline: list[Run]

    @property
    def ratio(self) -> float:
        return median_rate(self.app) / median_rate(self.baseline)


async def app_run(stack: Stack, targets: Sequence[str], entries: Sequence[OptOut]) -> Run:
    """One timed `POST /api/sms` to every target, into fresh tables, after a warm-up."""
    stack.use()
    await close_services()
    services = await get_services()
    await store_opt_outs(services.storage, entries)
    await app.post_sms({"to": one_per_sender(SENDERS), "message": MESSAGE})
    began = perf_counter()
    answer = await app.post_sms({"to": list(targets), "message": MESSAGE, "tag": "bench"})
    seconds = perf_counter() - began
    await close_services()
    return Run(len(targets), seconds, dict(Counter(r["status"] for r in answer["results"])))


async def compare(stack: Stack, count: int, rounds: int) -> Comparison:
    targets = recipients(count)
    entries = opt_outs(targets, SENDERS)
    expected = {"accepted": count - 100, "optedOut": 100}
    app_runs: list[Run] = []
    baseline_runs: list[Run] = []
    for round_ in range(rounds):
        order = ("app", "baseline") if round_ % 2 == 0 else ("baseline", "app")
        for side in order:
            if side == "app":
                run = await app_run(stack, targets, entries)
                app_runs.append(run)
            else:
                run = await asyncio.to_thread(baseline_run, stack, targets, entries)
                baseline_runs.append(run)
            if run.counts != expected:
                raise RuntimeError(f"{side} sent {run.counts}, expected {expected}")
            print(f"    round {round_ + 1} {side:<8} {run.rate:9,.0f} recipients/s", flush=True)
    stack.sandbox("DELETE", "/sandbox/messages")
    stack.sandbox("DELETE", "/sandbox/requests")
    return Comparison(app_runs, baseline_runs)
