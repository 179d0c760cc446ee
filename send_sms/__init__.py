"""`POST /api/sms` sends, queues, schedules or dry-runs; `GET|DELETE /api/sms/{id}` reads or
cancels one message."""

from __future__ import annotations

import azure.functions as func

from shared.clock import utcnow
from shared.errors import MethodNotAllowedError
from shared.http_api import http_endpoint, json_response, read_json_body
from shared.message_lookup import cancel_message, find_message
from shared.runtime import get_services
from shared.send_request import parse_idempotency_key, parse_send_request
from shared.sms_views import message_view, send_response


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    message_id = req.route_params.get("id")
    if req.method == "POST" and not message_id:
        settings = services.settings
        request = parse_send_request(
            read_json_body(req),
            pool=settings.from_numbers,
            default_region=settings.default_region,
            now=utcnow(),
            allow_private_callbacks=settings.events.callback_allow_private,
        )
        key = parse_idempotency_key(req.headers.get("idempotency-key"))
        outcome = await services.sender.send(request, idempotency_key=key)
        body = send_response(
            outcome.batch, outcome.messages, dry_run=outcome.dry_run, recorded=outcome.recorded
        )
        return json_response(202, body, {"Idempotent-Replayed": "true"} if outcome.replayed else {})
    if req.method == "GET" and message_id:
        return json_response(
            200, message_view(*await find_message(services.storage.messages, message_id))
        )
    if req.method == "DELETE" and message_id:
        return json_response(
            200, message_view(*await cancel_message(services.storage.messages, message_id))
        )
    raise MethodNotAllowedError("use POST /api/sms, or GET or DELETE /api/sms/{id}")
