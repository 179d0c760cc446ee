"""`POST /api/sms` sends (or dry-runs) a message; `GET /api/sms/{id}` reads one back."""

from __future__ import annotations

import azure.functions as func

from shared.http_api import ApiError, http_endpoint, json_response, read_json_body
from shared.ids import parse_message_id, row_key
from shared.runtime import get_services
from shared.send_request import parse_idempotency_key, parse_send_request
from shared.sms_views import message_view


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    message_id = req.route_params.get("id")
    if req.method == "POST" and not message_id:
        return await _send(req)
    if req.method == "GET" and message_id:
        return await _get(message_id)
    if req.method == "DELETE" and message_id:
        raise ApiError(
            400,
            "NotSupported",
            "cancelling arrives with scheduled sending; messages sent now cannot be cancelled",
            target="id",
        )
    raise ApiError(405, "MethodNotAllowed", "use POST /api/sms or GET /api/sms/{id}")


async def _send(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    key = parse_idempotency_key(req.headers.get("idempotency-key"))
    request = parse_send_request(
        read_json_body(req),
        pool=services.settings.from_numbers,
        default_region=services.settings.default_region,
    )
    answer = await services.sender.send(request, idempotency_key=key)
    return json_response(answer.status, answer.body, answer.headers)


async def _get(message_id: str) -> func.HttpResponse:
    services = await get_services()
    parsed = parse_message_id(message_id)
    found = await services.store.get_message(parsed[0], row_key(parsed[1])) if parsed else None
    if found is None:
        raise ApiError(404, "NotFound", "no message has this id", target="id")
    return json_response(200, message_view(*found))
