"""`POST /api/sms` sends, queues, schedules or dry-runs; `GET|DELETE /api/sms/{id}` reads or
cancels one message."""

from __future__ import annotations

import azure.functions as func

from shared.cancel import canceled, why_not_cancelable
from shared.http_api import ApiError, http_endpoint, json_response, read_json_body
from shared.ids import parse_message_id, row_key
from shared.records import BatchRecord, MessageRecord, utcnow
from shared.runtime import get_services
from shared.send_request import parse_idempotency_key, parse_send_request
from shared.sms_views import message_view
from shared.store import ConcurrentUpdateError, SmsStore


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    message_id = req.route_params.get("id")
    if req.method == "POST" and not message_id:
        return await _send(req)
    if req.method == "GET" and message_id:
        return await _get(message_id)
    if req.method == "DELETE" and message_id:
        return await _cancel(message_id)
    raise ApiError(405, "MethodNotAllowed", "use POST /api/sms, or GET or DELETE /api/sms/{id}")


async def _send(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    key = parse_idempotency_key(req.headers.get("idempotency-key"))
    request = parse_send_request(
        read_json_body(req),
        pool=services.settings.from_numbers,
        default_region=services.settings.default_region,
        now=utcnow(),
    )
    answer = await services.sender.send(request, idempotency_key=key)
    return json_response(answer.status, answer.body, answer.headers)


async def _cancel(message_id: str) -> func.HttpResponse:
    services = await get_services()
    batch, message = await _find(services.store, message_id)
    now = utcnow()
    problem = why_not_cancelable(message, now)
    if problem is not None:
        raise ApiError(409, "NotCancelable", problem, target="id")
    try:
        [saved] = await services.store.update_messages(
            [canceled(message, now, "canceled by request")]
        )
    except ConcurrentUpdateError:
        raise ApiError(
            409, "Conflict", "the message changed meanwhile; read it and retry", target="id"
        ) from None
    return json_response(200, message_view(batch, saved))


async def _find(store: SmsStore, message_id: str) -> tuple[BatchRecord, MessageRecord]:
    parsed = parse_message_id(message_id)
    found = await store.get_message(parsed[0], row_key(parsed[1])) if parsed else None
    if found is None:
        raise ApiError(404, "NotFound", "no message has this id", target="id")
    return found


async def _get(message_id: str) -> func.HttpResponse:
    services = await get_services()
    return json_response(200, message_view(*await _find(services.store, message_id)))
