"""The server-side charts and the dashboard page, read as text: no browser needed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import pytest

from shared.analytics import GroupBy, Report, ReportQuery, build_report
from shared.dashboard_page import error_page, fmt_ms, render_dashboard
from shared.rollups import rollup_hour
from shared.svg_charts import (
    Series,
    bar_list,
    column_chart,
    fmt_compact,
    line_chart,
    nice_ticks,
    stacked_bars,
)
from shared.usage import UsageEvent

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def tooltips(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}title") if t.get("id") is None]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (6, [0, 2, 4, 6]),
        (52, [0, 20, 40, 60]),
        (70, [0, 20, 40, 60, 80]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_ticks_are_round_numbers_reaching_the_top(top: float, ticks: list[float]) -> None:
    assert nice_ticks(top) == ticks


def test_compact_numbers() -> None:
    assert [fmt_compact(v) for v in (7, 999, 1_000, 1_234, 56_000, 2_500_000)] == [
        "7",
        "999",
        "1k",
        "1.2k",
        "56k",
        "2.5M",
    ]
    assert [fmt_ms(v) for v in (None, 850, 2_000, 41_000, 95_000, 5_400_000)] == [
        "–",
        "850 ms",
        "2.0 s",
        "41 s",
        "1.6 min",
        "1.5 h",
    ]


def test_stacked_bars_are_an_accessible_image_with_every_figure() -> None:
    svg = stacked_bars(
        "volume",
        "Messages per day",
        "Delivered: 5; Failed: 1.",
        ["Jan 1", "Jan 2", "Jan 3"],
        [Series("Delivered", "#2f855a", [3, 0, 2]), Series("Failed", "#c53030", [1, 0, 0])],
    )
    root = parse(svg)
    assert (root.get("role"), root.get("aria-labelledby")) == ("img", "volume-title")
    assert root.get("aria-describedby") == "volume-desc"
    assert root.find(f"{SVG}title").text == "Messages per day"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Delivered: 5; Failed: 1."  # type: ignore[union-attr]
    assert tooltips(root) == ["Jan 1 · Delivered: 3", "Jan 1 · Failed: 1", "Jan 3 · Delivered: 2"]
    assert len(list(root.iter(f"{SVG}rect"))) == 3  # no empty segments drawn
    assert {"4", "2", "Jan 1", "Jan 3"} <= set(texts(root))  # totals above bars, day labels


def test_labels_are_escaped() -> None:
    svg = bar_list(
        "reasons",
        "Reasons <b>",
        'a "desc" & more',
        ["<script>alert(1)</script>"],
        [3],
        color="#c53030",
    )
    assert "<script>" not in svg
    root = parse(svg)
    assert tooltips(root) == ["<script>alert(1)</script>: 3"]
    assert root.find(f"{SVG}desc").text == 'a "desc" & more'  # type: ignore[union-attr]


def test_empty_charts_say_so() -> None:
    root = parse(
        column_chart("c", "Opt-outs", "none", ["a", "b"], [0, 0], color="#000", empty="No opt-outs")
    )
    assert "No opt-outs" in texts(root)
    assert not list(root.iter(f"{SVG}rect"))
    assert "Nothing here" in texts(
        parse(bar_list("r", "R", "d", [], [], color="#000", empty="Nothing here"))
    )
    assert "No data" in texts(
        parse(line_chart("l", "L", "d", ["a"], [None], color="#000", empty="No data"))
    )


def test_a_gap_breaks_the_line() -> None:
    root = parse(
        line_chart(
            "rate",
            "Delivery rate",
            "d",
            ["1", "2", "3", "4", "5"],
            [0.9, 0.95, None, 1.0, 0.5],
            color="#2b6cb0",
        )
    )
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    assert tooltips(root) == ["1: 90.0%", "2: 95.0%", "4: 100.0%", "5: 50.0%"]
    assert {"0%", "50%", "100%", "90.0%", "50.0%"} <= set(texts(root))


def test_crowded_labels_are_thinned_keeping_the_newest() -> None:
    labels = [f"Mar {d}" for d in range(1, 32)]
    root = parse(column_chart("c", "t", "d", labels, [1] * 31, color="#000", width=400))
    shown = [t for t in texts(root) if t.startswith("Mar")]
    assert shown[-1] == "Mar 31"
    assert 3 <= len(shown) < 31


def test_long_reasons_are_shortened_with_the_full_text_on_hover() -> None:
    reason = "Message rejected by the carrier because the content looked like spam"
    root = parse(bar_list("r", "R", "d", [reason], [2], color="#000"))
    assert any(t.endswith("…") for t in texts(root))
    assert tooltips(root) == [f"{reason}: 2"]


def report_for(group_by: GroupBy = "day") -> Report:
    at = datetime(2030, 1, 2, 15, 30, tzinfo=UTC)
    events = [
        UsageEvent("accepted", at, "1", "+18005550100", "US", "<b>vip</b>", 1),
        UsageEvent("accepted", at, "2", "+18005550100", "US", "<b>vip</b>", 1),
        UsageEvent("delivered", at, "1", "+18005550100", "US", "<b>vip</b>", 1, None, 1_500),
        UsageEvent("failed", at, "2", "+18005550100", "US", "<b>vip</b>", 1, "4006", 3_000),
        UsageEvent("optOut", at, "e", "+18005550100", "US"),
    ]
    query = ReportQuery(date(2030, 1, 1), date(2030, 1, 3), group_by, 5)
    return build_report(query, rollup_hour("2030-01-02T15", events), at)


def test_the_page_is_self_contained_and_states_its_figures() -> None:
    by_day = report_for()
    html = render_dashboard(by_day, report_for("tag"), link_params={"from": "2030-01-01"})
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert "&lt;b&gt;vip&lt;/b&gt;" in html and "<b>vip</b>" not in html  # the tag is escaped
    assert '<p class="value" id="kpi-sent-value">2</p>' in html
    assert '<p class="value" id="kpi-delivery-rate-value">50.0%</p>' in html
    assert "Delivered: 1; Failed: 1; Awaiting report: 0; Not accepted: 0; Not sent: 0" in html
    assert "busiest 15:00–15:59 UTC with 2 sent" in html
    assert "4006: 1" in html
    assert "1 opt-outs, 50.0% of sent" in html
    assert 'href="?from=2030-01-01&amp;groupBy=sender"' in html
    assert '<strong aria-current="page">tag</strong>' in html
    # five charts of messages, two of one-time codes (refusals by rule, approvals per country),
    # one of status events per destination
    assert html.count('role="img"') == 8
    assert html.count("<desc id=") == 8
    assert 'id="events"' in html and "No status event delivered in this period" in html


def test_an_error_is_a_page_too() -> None:
    page = error_page(400, "'from' must be a date as YYYY-MM-DD")
    assert "&#x27;from&#x27; must be a date" in page and "(400)" in page
