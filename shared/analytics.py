"""The analytics report (pure): query parameters in, figures out, from hourly rollups.

Counts add up across hours; rates, percentiles and top reasons are derived only at the end,
from summed counts and summed histograms, so a 30-day figure is exact, not an average of
daily averages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, get_args

from shared.acs_codes import describe
from shared.clock import TimeFormatError, iso, parse_day
from shared.errors import ValidationError
from shared.rollups import Dimension, Rollup, Tally

GroupBy = Literal["day", "sender", "country", "tag"]
GROUP_BYS: tuple[GroupBy, ...] = get_args(GroupBy)
DEFAULT_DAYS, MAX_DAYS = 30, 366
DEFAULT_TOP, MAX_TOP = 5, 50


@dataclass(frozen=True, slots=True)
class ReportQuery:
    first: date
    last: date
    group_by: GroupBy = "day"
    top: int = DEFAULT_TOP

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        return ("all",) if self.group_by == "day" else ("all", self.group_by)


def parse_report_query(params: Mapping[str, str], today: date) -> ReportQuery:
    """`from`, `to` (YYYY-MM-DD, UTC days, both included), `groupBy`, `top`; a `ValidationError`
    naming the parameter when one is wrong."""
    last = _date(params, "to") or today
    first = _date(params, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationError("from", "'from' must not be after 'to'")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError("from", f"a report covers at most {MAX_DAYS} days")
    group_by = params.get("groupBy") or "day"
    if group_by not in GROUP_BYS:
        raise ValidationError("groupBy", f"'groupBy' must be one of {', '.join(GROUP_BYS)}")
    raw_top = params.get("top")
    top = DEFAULT_TOP
    if raw_top is not None:
        if not (raw_top.isascii() and raw_top.isdigit()) or not 1 <= int(raw_top) <= MAX_TOP:
            raise ValidationError("top", f"'top' must be a whole number from 1 to {MAX_TOP}")
        top = int(raw_top)
    return ReportQuery(first, last, group_by, top)


def _date(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_day(raw)
    except TimeFormatError as exc:
        raise ValidationError(name, f"'{name}' {exc}") from None


@dataclass(frozen=True, slots=True)
class VerificationFigures:
    """One-time codes: started, approved, their ratio, and the texts refused by each rule."""

    started: int
    approved: int
    conversion_rate: float | None  # approved / started
    blocked: int
    blocked_reasons: tuple[tuple[str, int], ...]  # most frequent first

    @classmethod
    def of(cls, tally: Tally) -> VerificationFigures:
        ranked = sorted(tally.blocks.items(), key=lambda item: (-item[1], item[0]))
        return cls(
            started=tally["verifyStarted"],
            approved=tally["verifyApproved"],
            conversion_rate=_rate(tally["verifyApproved"], tally["verifyStarted"]),
            blocked=sum(tally.blocks.values()),
            blocked_reasons=tuple(ranked),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "approved": self.approved,
            "conversionRate": self.conversion_rate,
            "blocked": self.blocked,
            "blockedReasons": [{"reason": r, "count": n} for r, n in self.blocked_reasons],
        }


@dataclass(frozen=True, slots=True)
class EventFigures:
    """Status events per destination: taken, refused attempts (each retried), given up on."""

    by_destination: tuple[tuple[str, dict[str, int]], ...]

    @classmethod
    def of(cls, tally: Tally) -> EventFigures:
        out: dict[str, dict[str, int]] = {}
        for key, n in tally.events.items():
            name, _, outcome = key.rpartition("|")
            counts = out.setdefault(name, {"delivered": 0, "failed": 0, "deadLettered": 0})
            counts[outcome] = counts.get(outcome, 0) + n
        return cls(tuple(sorted(out.items())))

    def total(self, outcome: str) -> int:
        return sum(counts.get(outcome, 0) for _, counts in self.by_destination)

    def to_json(self) -> dict[str, Any]:
        return {
            "delivered": self.total("delivered"),
            "failed": self.total("failed"),
            "deadLettered": self.total("deadLettered"),
            "byDestination": [{"destination": n, **c} for n, c in self.by_destination],
        }


@dataclass(frozen=True, slots=True)
class Figures:
    sent: int
    accepted: int
    rejected: int
    unknown: int
    invalid: int
    opted_out: int
    delivered: int
    failed: int
    segments: int
    inbound: int
    replies: int
    opt_outs: int
    opt_ins: int
    delivery_rate: float | None  # delivered / (delivered + failed)
    opt_out_rate: float | None  # opt-outs / sent
    reply_rate: float | None  # replies / sent
    failure_reasons: tuple[tuple[str, int], ...]
    median_latency_ms: int | None
    p95_latency_ms: int | None
    verifications: VerificationFigures
    events: EventFigures

    @classmethod
    def of(cls, tally: Tally, top: int) -> Figures:
        sent = tally.sent
        return cls(
            sent=sent,
            accepted=tally["accepted"],
            rejected=tally["rejected"],
            unknown=tally["unknown"],
            invalid=tally["invalid"],
            opted_out=tally["optedOut"],
            delivered=tally["delivered"],
            failed=tally["failed"],
            segments=tally.segments,
            inbound=tally["inbound"],
            replies=tally["reply"],
            opt_outs=tally["optOut"],
            opt_ins=tally["optIn"],
            delivery_rate=_rate(tally["delivered"], tally["delivered"] + tally["failed"]),
            opt_out_rate=_rate(tally["optOut"], sent),
            reply_rate=_rate(tally["reply"], sent),
            failure_reasons=tuple(tally.top_reasons(top)),
            median_latency_ms=tally.latency_quantile(0.5),
            p95_latency_ms=tally.latency_quantile(0.95),
            verifications=VerificationFigures.of(tally),
            events=EventFigures.of(tally),
        )

    @property
    def not_sent(self) -> int:
        return self.invalid + self.opted_out

    @property
    def awaiting_report(self) -> int:
        """Accepted but not reported yet (never below zero: a report may fall on a later day)."""
        return max(0, self.accepted - self.delivered - self.failed)

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "unknown": self.unknown,
            "invalid": self.invalid,
            "optedOut": self.opted_out,
            "delivered": self.delivered,
            "failed": self.failed,
            "segments": self.segments,
            "inbound": self.inbound,
            "replies": self.replies,
            "optOuts": self.opt_outs,
            "optIns": self.opt_ins,
            "deliveryRate": self.delivery_rate,
            "optOutRate": self.opt_out_rate,
            "replyRate": self.reply_rate,
            "failureReasons": [
                {"reason": r, "meaning": describe(r), "count": n} for r, n in self.failure_reasons
            ],
            "medianLatencyMs": self.median_latency_ms,
            "p95LatencyMs": self.p95_latency_ms,
            "verifications": self.verifications.to_json(),
            "events": self.events.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Report:
    query: ReportQuery
    totals: Figures
    series: tuple[tuple[str | None, Figures], ...]  # (day, sender, country or tag; figures)
    busiest_hours: tuple[int, ...]  # sent per UTC hour of the day, 0..23
    generated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.query.first.isoformat(),
            "to": self.query.last.isoformat(),
            "groupBy": self.query.group_by,
            "top": self.query.top,
            "generatedAt": iso(self.generated_at),
            "totals": self.totals.to_json(),
            "series": [{"key": key, **figures.to_json()} for key, figures in self.series],
            "busiestHours": [{"hour": h, "sent": n} for h, n in enumerate(self.busiest_hours)],
        }


def build_report(
    query: ReportQuery, rollups: Iterable[Rollup], generated_at: datetime | None = None
) -> Report:
    """Sum the rollups of the query's days: totals and hours from the `all` rows, the series
    from the rows of the grouping dimension (every day of the range, or every value seen)."""
    first, last = query.first.isoformat(), query.last.isoformat()
    total = Tally()
    hours = [0] * 24
    groups: dict[str | None, Tally] = (
        {d.isoformat(): Tally() for d in query.days} if query.group_by == "day" else {}
    )
    for rollup in rollups:
        if not first <= rollup.day <= last:
            continue
        if rollup.dimension == "all":
            total.absorb(rollup.tally)
            hours[int(rollup.hour[11:13])] += rollup.tally.sent
            if query.group_by == "day":
                groups[rollup.day].absorb(rollup.tally)
        elif rollup.dimension == query.group_by:
            groups.setdefault(rollup.value, Tally()).absorb(rollup.tally)
    series = [(key, Figures.of(tally, query.top)) for key, tally in groups.items()]
    if query.group_by != "day":
        series.sort(key=lambda item: (-item[1].sent, -_activity(item[1]), item[0] or ""))
    return Report(query, Figures.of(total, query.top), tuple(series), tuple(hours), generated_at)


def _activity(figures: Figures) -> int:
    codes = figures.verifications
    return (
        figures.delivered
        + figures.failed
        + figures.inbound
        + figures.opt_outs
        + figures.opt_ins
        + codes.started
        + codes.blocked
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
