"""Hourly rollups of usage rows (pure): what a report reads instead of every row.

One hour's usage rows become one rollup row per dimension value (`all`, each sender, country
and tag) in the day's partition of `usageRollups`. A rollup holds everything a report needs and
can be merged with others: counts per kind, segments, failure reasons and a latency histogram.
Percentiles cannot be averaged across hours, but histograms can be added, so a 30-day median is
computed from 720 hourly histograms without reading a single usage row.

The `all` row of an hour doubles as its marker: how many usage rows it was computed from and how
many of them were recent, which lets a later refresh decide cheaply whether the hour changed.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from shared.records import key_safe
from shared.usage import EVENT_KINDS, UsageEvent, UsageKind

Dimension = Literal["all", "sender", "country", "tag"]
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)
KINDS: tuple[UsageKind, ...] = get_args(UsageKind)
SENT_KINDS: tuple[UsageKind, ...] = ("accepted", "rejected", "unknown")

# Upper edges (ms) of the latency buckets, 1-2-5 per decade from 100 ms to ~28 h; the last
# bucket holds everything slower. Log-spaced: the relative error is the same at every scale.
LATENCY_EDGES_MS: tuple[int, ...] = tuple(
    m * 10**e for e in range(2, 9) for m in (1, 2, 5) if m * 10**e <= 100_000_000
)
MAX_STORED_REASONS = 25  # per rollup row; the rest are summed under OTHER_REASON
OTHER_REASON = "other"

HOUR_FORMAT = "%Y-%m-%dT%H"


def hour_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime(HOUR_FORMAT)


def hour_start(hour: str) -> datetime:
    return datetime.strptime(hour, HOUR_FORMAT).replace(tzinfo=UTC)


def hours_between(first: datetime, last: datetime) -> list[str]:
    """Every hour from the one holding `first` to the one holding `last`, oldest first."""
    at = hour_start(hour_of(first))
    out = []
    while at <= last:
        out.append(hour_of(at))
        at += timedelta(hours=1)
    return out


def bucket_of(latency_ms: int) -> int:
    """Bucket i holds latencies in [edge[i-1], edge[i]); the last one holds the rest."""
    return bisect_right(LATENCY_EDGES_MS, max(0, latency_ms))


@dataclass(slots=True)
class Tally:
    """Figures that add up: one hour of one dimension value, or any sum of them."""

    counts: dict[str, int] = field(default_factory=dict)
    segments: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_EDGES_MS) + 1))
    blocks: dict[str, int] = field(default_factory=dict)  # refused verification texts, by rule
    events: dict[str, int] = field(default_factory=dict)  # `<destination>|<outcome>`: status events

    def count(self, event: UsageEvent) -> None:
        self.counts[event.kind] = self.counts.get(event.kind, 0) + event.count
        if event.kind in SENT_KINDS:
            self.segments += event.segments  # a grouped row carries its group's total
        if event.kind == "failed":
            reason = event.reason or "unknown"
            self.reasons[reason] = self.reasons.get(reason, 0) + event.count
        if event.kind in ("delivered", "failed") and event.latency_ms is not None:
            self.latency[bucket_of(event.latency_ms)] += event.count
        if event.kind == "verifyBlocked":
            reason = event.reason or "unknown"
            self.blocks[reason] = self.blocks.get(reason, 0) + event.count
        if event.kind in EVENT_KINDS:
            key = f"{event.reason or 'unknown'}|{EVENT_KINDS[event.kind]}"
            self.events[key] = self.events.get(key, 0) + event.count

    def absorb(self, other: Tally) -> None:
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        self.segments += other.segments
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n
        for i, n in enumerate(other.latency):
            self.latency[i] += n
        for reason, n in other.blocks.items():
            self.blocks[reason] = self.blocks.get(reason, 0) + n
        for key, n in other.events.items():
            self.events[key] = self.events.get(key, 0) + n

    def __getitem__(self, kind: UsageKind) -> int:
        return self.counts.get(kind, 0)

    @property
    def sent(self) -> int:
        return sum(self[k] for k in SENT_KINDS)

    @property
    def reports_timed(self) -> int:
        return sum(self.latency)

    def top_reasons(self, n: int) -> list[tuple[str, int]]:
        """Most frequent first; ties in name order, so the answer is stable."""
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))[:n]

    def latency_quantile(self, q: float) -> int | None:
        """The q-quantile, interpolated linearly inside its bucket (as Prometheus does); the
        open last bucket answers its lower edge. None without any timed report."""
        total = sum(self.latency)
        if total == 0:
            return None
        rank = q * total
        below = 0
        for i, n in enumerate(self.latency):
            if n and below + n >= rank:
                lower = LATENCY_EDGES_MS[i - 1] if i else 0
                if i == len(LATENCY_EDGES_MS):
                    return lower
                upper = LATENCY_EDGES_MS[i]
                return round(lower + (upper - lower) * (rank - below) / n)
            below += n
        return LATENCY_EDGES_MS[-1]  # pragma: no cover - rank never exceeds the total


@dataclass(frozen=True, slots=True)
class HourMarker:
    """What the `all` row of an hour knows about the usage rows it was computed from."""

    hour: str
    raw_rows: int  # usage rows read
    through: datetime  # rows stamped (by Table Storage) at or after this time are "recent"
    recent: int  # how many of the rows read were recent
    computed_at: datetime


@dataclass(frozen=True, slots=True)
class Rollup:
    hour: str  # YYYY-MM-DDTHH
    dimension: Dimension
    value: str | None  # the sender, country or tag; None for `all` and for rows without one
    tally: Tally

    @property
    def day(self) -> str:
        return self.hour[:10]

    @property
    def row_key(self) -> str:
        return rollup_row_key(self.hour, self.dimension, self.value)

    def to_entity(self, marker: HourMarker | None = None) -> dict[str, Any]:
        tally = self.tally
        entity: dict[str, Any] = {
            "PartitionKey": self.day,
            "RowKey": self.row_key,
            "Hour": self.hour,
            "Dimension": self.dimension,
            "Segments": tally.segments,
            "Reasons": json.dumps(_capped(tally.reasons), separators=(",", ":")),
            "Latency": json.dumps(_sparse(tally.latency), separators=(",", ":")),
        }
        if tally.blocks:
            entity["Blocks"] = json.dumps(_capped(tally.blocks), separators=(",", ":"))
        if tally.events:
            entity["Events"] = json.dumps(_capped(tally.events), separators=(",", ":"))
        if self.value is not None:
            entity["Value"] = self.value
        for kind in KINDS:
            entity[_property(kind)] = tally[kind]
        if marker is not None:
            entity.update(
                {
                    "RawRows": marker.raw_rows,
                    "Through": marker.through,
                    "Recent": marker.recent,
                    "ComputedAt": marker.computed_at,
                }
            )
        return entity

    @classmethod
    def from_entity(cls, entity: Mapping[str, Any]) -> Rollup:
        latency = [0] * (len(LATENCY_EDGES_MS) + 1)
        for edge, n in json.loads(entity.get("Latency") or "{}").items():
            index = (
                len(LATENCY_EDGES_MS) if edge == "inf" else bisect_left(LATENCY_EDGES_MS, int(edge))
            )
            latency[index] += int(n)
        tally = Tally(
            counts={k: _int(entity.get(_property(k), 0)) for k in KINDS},
            segments=_int(entity.get("Segments", 0)),
            reasons={str(k): int(v) for k, v in json.loads(entity.get("Reasons") or "{}").items()},
            latency=latency,
            blocks={str(k): int(v) for k, v in json.loads(entity.get("Blocks") or "{}").items()},
            events={str(k): int(v) for k, v in json.loads(entity.get("Events") or "{}").items()},
        )
        return cls(entity["Hour"], entity["Dimension"], entity.get("Value"), tally)


def marker_from_entity(entity: Mapping[str, Any]) -> HourMarker | None:
    if entity.get("Dimension") != "all" or "ComputedAt" not in entity:
        return None
    return HourMarker(
        hour=entity["Hour"],
        raw_rows=_int(entity["RawRows"]),
        through=_aware(entity["Through"]),
        recent=_int(entity["Recent"]),
        computed_at=_aware(entity["ComputedAt"]),
    )


def rollup_row_key(hour: str, dimension: Dimension, value: str | None) -> str:
    """`HH|dimension|value`: an hour's rows are one key range of the day's partition."""
    return f"{hour[11:13]}|{dimension}|{key_safe(value or '')}"


def hour_key_range(hour: str) -> tuple[str, str]:
    """Row keys of one hour's rollups lie in [low, high)."""
    hh = hour[11:13]
    return f"{hh}|", f"{hh}}}"


class HourRollup:
    """Builds one hour's rollups event by event, so an hour is never held in memory whole."""

    def __init__(self, hour: str) -> None:
        self.hour = hour
        self._tallies: dict[tuple[Dimension, str | None], Tally] = {("all", None): Tally()}

    def add(self, event: UsageEvent) -> None:
        keys: tuple[tuple[Dimension, str | None], ...] = (
            ("all", None),
            ("sender", event.sender),
            ("country", event.country),
            ("tag", event.tag),
        )
        for key in keys:
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = Tally()
            tally.count(event)

    def rollups(self) -> list[Rollup]:
        """`all` first (always, even for an empty hour), then one per sender, country and tag
        seen; events without a value are grouped under None."""
        return [Rollup(self.hour, d, value, t) for (d, value), t in self._tallies.items()]


def rollup_hour(hour: str, events: Iterable[UsageEvent]) -> list[Rollup]:
    builder = HourRollup(hour)
    for event in events:
        builder.add(event)
    return builder.rollups()


def _property(kind: UsageKind) -> str:
    return kind[:1].upper() + kind[1:]  # optedOut → OptedOut


def _capped(reasons: Mapping[str, int]) -> dict[str, int]:
    """At most MAX_STORED_REASONS reasons (the rest summed as `other`): a property holds 64 KiB,
    and free-text reasons are many."""
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:MAX_STORED_REASONS])
    rest = sum(n for _, n in ranked[MAX_STORED_REASONS:])
    if rest:
        kept[OTHER_REASON] = kept.get(OTHER_REASON, 0) + rest
    return kept


def _sparse(latency: list[int]) -> dict[str, int]:
    """`{"<upper edge ms>" | "inf": count}` for the non-empty buckets: readable as it is."""
    edges = [str(e) for e in LATENCY_EDGES_MS] + ["inf"]
    return {edges[i]: n for i, n in enumerate(latency) if n}


def _int(value: Any) -> int:
    return int(getattr(value, "value", value) or 0)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
