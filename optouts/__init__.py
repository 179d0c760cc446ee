"""`GET|PUT|DELETE /api/optouts/{phone}` (check, add, remove) and `GET …/{phone}/history`."""

from __future__ import annotations

import uuid

import azure.functions as func

from shared.http_api import ApiError, http_endpoint, json_response
from shared.ledger import ConsentEntry
from shared.query_params import page_params, phone_param, sender_param
from shared.records import iso, utcnow
from shared.runtime import Services, get_services
from shared.store import POOL_WIDE
from shared.usage import UsageEvent, UsageKind, country_of


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    services = await get_services()
    settings = services.settings
    phone = phone_param(req, settings.default_region)
    view = req.route_params.get("view")
    if view == "history" and req.method == "GET":
        limit, token = page_params(req)
        try:
            entries, token = await services.store.list_consent(
                phone, limit=limit, continuation=token
            )
        except ValueError:
            raise ApiError(
                400, "InvalidRequest", "bad continuation token", target="continuationToken"
            ) from None
        return json_response(
            200,
            {"phone": phone, "entries": [e.to_json() for e in entries], "continuationToken": token},
        )
    if view is not None:
        raise ApiError(404, "NotFound", "unknown opt-out view; try /history", target="view")
    sender = sender_param(req, settings.from_numbers, settings.default_region, "from")
    if req.method in ("PUT", "DELETE"):
        await _change(services, phone, sender, adding=req.method == "PUT")
    return json_response(200, await _status(services, phone, sender))


async def _change(services: Services, phone: str, sender: str | None, *, adding: bool) -> None:
    now = utcnow()
    scope = sender or POOL_WIDE
    if adding:
        await services.store.add_opt_out(phone, sender=scope, at=now, source="api")
    else:
        await services.store.remove_opt_out(phone, sender=scope)
    ref = str(uuid.uuid4())
    await services.store.add_consent(
        ConsentEntry(
            recipient=phone,
            at=now,
            action="optOut" if adding else "optIn",
            scope=scope,
            source="api",
            ref=ref,
        )
    )
    kind: UsageKind = "optOut" if adding else "optIn"
    await services.store.record_usage(
        [UsageEvent(kind, now, ref, sender=sender, country=country_of(phone), reason="api")]
    )


async def _status(services: Services, phone: str, sender: str | None) -> dict[str, object]:
    senders = [sender] if sender else list(services.settings.from_numbers)
    found = await services.store.list_opt_outs(phone, senders)
    return {
        "phone": phone,
        "from": sender,
        "optedOut": bool(found),
        "optOuts": [{"scope": o.scope, "at": iso(o.at), "source": o.source} for o in found],
    }
