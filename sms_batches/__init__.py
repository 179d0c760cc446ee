"""`GET /api/sms/batches/{batchId}`: how far a send has got, counted per status."""

from __future__ import annotations

import asyncio

import azure.functions as func

from shared.batch_progress import batch_progress
from shared.errors import NotFoundError
from shared.http_api import http_endpoint, json_response
from shared.ids import is_batch_id
from shared.runtime import get_services


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    batch_id = req.route_params.get("batchId", "")
    if not is_batch_id(batch_id):
        raise NotFoundError("no batch has this id", target="batchId")
    messages = (await get_services()).storage.messages
    counts, header = await asyncio.gather(
        messages.status_counts(batch_id), messages.get_header(batch_id)
    )
    if counts is None or header is None:
        raise NotFoundError("no batch has this id", target="batchId")
    return json_response(200, batch_progress(header, counts))
