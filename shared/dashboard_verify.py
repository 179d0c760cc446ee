"""The dashboard's card of one-time codes (pure): started, approved and their conversion, the
texts refused by each rule, and the conversion of each country (SMS pumping shows as a country
or prefix with texts and no approvals)."""

from __future__ import annotations

from html import escape

from shared.analytics import Figures, Report
from shared.svg_charts import bar_list, fmt_int, fmt_percent

BLOCKED, APPROVED = "#c53030", "#2f855a"


def verification_card(totals: Figures, countries: Report | None) -> str:
    codes = totals.verifications
    conversion = (
        "no conversion yet"
        if codes.conversion_rate is None
        else f"{fmt_percent(codes.conversion_rate)} conversion"
    )
    figures = (
        f"{fmt_int(codes.started)} started · {fmt_int(codes.approved)} approved · {conversion} "
        f"· {fmt_int(codes.blocked)} texts refused"
    )
    reasons = ", ".join(f"{r}: {fmt_int(n)}" for r, n in codes.blocked_reasons) or "none"
    blocked = bar_list(
        "verification-blocks",
        "Verification texts refused, by rule",
        f"Verification texts refused by each rule. {reasons}.",
        [reason for reason, _ in codes.blocked_reasons],
        [n for _, n in codes.blocked_reasons],
        color=BLOCKED,
        empty="No verification text refused in this period",
    )
    by_country = [
        (key or "unknown", f.verifications)
        for key, f in (countries.series if countries else ())
        if f.verifications.started or f.verifications.blocked
    ]
    described = ", ".join(
        f"{country}: {fmt_int(v.approved)} of {fmt_int(v.started)} approved"
        for country, v in by_country
    )
    approved = bar_list(
        "verification-countries",
        "Codes approved per country",
        f"Verifications started and approved per country. {described or 'none'}.",
        [f"{country} ({fmt_int(v.started)} started)" for country, v in by_country],
        [v.approved for _, v in by_country],
        color=APPROVED,
        empty="No verification in this period",
    )
    return (
        '<section class="card" id="verifications"><h2>One-time codes</h2>'
        f'<p class="figures">{escape(figures)}</p>{blocked}{approved}</section>'
    )
