"""`GET /api/sms/batches/{batchId}`: how far a send has got, counted per status."""

from __future__ import annotations

import azure.functions as func

from shared.http_api import ApiError, http_endpoint, json_response
from shared.ids import is_batch_id
from shared.records import iso
from shared.runtime import get_services
from shared.status import FINAL, Status


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    batch_id = req.route_params.get("batchId", "")
    services = await get_services()
    counts = await services.store.batch_status_counts(batch_id) if is_batch_id(batch_id) else None
    header = await services.store.get_batch_header(batch_id) if counts is not None else None
    if counts is None or header is None:
        raise ApiError(404, "NotFound", "no batch has this id", target="batchId")
    total = sum(counts.values())
    settled = sum(n for status, n in counts.items() if Status(status) in FINAL)
    out_of_hand = settled + counts.get("accepted", 0) + counts.get("unknown", 0)
    return json_response(
        200,
        {
            "batchId": batch_id,
            "createdAt": iso(header.created_at),
            "sendAt": iso(header.send_at),
            "validUntil": iso(header.valid_until),
            "tag": header.tag,
            "recipients": total,
            "counts": dict(sorted(counts.items())),
            "sent": out_of_hand
            - counts.get("invalid", 0)
            - counts.get("optedOut", 0)
            - counts.get("canceled", 0)
            - counts.get("expired", 0),
            "waiting": counts.get("queued", 0) + counts.get("scheduled", 0),
            "progress": round(out_of_hand / total, 4) if total else 1.0,
            "done": counts.get("queued", 0) + counts.get("scheduled", 0) == 0,
        },
    )
