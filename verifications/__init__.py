"""`POST /api/verifications` starts a one-time code; `POST …/{id}/check` checks one,
`POST …/{id}/resend` texts the same code again, `GET …/{id}` reads a verification."""

from __future__ import annotations

import azure.functions as func

from shared.errors import MethodNotAllowedError, NotFoundError
from shared.http_api import http_endpoint, json_response, read_json_body
from shared.runtime import get_services
from shared.send_request import parse_idempotency_key
from shared.verify_request import parse_check, parse_resend, parse_start
from shared.verify_views import verification_view

ACTIONS = ("check", "resend")


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    verifications = services.verifications
    verification_id = req.route_params.get("id")
    action = req.route_params.get("action")
    if action is not None and action not in ACTIONS:
        raise NotFoundError("no such verification action; try check or resend", target="action")
    if req.method == "POST" and verification_id is None:
        request = parse_start(read_json_body(req), default_region=services.settings.default_region)
        key = parse_idempotency_key(req.headers.get("idempotency-key"))
        answer = await verifications.start(request, key=key)
        replayed = {"Idempotent-Replayed": "true"} if answer.replayed else {}
        return json_response(
            201, verification_view(answer.verification, delivery=answer.delivery), replayed
        )
    if req.method == "POST" and verification_id is not None and action == "check":
        answer = await verifications.check(verification_id, parse_check(read_json_body(req)))
    elif req.method == "POST" and verification_id is not None and action == "resend":
        ip = parse_resend(read_json_body(req) if req.get_body() else None)
        answer = await verifications.resend(verification_id, ip=ip)
    elif req.method == "GET" and verification_id is not None and action is None:
        answer = await verifications.get(verification_id)
    else:
        raise MethodNotAllowedError(
            "use POST /api/verifications, POST …/{id}/check or …/{id}/resend, or GET …/{id}"
        )
    return json_response(200, verification_view(answer.verification, delivery=answer.delivery))
