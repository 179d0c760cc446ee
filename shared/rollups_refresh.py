"""Keeping rollups in step with the usage rows: recompute the hours that may have changed.

A rollup is always recomputed from the hour's usage rows, never incremented, so recomputing is
idempotent and a duplicate event (which rewrites its usage row) can never count twice.

Which hours may have changed: the current and the previous one (events are still arriving, and
ACS's clock may run a little ahead of ours, so the next hour too in its last minutes), and any
hour of the last 25 whose usage partition has rows written after its rollup was computed: Event
Grid keeps retrying a delivery report for up to 24 hours, and the report is counted in the hour
it was made. The check is one key-only query per hour: the marker remembers how many of the rows
it read had been written since `through` (a few minutes before it started, to allow for clock
skew and writes racing the read); if more rows than that are stamped since, the hour changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from weakref import WeakKeyDictionary

from shared.rollups import Dimension, HourMarker, Rollup, hours_between
from shared.tables.usage import UsageRepository

log = logging.getLogger("sms.rollups")

CLOCK_SKEW = timedelta(minutes=5)
LATE_WINDOW = timedelta(hours=25)  # Event Grid retries for 24 hours
MIN_INTERVAL = timedelta(seconds=60)
HOURS_IN_FLIGHT = 8

_last_refresh: WeakKeyDictionary[UsageRepository, datetime] = WeakKeyDictionary()


async def refresh_rollups(
    usage: UsageRepository, now: datetime, *, min_interval: timedelta = MIN_INTERVAL
) -> int:
    """Recompute the hours that may have changed; answers how many were recomputed.

    Cheap to call often: within `min_interval` of this process's last refresh it does nothing,
    so a timer ticking every few seconds refreshes about once a minute."""
    last = _last_refresh.get(usage)
    if last is not None and timedelta(0) <= now - last < min_interval:
        return 0
    hours = hours_between(now - LATE_WINDOW, now + CLOCK_SKEW)
    always = set(hours_between(now - timedelta(hours=1), now + CLOCK_SKEW))
    only_all: tuple[Dimension, ...] = ("all",)
    _, markers = await usage.read_rollups(hours[0][:10], hours[-1][:10], only_all)

    async def changed(hour: str) -> bool:
        marker = markers.get(hour)
        if hour in always or marker is None:
            return True
        return await usage.count_since(hour, marker.through) != marker.recent

    gate = asyncio.Semaphore(HOURS_IN_FLIGHT)

    async def refresh(hour: str) -> bool:
        async with gate:
            if not await changed(hour):
                return False
            await recompute_hour(usage, hour, now)
            return True

    done = sum(await asyncio.gather(*(refresh(h) for h in hours)))
    _last_refresh[usage] = now
    log.info("rollups refreshed: %d of %d recent hours recomputed", done, len(hours))
    return done


async def recompute_hour(usage: UsageRepository, hour: str, now: datetime) -> list[Rollup]:
    """Read the hour's usage rows, roll them up, replace the stored rollups; answers them."""
    through = now - CLOCK_SKEW
    rollups, rows, recent = await usage.roll_up_hour(hour, through)
    marker = HourMarker(hour, raw_rows=rows, through=through, recent=recent, computed_at=now)
    await usage.write_hour_rollups(rollups, marker)
    return rollups


async def load_rollups(
    usage: UsageRepository,
    first: date,
    last: date,
    dimensions: Collection[Dimension],
    now: datetime,
) -> list[Rollup]:
    """The rollups of whole days `first`..`last` (UTC), computing any hour that has none yet,
    so an answer is complete even if the timer has never run, and recent hours afresh (not
    throttled like the timer: a person reading a report expects the last minute in it)."""
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(last, time(23), UTC)
    if start <= now + CLOCK_SKEW and end >= now - LATE_WINDOW:
        await refresh_rollups(usage, now, min_interval=timedelta(0))
    rollups, markers = await usage.read_rollups(first.isoformat(), last.isoformat(), dimensions)
    missing = [h for h in hours_between(start, min(end, now + CLOCK_SKEW)) if h not in markers]
    if missing:
        earliest = await usage.earliest_hour()
        missing = [h for h in missing if earliest is not None and h >= earliest]
    if missing:
        log.info("computing %d hours without rollups", len(missing))
        for computed in await _recompute_all(usage, missing, now):
            rollups.extend(r for r in computed if r.dimension == "all" or r.dimension in dimensions)
    return rollups


async def _recompute_all(
    usage: UsageRepository, hours: Sequence[str], now: datetime
) -> list[list[Rollup]]:
    gate = asyncio.Semaphore(HOURS_IN_FLIGHT)

    async def one(hour: str) -> list[Rollup]:
        async with gate:
            return await recompute_hour(usage, hour, now)

    return list(await asyncio.gather(*(one(h) for h in hours)))
