"""Rollups and the report built from them, without a server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.analytics import ReportQuery, build_report, parse_report_query
from shared.errors import ValidationError
from shared.http_api import status_of
from shared.rollups import (
    LATENCY_EDGES_MS,
    MAX_STORED_REASONS,
    Rollup,
    Tally,
    bucket_of,
    hour_key_range,
    hours_between,
    marker_from_entity,
    rollup_hour,
)
from shared.rollups import HourMarker as Marker
from shared.usage import UsageEvent

T = datetime(2030, 1, 2, 13, 5, tzinfo=UTC)
HOUR = "2030-01-02T13"


def event(kind: str, key: str, **kw: object) -> UsageEvent:
    return UsageEvent(kind, T, key, **kw)  # type: ignore[arg-type]


def test_latency_buckets_are_log_spaced_1_2_5() -> None:
    assert LATENCY_EDGES_MS[:6] == (100, 200, 500, 1_000, 2_000, 5_000)
    assert LATENCY_EDGES_MS[-1] == 100_000_000  # ~28 hours; slower lands in the open bucket
    assert (bucket_of(0), bucket_of(99), bucket_of(100), bucket_of(1_500)) == (0, 0, 1, 4)
    assert bucket_of(10**9) == len(LATENCY_EDGES_MS)


def test_quantiles_interpolate_inside_the_bucket() -> None:
    tally = Tally()
    for i, ms in enumerate([1_500, 1_500, 1_200, 3_000, 7_000, 30_000]):
        tally.count(event("delivered", f"m{i}", latency_ms=ms))
    assert tally.latency_quantile(0.5) == 2_000
    assert tally.latency_quantile(0.95) == 41_000
    assert Tally().latency_quantile(0.5) is None
    slow = Tally()
    slow.count(event("failed", "x", latency_ms=10**9))
    assert slow.latency_quantile(0.5) == LATENCY_EDGES_MS[-1]  # the open bucket: its lower edge


def test_counts_segments_and_reasons_by_kind() -> None:
    tally = Tally()
    for e in [
        event("accepted", "1", segments=2),
        event("rejected", "2", segments=2),
        event("unknown", "3", segments=2),
        event("invalid", "4", segments=0),
        event("failed", "1", reason="4006", latency_ms=5),
        event("failed", "2", reason=None),
        event("delivered", "3"),  # no latency: counted, not timed
        event("inbound", "in", segments=3),  # inbound segments are not "sent"
    ]:
        tally.count(e)
    assert (tally.sent, tally.segments, tally["invalid"], tally["inbound"]) == (3, 6, 1, 1)
    assert tally.top_reasons(5) == [("4006", 1), ("unknown", 1)]
    assert tally.reports_timed == 1


def test_an_hour_rolls_up_per_dimension_value() -> None:
    events = [
        event("accepted", "1", sender="+18005550100", country="US", tag="orders", segments=1),
        event("accepted", "2", sender="+18005550100", country="GB", tag="a/b#c", segments=1),
        event("invalid", "3", sender=None, country=None, tag="orders"),
    ]
    rollups = {(r.dimension, r.value): r for r in rollup_hour(HOUR, events)}
    assert rollups[("all", None)].tally.sent == 2
    assert rollups[("sender", "+18005550100")].tally.sent == 2
    assert rollups[("sender", None)].tally["invalid"] == 1
    assert rollups[("country", "GB")].tally.sent == 1
    assert rollups[("tag", "orders")].tally.counts == {"accepted": 1, "invalid": 1}
    tagged = rollups[("tag", "a/b#c")]
    assert tagged.row_key == "13|tag|a%2Fb%23c"  # key_safe: no / or # in keys
    assert rollups[("all", None)].row_key == "13|all|"
    assert tagged.day == "2030-01-02"
    low, high = hour_key_range(HOUR)
    assert all(low <= r.row_key < high for r in rollups.values())
    assert [r.dimension for r in rollup_hour(HOUR, [])] == ["all"]  # an empty hour: a marker


def test_rollup_rows_round_trip_with_their_marker() -> None:
    tally = Tally()
    tally.count(event("accepted", "1", segments=2))
    tally.count(event("failed", "1", reason="4006", latency_ms=1_500))
    tally.count(event("delivered", "2", latency_ms=10**9))
    rollup = Rollup(HOUR, "all", None, tally)
    marker = Marker(HOUR, 3, T - timedelta(minutes=5), 2, T)
    entity = rollup.to_entity(marker)
    assert (entity["PartitionKey"], entity["RowKey"], entity["Accepted"]) == (
        "2030-01-02",
        "13|all|",
        1,
    )
    assert entity["Latency"] == '{"2000":1,"inf":1}'
    assert entity["Reasons"] == '{"4006":1}'
    back = Rollup.from_entity(entity)
    assert back.tally.counts["accepted"] == 1 and back.tally.latency == tally.latency
    assert (back.hour, back.dimension, back.value) == (HOUR, "all", None)
    assert marker_from_entity(entity) == marker
    assert marker_from_entity(Rollup(HOUR, "tag", "x", tally).to_entity()) is None


def test_stored_reasons_are_capped_and_the_rest_summed() -> None:
    tally = Tally()
    for i in range(MAX_STORED_REASONS + 5):
        tally.count(event("failed", f"m{i}", reason=f"reason {i:02d}"))
    back = Rollup.from_entity(Rollup(HOUR, "all", None, tally).to_entity())
    assert len(back.tally.reasons) == MAX_STORED_REASONS + 1
    assert back.tally.reasons["other"] == 5
    assert sum(back.tally.reasons.values()) == tally["failed"]


def test_hours_between_covers_both_ends() -> None:
    assert hours_between(T - timedelta(hours=2), T) == [
        "2030-01-02T11",
        "2030-01-02T12",
        "2030-01-02T13",
    ]


def test_query_defaults_and_limits() -> None:
    today = date(2030, 3, 31)
    query = parse_report_query({}, today)
    assert (query.first, query.last, query.group_by, query.top) == (
        date(2030, 3, 2),
        today,
        "day",
        5,
    )
    assert len(query.days) == 30
    full_year = parse_report_query({"from": "2028-01-01", "to": "2028-12-31"}, today)
    assert len(full_year.days) == 366  # a leap year fits
    with pytest.raises(ValidationError) as error:
        parse_report_query({"from": "2028-01-01", "to": "2029-01-01"}, today)
    assert (status_of(error.value), error.value.target) == (400, "from")
    assert parse_report_query({"groupBy": "tag", "top": "12"}, today).dimensions == ("all", "tag")


def test_report_sums_hours_then_derives_rates() -> None:
    day1 = [event("accepted", str(i), sender="+1800", segments=1) for i in range(3)] + [
        event("delivered", "0", sender="+1800", latency_ms=1_500)
    ]
    later = T + timedelta(days=1, hours=2)
    day2 = [
        UsageEvent("accepted", later, "9", sender="+1801", segments=2),
        UsageEvent("failed", later, "9", sender="+1801", reason="4006", latency_ms=1_500),
        UsageEvent("optOut", later, "e1", sender="+1801"),
    ]
    rollups = rollup_hour(HOUR, day1) + rollup_hour("2030-01-03T15", day2)
    query = ReportQuery(date(2030, 1, 1), date(2030, 1, 3), "day", 5)
    report = build_report(query, rollups)
    assert [key for key, _ in report.series] == ["2030-01-01", "2030-01-02", "2030-01-03"]
    assert [f.sent for _, f in report.series] == [0, 3, 1]
    totals = report.totals
    assert (totals.sent, totals.segments, totals.delivery_rate, totals.opt_out_rate) == (
        4,
        5,
        0.5,
        0.25,
    )
    assert totals.median_latency_ms == 1_500  # both in [1 s, 2 s): rank 1 of 2
    assert report.busiest_hours[13] == 3 and report.busiest_hours[15] == 1
    assert totals.awaiting_report == 2

    by_sender = build_report(ReportQuery(query.first, query.last, "sender", 1), rollups)
    assert [(k, f.sent) for k, f in by_sender.series] == [("+1800", 3), ("+1801", 1)]
    assert by_sender.series[1][1].failure_reasons == (("4006", 1),)
    assert by_sender.to_json()["series"][0]["key"] == "+1800"

    outside = build_report(ReportQuery(date(2030, 1, 3), date(2030, 1, 3)), rollups)
    assert outside.totals.sent == 1  # rows of other days are ignored
