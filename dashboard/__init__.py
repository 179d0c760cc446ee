"""`GET /api/dashboard?from=&to=&groupBy=&top=`: the analytics as one HTML page with charts."""

from __future__ import annotations

from dataclasses import replace

import azure.functions as func

from shared.analytics import build_report, parse_report_query
from shared.clock import utcnow
from shared.dashboard_page import SECURITY_HEADERS, error_page, render_dashboard
from shared.errors import ValidationError
from shared.http_api import http_endpoint, status_of
from shared.rollups_refresh import load_rollups
from shared.runtime import get_services


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    now = utcnow()
    try:
        query = parse_report_query(req.params, now.date())
    except ValidationError as error:  # a person reads this one: answer a page, not JSON
        return _html(status_of(error), error_page(status_of(error), error.message))
    services = await get_services()
    dimensions = tuple(dict.fromkeys((*query.dimensions, "country")))
    rollups = await load_rollups(services.storage.usage, query.first, query.last, dimensions, now)
    by_day = build_report(replace(query, group_by="day"), rollups, now)
    grouped = by_day if query.group_by == "day" else build_report(query, rollups, now)
    countries = build_report(replace(query, group_by="country"), rollups, now)
    page = render_dashboard(by_day, grouped, countries=countries, link_params=dict(req.params))
    return _html(200, page)


def _html(status: int, page: str) -> func.HttpResponse:
    return func.HttpResponse(
        page,
        status_code=status,
        headers=SECURITY_HEADERS,
        mimetype="text/html",
        charset="utf-8",
    )
