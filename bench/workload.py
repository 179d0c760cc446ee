"""What the benchmark sends: recipients, stored opt-outs, and a warm-up that touches every
sender of the pool (so each bucket's ETag is cached, as in a process that has been serving)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.pacing import sticky_sender
from shared.storage import Storage
from shared.tables.opt_outs import POOL_WIDE

MESSAGE = "Your order has shipped. Track it in the app."  # GSM-7, one segment
OPT_OUTS = 1_000
OPT_OUTS_AMONG_RECIPIENTS = 100


def number(i: int, area: int = 206) -> str:
    """The i-th of a run of valid US numbers (exchanges 200 and up, 10,000 lines each)."""
    return f"+1{area}{200 + i // 10_000:03d}{i % 10_000:04d}"


def recipients(count: int, area: int = 206) -> list[str]:
    """Every other number of the run: the opt-outs of strangers fall in between."""
    return [number(2 * i, area) for i in range(count)]


@dataclass(frozen=True, slots=True)
class OptOut:
    recipient: str
    scope: str  # `*` (the pool) or one sender


def opt_outs(targets: Sequence[str], senders: Sequence[str], area: int = 206) -> list[OptOut]:
    """1,000 opt-outs: 100 of them among `targets` (pool-wide), the others strangers' numbers in
    the same key range, one in ten of those a carrier block of one sender."""
    among = list(targets[:: max(1, len(targets) // OPT_OUTS_AMONG_RECIPIENTS)])
    among = among[:OPT_OUTS_AMONG_RECIPIENTS]
    others = OPT_OUTS - len(among)
    step = max(1, len(targets) // others)
    strangers = [number(2 * k * step + 1, area) for k in range(others)]
    return [OptOut(r, POOL_WIDE) for r in among] + [
        OptOut(r, senders[k % len(senders)] if k % 10 == 0 else POOL_WIDE)
        for k, r in enumerate(strangers)
    ]


async def store_opt_outs(store: Storage, entries: Sequence[OptOut], parallel: int = 16) -> None:
    gate = asyncio.Semaphore(parallel)
    now = datetime.now(UTC)

    async def one(entry: OptOut) -> None:
        async with gate:
            await store.opt_outs.add(entry.recipient, scope=entry.scope, at=now, source="bench")

    await asyncio.gather(*(one(e) for e in entries))


def one_per_sender(pool: Sequence[str], area: int = 509) -> list[str]:
    """Numbers whose sticky sender differs: a send to them touches every sender of the pool."""
    found: dict[str, str] = {}
    i = 0
    while len(found) < len(pool):
        candidate = number(i, area)
        found.setdefault(sticky_sender(pool, candidate), candidate)
        i += 1
    return [found[s] for s in pool]
