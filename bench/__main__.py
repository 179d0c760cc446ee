"""`python -m bench`: every figure beside its target, and `.artifacts/bench.json`.

Starts its own Azurite and ACS sandbox on free ports and stops them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any

from bench.baseline import baseline_cost
from bench.bulk import Comparison, compare
from bench.coldstart import (
    HostStart,
    ImportTime,
    dry_run_memory,
    function_modules,
    host_start,
    import_time,
)
from bench.costs import BULK, CostRow, measure_costs, tick_costs
from bench.counting import Meter, metered_services
from bench.events import EventRuns, event_throughput
from bench.publish import PublishRuns, Sinks, publish_throughput
from bench.results import Figure, median_rate, section, write_json
from bench.stack import (
    ARTIFACTS,
    SENDERS,
    Stack,
    farther_storage,
    fresh_prefix,
    local_stack,
    round_trip_ms,
)
from bench.verify import check_throughput, settings
from bench.workload import opt_outs, recipients
from shared.runtime import close_services

SECTIONS = ("bulk", "events", "events-publish", "verify", "costs", "coldstart")
RATIO_TARGET = 3.0
IMPORT_TARGET_MS = 300.0
MEMORY_TARGET_MB = 300.0
PUBLISH_TARGET = 200.0  # events/s to each destination
PACKAGES = (
    "azure-functions",
    "azure-functions-runtime-v1",
    "azure-data-tables",
    "azure-core",
    "azure-communication-sms",
    "httpx",
    "aiohttp",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--recipients", type=int, default=5_000, help="bulk send size")
    parser.add_argument("--rounds", type=int, default=3, help="app/quickstart rounds, alternated")
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=2.0,
        help="bulk comparison again with this much added to every storage round trip (0: skip)",
    )
    parser.add_argument("--delay-rounds", type=int, default=1, help="rounds of that comparison")
    parser.add_argument("--events", type=int, default=1_000, help="reports and inbound, each")
    parser.add_argument("--concurrency", type=int, default=8, help="events in flight")
    parser.add_argument(
        "--published", type=int, default=1_000, help="recipients whose events are published"
    )
    parser.add_argument(
        "--publish-rounds", type=int, default=3, help="publisher/bare-POST rounds, alternated"
    )
    parser.add_argument("--dry-run", type=int, default=100_000, help="dry-run recipients")
    parser.add_argument(
        "--verifications", type=int, default=200, help="verifications checked (5 checks each)"
    )
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these")
    parser.add_argument("--output", type=Path, default=ARTIFACTS / "bench.json")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def bulk_figures(result: Comparison, recipients: int, farther_ms: float = 0.0) -> list[Figure]:
    names: tuple[str, ...] = (
        f"app: POST /api/sms, {recipients:,} recipients",
        "quickstart: SmsClient.send, point read, upsert",
        "app / quickstart",
    )
    if farther_ms:
        names = tuple(
            f"{name}, +{farther_ms:g} ms a round trip"
            for name in (f"app, {recipients:,} recipients", "quickstart", "app / quickstart")
        )
    return [
        Figure(
            names[0], median_rate(result.app), "recipients/s", note=f"median of {len(result.app)}"
        ),
        Figure(
            names[1],
            median_rate(result.baseline),
            "recipients/s",
            note=f"median of {len(result.baseline)}",
        ),
        Figure(names[2], result.ratio, "×", RATIO_TARGET, "min"),
    ]


def farther_bulk(stack: Stack, args: argparse.Namespace) -> tuple[dict[str, Any], list[Figure]]:
    """The bulk comparison again, both sides through one proxy adding `--delay-ms` to every
    storage round trip: on loopback a round trip is nearly free, against a real account not."""
    with farther_storage(stack, args.delay_ms) as farther:
        near, far = round_trip_ms(stack), round_trip_ms(farther)
        print(
            f"\nBulk send, {args.recipients:,} recipients, {args.delay_rounds} round(s), "
            f"{args.delay_ms:g} ms added to every storage round trip "
            f"(point read {near:.1f} ms → {far:.1f} ms)",
            flush=True,
        )
        result = asyncio.run(compare(farther, args.recipients, args.delay_rounds))
    data = {
        "delayMs": args.delay_ms,
        "pointReadMs": {"loopback": near, "delayed": far},
        "app": result.app,
        "quickstart": result.baseline,
        "ratio": result.ratio,
    }
    return data, bulk_figures(result, args.recipients, args.delay_ms)


def event_figures(result: EventRuns, concurrency: int) -> list[Figure]:
    how = f"10% duplicates, {concurrency} in flight"
    return [
        Figure("delivery reports", result.reports.rate, "events/s", note=how),
        Figure("inbound messages", result.inbound.rate, "events/s", note=how),
    ]


def publish_figures(result: PublishRuns) -> list[Figure]:
    ticks = ", ".join(str(r.counts["ticks"]) for r in result.app)
    return [
        Figure(
            "app: events delivered to each of 2 destinations",
            median_rate(result.app),
            "events/s",
            PUBLISH_TARGET,
            "min",
            note=(
                f"{result.events:,} events to the webhook and the topic by publisher.tick(), "
                f"relay included; median of {len(result.app)}; ticks {ticks}"
            ),
        ),
        Figure(
            "bare: signed POSTs to one webhook, one by one",
            median_rate(result.bare),
            "events/s",
            note=f"httpx, the same events, nothing stored; median of {len(result.bare)}",
        ),
        Figure("app / bare", result.ratio, "×"),
    ]


def cost_lines(rows: list[CostRow]) -> str:
    lines = [f"  {'operation':<48} {'tables':>6} {'ACS':>4}   {'budget':<11}"]
    for row in rows:
        tables = "n/a" if row.cost is None else str(row.cost.tables)
        acs = "n/a" if row.cost is None else str(row.cost.acs)
        budget = "" if row.budget is None else f"≤ {row.budget.tables} / {row.budget.acs}"
        line = f"  {row.name:<48} {tables:>6} {acs:>4}   {budget:<11} {row.verdict:<4}"
        lines.append(line + (f"  ({row.note})" if row.note else "").rstrip())
    return "\n".join(line.rstrip() for line in lines)


def cost_figures(rows: list[CostRow]) -> list[Figure]:
    out = []
    for row in rows:
        if row.budget is None:
            continue
        tables = None if row.cost is None else float(row.cost.tables)
        acs = None if row.cost is None else float(row.cost.acs)
        out.append(Figure(f"{row.name}: table round trips", tables, "", row.budget.tables))
        out.append(Figure(f"{row.name}: ACS requests", acs, "", row.budget.acs))
    return out


def cold_figures(
    imports: list[ImportTime], host: HostStart, memory: dict[str, float]
) -> list[Figure]:
    modules = [
        Figure(f"import {i.module}", i.ms, "ms", IMPORT_TARGET_MS, note=i.note()) for i in imports
    ]
    serving = Figure(
        "function host: start to every function loaded",
        host.ms,
        "ms",
        note=f"host + worker CPU {host.cpu_ms:.0f} ms; runs {host.runs}",
    )
    dry_run = Figure(
        f"dry run, {int(memory['recipients']):,} recipients: peak RSS",
        memory["peakMb"],
        "MB",
        MEMORY_TARGET_MB,
        note=f"imports alone {memory['importsMb']:.0f} MB, {memory['seconds']:.1f} s",
    )
    return [*modules, serving, dry_run]


async def costs(stack: Stack) -> list[CostRow]:
    meter = Meter(prefix=stack.use())
    with metered_services(meter):
        await close_services()
        rows = await measure_costs(stack.sandbox_url, meter)
        await close_services()
        prefix = meter.prefix = stack.use()  # the publisher's ticks: fresh tables, two sinks
        with settings(Sinks(f"costs-{prefix}", f"costs-{prefix}").env(stack)):
            rows += await tick_costs(meter)
            await close_services()
    targets = recipients(BULK, area=312)
    quickstart = await asyncio.to_thread(
        baseline_cost, stack, targets, opt_outs(targets, SENDERS, area=312)
    )
    note = "for comparison: the same send the quickstart way"
    return [*rows, CostRow("quickstart bulk send, 1,000 recipients", quickstart, note)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    wanted = args.only or list(SECTIONS)
    data: dict[str, Any] = {"meta": _meta(args)}
    figures: list[Figure] = []

    def show(title: str, new: list[Figure]) -> None:
        figures.extend(new)
        print(section(title, new), flush=True)

    with local_stack() as stack:
        if "bulk" in wanted:
            print(f"Bulk send, {args.recipients:,} recipients, {args.rounds} rounds", flush=True)
            bulk = asyncio.run(compare(stack, args.recipients, args.rounds))
            data["bulk"] = {"app": bulk.app, "quickstart": bulk.baseline, "ratio": bulk.ratio}
            show("", bulk_figures(bulk, args.recipients))
            if args.delay_ms > 0:
                data["bulkFarther"], farther = farther_bulk(stack, args)
                show("", farther)
        if "events" in wanted:
            events = asyncio.run(event_throughput(stack, args.events, args.concurrency))
            data["events"] = {"reports": events.reports, "inbound": events.inbound}
            show(f"\nEvents, {args.events:,} of each", event_figures(events, args.concurrency))
        if "events-publish" in wanted:
            print(
                f"\nStatus events published, {args.published:,} recipients' queued and accepted "
                f"events, {args.publish_rounds} rounds",
                flush=True,
            )
            published = publish_throughput(stack, args.published, args.publish_rounds)
            data["eventsPublish"] = {
                "events": published.events,
                "app": published.app,
                "bare": published.bare,
                "ratio": published.ratio,
            }
            show("", publish_figures(published))
        if "verify" in wanted:
            checks = asyncio.run(check_throughput(stack, args.verifications, args.concurrency))
            data["verify"] = {"checks": checks}
            how = f"{args.concurrency} clients at once; 4 wrong codes, then the right one"
            show(
                f"\nOne-time codes, {args.verifications:,} verifications",
                [Figure("verification checks", checks.rate, "checks/s", note=how)],
            )
        if "costs" in wanted:
            rows = asyncio.run(costs(stack))
            data["costs"] = [row.to_json() for row in rows]
            figures.extend(cost_figures(rows))
            print("\nRequests per operation (warm; budget: tables / ACS)\n" + cost_lines(rows))
        if "coldstart" in wanted:
            memory = dry_run_memory(stack.app_env(fresh_prefix()), args.dry_run)
    if "coldstart" in wanted:
        imports = [import_time(module) for module in function_modules()]
        host = host_start()
        data["coldstart"] = {"imports": imports, "hostStart": host, "dryRun": memory}
        show(
            "\nCold start (median of 3 fresh processes; the host: of 5) and memory",
            cold_figures(imports, host, memory),
        )
    data["figures"] = [_figure(f) for f in figures]
    return data


def _figure(figure: Figure) -> dict[str, Any]:
    return {
        "name": figure.name,
        "value": figure.value,
        "unit": figure.unit,
        "target": figure.target,
        "direction": figure.direction if figure.target is not None else None,
        "verdict": figure.verdict,
    }


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": {name: version(name) for name in PACKAGES},
        "args": {
            k: os.path.relpath(v) if isinstance(v, Path) else v for k, v in vars(args).items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = perf_counter()
    data = run(args)
    data["meta"]["seconds"] = round(perf_counter() - began, 1)
    write_json(args.output, data)
    missed = [f["name"] for f in data["figures"] if f["verdict"] == "MISS"]
    passed = sum(1 for f in data["figures"] if f["verdict"] == "pass")
    print(f"\n{passed} targets pass, {len(missed)} missed" + (": " if missed else ""), end="")
    print("; ".join(missed))
    print(f"{data['meta']['seconds']:.0f} s; results in {os.path.relpath(args.output)}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
