"""`GET /api/conversations/{phone}`: the thread with one person, newest first, paged."""

from __future__ import annotations

import azure.functions as func

from shared.http_api import ApiError, http_endpoint, json_response
from shared.ids import parse_message_id
from shared.query_params import page_params, phone_param, sender_param
from shared.runtime import get_services


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    settings = services.settings
    phone = phone_param(req, settings.default_region)
    our = sender_param(req, settings.from_numbers, settings.default_region, "with")
    limit, token = page_params(req)
    try:
        entries, token = await services.store.list_thread(
            phone, limit=limit, continuation=token, our=our
        )
    except ValueError:
        raise ApiError(
            400, "InvalidRequest", "bad continuation token", target="continuationToken"
        ) from None
    texts: dict[str, str | None] = {}
    for entry in entries:  # outbound rows point at their send; its text lives in the batch row
        parsed = parse_message_id(entry.message_id or "")
        if entry.direction == "out" and parsed and parsed[0] not in texts:
            header = await services.store.get_batch_header(parsed[0])
            texts[parsed[0]] = header.message if header else None
    messages = []
    for entry in entries:
        item = entry.to_json()
        parsed = parse_message_id(entry.message_id or "")
        if entry.direction == "out" and parsed:
            item["text"] = texts.get(parsed[0])
        messages.append(item)
    return json_response(200, {"phone": phone, "messages": messages, "continuationToken": token})
