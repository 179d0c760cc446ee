"""`GET /api/conversations/{phone}`: the thread with one person, newest first, paged."""

from __future__ import annotations

import azure.functions as func

from shared.http_api import http_endpoint, json_response
from shared.query_params import page_params, phone_param, sender_param
from shared.runtime import get_services
from shared.thread_view import read_thread


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    settings = services.settings
    phone = phone_param(req, settings.default_region)
    our = sender_param(req, settings.from_numbers, settings.default_region, "with")
    limit, token = page_params(req)
    messages, token = await read_thread(
        services.storage, phone, our=our, limit=limit, continuation=token
    )
    return json_response(200, {"phone": phone, "messages": messages, "continuationToken": token})
