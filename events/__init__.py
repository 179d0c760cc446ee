"""`GET /api/events?after=&types=&limit=` (replay the event log), `GET /api/events/destinations`,
`GET /api/events/deadletters?destination=` and `POST /api/events/deadletters/redrive`."""

from __future__ import annotations

import azure.functions as func

from shared import event_views
from shared.errors import MethodNotAllowedError, NotFoundError
from shared.http_api import http_endpoint, json_response, read_json_body
from shared.runtime import get_services


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    storage, settings = services.storage, services.settings.events
    route = (req.route_params.get("view"), req.route_params.get("action"))
    if route == ("deadletters", "redrive"):
        if req.method != "POST":
            raise MethodNotAllowedError("redrive with POST")
        body = read_json_body(req) if req.get_body() else None
        return json_response(200, await event_views.redrive(storage, settings, body))
    if req.method != "GET":
        raise MethodNotAllowedError("read the events with GET")
    if route == (None, None):
        return json_response(200, await event_views.replay(storage, settings, req.params))
    if route == ("destinations", None):
        return json_response(200, await event_views.destinations(storage, settings))
    if route == ("deadletters", None):
        return json_response(200, await event_views.dead_letters(storage, settings, req.params))
    raise NotFoundError("unknown events route; try /api/events, /destinations or /deadletters")
