"""`GET|PUT|DELETE /api/optouts/{phone}` (check, add, remove) and `GET …/{phone}/history`."""

from __future__ import annotations

import uuid

import azure.functions as func

from shared.clock import utcnow
from shared.consent import ConsentChange
from shared.errors import NotFoundError
from shared.http_api import http_endpoint, json_response
from shared.opt_out_views import consent_history, opt_out_status
from shared.query_params import page_params, phone_param, sender_param
from shared.runtime import get_services
from shared.tables.opt_outs import POOL_WIDE


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    settings = services.settings
    phone = phone_param(req, settings.default_region)
    view = req.route_params.get("view")
    if view == "history" and req.method == "GET":
        limit, token = page_params(req)
        history = await consent_history(services.storage, phone, limit=limit, continuation=token)
        return json_response(200, history)
    if view is not None:
        raise NotFoundError("unknown opt-out view; try /history", target="view")
    sender = sender_param(req, settings.from_numbers, settings.default_region, "from")
    if req.method in ("PUT", "DELETE"):
        change = ConsentChange(
            recipient=phone,
            action="optOut" if req.method == "PUT" else "optIn",
            scopes=(sender or POOL_WIDE,),
            source="api",
            at=utcnow(),
            ref=str(uuid.uuid4()),
            usage_sender=sender,
        )
        await services.consent.record(change)
    status = await opt_out_status(services.storage, phone, sender, settings.from_numbers)
    return json_response(200, status)
