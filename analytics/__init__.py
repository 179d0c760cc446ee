"""`GET /api/analytics?from=&to=&groupBy=&top=`: usage totals and a series, from hourly rollups."""

from __future__ import annotations

import azure.functions as func

from shared.analytics import build_report, parse_report_query
from shared.clock import utcnow
from shared.http_api import http_endpoint, json_response
from shared.rollups_refresh import load_rollups
from shared.runtime import get_services


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    now = utcnow()
    query = parse_report_query(req.params, now.date())
    services = await get_services()
    rollups = await load_rollups(
        services.storage.usage, query.first, query.last, query.dimensions, now
    )
    return json_response(200, build_report(query, rollups, now).to_json())
