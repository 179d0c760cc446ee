"""The dashboard's card of status events (pure): per destination, the events it took, the
attempts it refused (each retried) and the events given up on (dead letters to redrive)."""

from __future__ import annotations

from html import escape

from shared.analytics import Figures
from shared.svg_charts import bar_list, fmt_int

TAKEN = "#2f855a"


def events_card(totals: Figures) -> str:
    events = totals.events
    figures = (
        f"{fmt_int(events.total('delivered'))} delivered · "
        f"{fmt_int(events.total('failed'))} attempts refused (retried) · "
        f"{fmt_int(events.total('deadLettered'))} dead-lettered"
    )
    rows = events.by_destination
    described = ", ".join(
        f"{name}: {fmt_int(c['delivered'])} delivered, {fmt_int(c['failed'])} refused, "
        f"{fmt_int(c['deadLettered'])} dead-lettered"
        for name, c in rows
    )
    chart = bar_list(
        "event-destinations",
        "Status events delivered per destination",
        f"Status events per destination. {described or 'none'}.",
        [
            f"{name} ({fmt_int(c['failed'])} refused, {fmt_int(c['deadLettered'])} dead)"
            for name, c in rows
        ],
        [c["delivered"] for _, c in rows],
        color=TAKEN,
        empty="No status event delivered in this period",
    )
    return (
        '<section class="card" id="events"><h2>Status events</h2>'
        f'<p class="figures">{escape(figures)}</p>{chart}</section>'
    )
