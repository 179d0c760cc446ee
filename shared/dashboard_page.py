"""The usage dashboard as one self-contained HTML page (pure): headline figures, charts drawn
as inline SVG, and the report's series as a table. No script, no external file: it renders the
same offline, in any browser, and from a saved copy."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from html import escape
from urllib.parse import urlencode

from shared.acs_codes import describe
from shared.analytics import GROUP_BYS, Figures, Report
from shared.dashboard_events import events_card
from shared.dashboard_verify import verification_card
from shared.svg_charts import (
    Series,
    bar_list,
    column_chart,
    fmt_int,
    fmt_percent,
    line_chart,
    stacked_bars,
)

DELIVERED, FAILED, AWAITING = "#2f855a", "#c53030", "#a0aec0"
NOT_ACCEPTED, NOT_SENT = "#dd8a2e", "#6b5b95"
ACCENT, OPT_OUT = "#2b6cb0", "#b7791f"

# A strict policy fits a page with no script and no external file.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

GROUP_NAMES = {"day": "day", "sender": "sender number", "country": "country", "tag": "tag"}


def render_dashboard(
    by_day: Report,
    grouped: Report,
    *,
    countries: Report | None = None,
    link_params: Mapping[str, str] | None = None,
) -> str:
    """`by_day` draws the charts; `grouped` (the query's `groupBy`) fills the table;
    `countries` (grouped by country) the conversion of one-time codes per country."""
    query = by_day.query
    totals = by_day.totals
    period = _period(query.first, query.last)
    generated = by_day.generated_at.strftime("%Y-%m-%d %H:%M UTC") if by_day.generated_at else ""
    parts = [
        _head(f"SMS usage · {period}"),
        '<body><main><header class="top"><div><h1>SMS usage</h1>',
        f'<p class="sub">{escape(period)} · times in UTC'
        + (f" · generated {escape(generated)}" if generated else "")
        + "</p></div>",
        _group_links(grouped.query.group_by, link_params or {}),
        "</header>",
        _kpis(totals),
        _volume_card(by_day),
        '<div class="grid2">',
        _delivery_card(by_day),
        _opt_out_card(by_day),
        _reasons_card(by_day),
        _hours_card(by_day),
        verification_card(totals, countries),
        events_card(totals),
        "</div>",
        _table_card(grouped),
        "<footer><p>Counts come from hourly rollups of usage events and are exact under "
        "duplicate events. Delivered and failed are counted when the delivery report arrives, "
        "replies and opt-outs when the message arrives. Latency is from sending to the "
        "delivery report, estimated from a histogram.</p></footer>",
        "</main></body></html>",
    ]
    return "".join(parts)


def error_page(status: int, message: str) -> str:
    return (
        _head("SMS usage · error")
        + f'<body><main><h1>SMS usage</h1><p class="error" role="alert">{escape(message)}'
        + f" ({status})</p></main></body></html>"
    )


def fmt_ms(ms: int | None) -> str:
    """1234 → 1.2 s; 95000 → 1.6 min; 5400000 → 1.5 h."""
    if ms is None:
        return "–"
    if ms < 1_000:
        return f"{ms} ms"
    if ms < 10_000:
        return f"{ms / 1_000:.1f} s"
    if ms < 60_000:
        return f"{ms / 1_000:.0f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


def _rate(value: float | None) -> str:
    return "–" if value is None else fmt_percent(value)


def _share(rate: float | None) -> str:
    return "" if rate is None else f"{fmt_percent(rate)} of sent"


def _joined(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def _day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def _period(first: date, last: date) -> str:
    if first == last:
        return f"{first.day} {first:%b %Y}"
    left = f"{first.day} {first:%b}" + ("" if first.year == last.year else f" {first:%Y}")
    return f"{left} – {last.day} {last:%b %Y}"


_CSS = """
:root{color-scheme:light;--ink:#1f2933;--muted:#52606d;--line:#e4e7eb;--bg:#f4f6f8;--card:#fff;
--accent:#2b6cb0}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.45 -apple-system,BlinkMacSystemFont,
"Segoe UI","Noto Sans",Roboto,"Helvetica Neue",Helvetica,Arial,sans-serif;
font-variant-numeric:tabular-nums;-webkit-font-smoothing:antialiased}
main{max-width:1200px;margin:0 auto;padding:28px 28px 40px}
h1{font-size:26px;line-height:1.2;margin:0;font-weight:700;letter-spacing:-.01em}
h2{font-size:15px;margin:0;font-weight:650}
.top{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;margin-bottom:20px}
.sub{margin:4px 0 0;color:var(--muted)}
nav{font-size:13px;color:var(--muted)}
nav a,nav strong{margin-left:6px;padding:3px 9px;border-radius:999px;text-decoration:none}
nav a{color:var(--accent);border:1px solid var(--line);background:var(--card)}
nav strong{background:var(--ink);color:#fff;font-weight:600}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;margin-bottom:16px}
.kpi,.card{background:var(--card);border:1px solid var(--line);border-radius:10px}
.kpi{padding:14px 16px}
.kpi .label{font-size:13px;color:var(--muted);margin:0}
.kpi .value{font-size:28px;font-weight:700;margin:2px 0;letter-spacing:-.01em}
.kpi .detail{font-size:12.5px;color:var(--muted);margin:0}
.card{padding:16px 18px 12px;margin-bottom:16px}
.card .figures{margin:2px 0 10px;color:var(--muted);font-size:13px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:0 16px}
svg.chart{display:block;width:100%;height:auto;overflow:visible}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;list-style:none;margin:0 0 8px;padding:0;
font-size:13px}
.legend b{font-weight:650}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
table{width:100%;border-collapse:collapse;font-size:13.5px}
th,td{text-align:right;padding:7px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
th:first-child,td:first-child{text-align:left}
td:last-child,th:last-child{text-align:left;white-space:normal}
thead th{color:var(--muted);font-weight:600;font-size:12.5px}
tbody tr:last-child td{border-bottom:0}
.num-zero{color:#9aa5b1}
footer{color:var(--muted);font-size:12.5px;max-width:820px}
.error{color:#c53030}
@media (max-width:1000px){.kpis{grid-template-columns:repeat(3,1fr)}.grid2{grid-template-columns:1fr}}
@media (max-width:600px){.kpis{grid-template-columns:repeat(2,1fr)}.top{display:block}}
"""


def _head(title: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
    )


def _group_links(current: str, params: Mapping[str, str]) -> str:
    items = []
    for group in GROUP_BYS:
        name = escape(GROUP_NAMES[group])
        if group == current:
            items.append(f'<strong aria-current="page">{name}</strong>')
        else:
            query = urlencode(
                {**{k: v for k, v in params.items() if k != "groupBy"}, "groupBy": group}
            )
            items.append(f'<a href="?{escape(query)}">{name}</a>')
    return f'<nav aria-label="Break the table down by">Table by {"".join(items)}</nav>'


def _kpi(label: str, value: str, detail: str) -> str:
    slug = "kpi-" + label.lower().replace(" ", "-")
    return (
        f'<section class="kpi" id="{slug}"><p class="label">{escape(label)}</p>'
        f'<p class="value" id="{slug}-value">{escape(value)}</p>'
        f'<p class="detail">{escape(detail)}</p></section>'
    )


def _kpis(t: Figures) -> str:
    return (
        '<div class="kpis">'
        + _kpi(
            "Sent",
            fmt_int(t.sent),
            f"{fmt_int(t.segments)} segments · {t.rejected + t.unknown} not accepted",
        )
        + _kpi(
            "Delivery rate",
            _rate(t.delivery_rate),
            f"{fmt_int(t.delivered)} delivered · {fmt_int(t.failed)} failed",
        )
        + _kpi(
            "Replies",
            fmt_int(t.replies),
            _joined(_share(t.reply_rate), f"{fmt_int(t.inbound)} inbound"),
        )
        + _kpi(
            "Opt-outs",
            fmt_int(t.opt_outs),
            _joined(_share(t.opt_out_rate), f"{fmt_int(t.opt_ins)} opt-ins"),
        )
        + _kpi(
            "Report latency",
            fmt_ms(t.median_latency_ms),
            f"median · p95 {fmt_ms(t.p95_latency_ms)}"
            if t.p95_latency_ms is not None
            else "no delivery reports",
        )
        + _kpi(
            "Not sent",
            fmt_int(t.not_sent),
            f"{fmt_int(t.invalid)} invalid · {fmt_int(t.opted_out)} opted out",
        )
        + "</div>"
    )


def _legend(entries: list[tuple[str, str, float]]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{color}"></span>{escape(name)} '
        f"<b>{fmt_int(value)}</b></li>"
        for name, color, value in entries
    )
    return f'<ul class="legend">{items}</ul>'


def _card(title: str, figures: str, body: str, extra: str = "") -> str:
    return (
        f'<section class="card"><h2>{escape(title)}</h2>'
        f'<p class="figures">{escape(figures)}</p>{extra}{body}</section>'
    )


def _days(report: Report) -> list[tuple[date, Figures]]:
    return [(date.fromisoformat(key or ""), figures) for key, figures in report.series]


def _volume_card(report: Report) -> str:
    days = _days(report)
    labels = [_day_label(d) for d, _ in days]
    series = [
        Series("Delivered", DELIVERED, [f.delivered for _, f in days]),
        Series("Failed", FAILED, [f.failed for _, f in days]),
        Series("Awaiting report", AWAITING, [f.awaiting_report for _, f in days]),
        Series("Not accepted", NOT_ACCEPTED, [f.rejected + f.unknown for _, f in days]),
        Series("Not sent", NOT_SENT, [f.not_sent for _, f in days]),
    ]
    totals = [sum(s.values) for s in series]
    t = report.totals
    busiest = max(days, key=lambda item: item[1].sent, default=None)
    figures = (
        f"{fmt_int(t.sent)} sent, {fmt_int(t.delivered)} delivered, {fmt_int(t.failed)} failed, "
        f"{fmt_int(t.not_sent)} not sent"
    )
    if busiest and busiest[1].sent:
        figures += f"; busiest day {_day_label(busiest[0])} with {fmt_int(busiest[1].sent)} sent"
    desc = (
        "Messages per day by outcome. "
        + "; ".join(f"{s.name}: {fmt_int(total)}" for s, total in zip(series, totals, strict=True))
        + f". {figures}."
    )
    chart = stacked_bars(
        "volume",
        "Messages per day by outcome",
        desc,
        labels,
        series,
        empty="No messages in this period",
    )
    legend = _legend([(s.name, s.color, total) for s, total in zip(series, totals, strict=True)])
    return _card("Messages per day by outcome", figures, chart, legend)


def _delivery_card(report: Report) -> str:
    days = _days(report)
    t = report.totals
    rates = [f.delivery_rate for _, f in days]
    known = [(d, r) for (d, _), r in zip(days, rates, strict=True) if r is not None]
    reports = t.delivered + t.failed
    figures = (
        f"{_rate(t.delivery_rate)} overall ({fmt_int(t.delivered)} of {fmt_int(reports)} reports)"
        if reports
        else "No delivery reports"
    )
    if known:
        low_day, low = min(known, key=lambda item: item[1])
        figures += f"; lowest {_day_label(low_day)} at {fmt_percent(low)}"
    chart = line_chart(
        "delivery-rate",
        "Delivery rate per day",
        f"Delivered of delivered plus failed, per day. {figures}.",
        [_day_label(d) for d, _ in days],
        rates,
        color=ACCENT,
        empty="No delivery reports in this period",
    )
    return _card("Delivery rate", figures, chart)


def _opt_out_card(report: Report) -> str:
    days = _days(report)
    t = report.totals
    share = f", {_share(t.opt_out_rate)}" if t.opt_out_rate is not None else ""
    figures = f"{fmt_int(t.opt_outs)} opt-outs{share}; {fmt_int(t.opt_ins)} opt-ins"
    peak = max(days, key=lambda item: item[1].opt_outs, default=None)
    if peak and peak[1].opt_outs:
        figures += f"; most on {_day_label(peak[0])} ({fmt_int(peak[1].opt_outs)})"
    chart = column_chart(
        "opt-outs",
        "Opt-outs per day",
        f"Opt-outs per day. {figures}.",
        [_day_label(d) for d, _ in days],
        [f.opt_outs for _, f in days],
        color=OPT_OUT,
        name="Opt-outs",
        empty="No opt-outs in this period",
    )
    return _card("Opt-outs", figures, chart)


def _reasons_card(report: Report) -> str:
    reasons = report.totals.failure_reasons
    figures = (
        ", ".join(f"{reason}: {fmt_int(n)}" for reason, n in reasons)
        if reasons
        else "No failed deliveries"
    )
    chart = bar_list(
        "failure-reasons",
        "Top failure reasons",
        f"Top failure reasons by delivery reports. {figures}.",
        [f"{reason} {describe(reason) or ''}".strip() for reason, _ in reasons],
        [n for _, n in reasons],
        color=FAILED,
        empty="No failed deliveries in this period",
    )
    return _card("Top failure reasons", figures, chart)


def _hours_card(report: Report) -> str:
    hours = report.busiest_hours
    peak = max(range(24), key=lambda h: (hours[h], -h))
    figures = (
        f"busiest {peak:02d}:00–{peak:02d}:59 UTC with {fmt_int(hours[peak])} sent"
        if hours[peak]
        else "Nothing sent in this period"
    )
    chart = column_chart(
        "busiest-hours",
        "Messages sent by hour of day (UTC)",
        f"Messages sent per hour of the day, UTC, over the period; {figures}.",
        [f"{h:02d}" for h in range(24)],
        list(hours),
        color=ACCENT,
        name="Sent",
        empty="Nothing sent in this period",
    )
    return _card("Busiest hours", figures, chart)


def _cell(value: int) -> str:
    return '<td class="num-zero">0</td>' if value == 0 else f"<td>{fmt_int(value)}</td>"


def _table_card(report: Report) -> str:
    group = report.query.group_by
    heading = GROUP_NAMES[group].capitalize()
    rows = []
    for key, f in report.series:
        if group == "day" and not (
            f.sent or f.not_sent or f.delivered or f.failed or f.inbound or f.opt_outs or f.opt_ins
        ):
            continue  # a table of empty days says nothing the chart does not
        name = (
            "(none)"
            if key is None
            else (_day_label(date.fromisoformat(key)) if group == "day" else key)
        )
        reasons = ", ".join(f"{r} ({n})" for r, n in f.failure_reasons) or "–"
        rows.append(
            f"<tr><td>{escape(name)}</td>{_cell(f.sent)}{_cell(f.delivered)}{_cell(f.failed)}"
            f"<td>{_rate(f.delivery_rate)}</td>{_cell(f.inbound)}{_cell(f.replies)}{_cell(f.opt_outs)}"
            f"<td>{_rate(f.opt_out_rate)}</td>{_cell(f.not_sent)}"
            f"<td>{fmt_ms(f.median_latency_ms)}</td><td>{fmt_ms(f.p95_latency_ms)}</td>"
            f"<td>{escape(reasons)}</td></tr>"
        )
    figures = f"{len(rows)} {GROUP_NAMES[group]}{'s' if len(rows) != 1 else ''} with activity"
    if not rows:
        rows.append('<tr><td colspan="13">No activity in this period</td></tr>')
    head = "".join(
        f'<th scope="col">{escape(h)}</th>'
        for h in (
            heading,
            "Sent",
            "Delivered",
            "Failed",
            "Delivery rate",
            "Inbound",
            "Replies",
            "Opt-outs",
            "Opt-out rate",
            "Not sent",
            "Median latency",
            "p95 latency",
            "Top failure reasons",
        )
    )
    table = f'<table id="breakdown"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return _card(f"By {GROUP_NAMES[group]}", figures, table)
