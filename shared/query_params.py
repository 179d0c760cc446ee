"""Reading path and query parameters of the read APIs, with errors that name the parameter."""

from __future__ import annotations

import azure.functions as func

from shared.http_api import bad_request
from shared.phone import normalize_number

DEFAULT_PAGE, MAX_PAGE = 50, 200


def phone_param(req: func.HttpRequest, region: str, name: str = "phone") -> str:
    raw = req.route_params.get(name) or req.params.get(name) or ""
    parsed = normalize_number(raw, region)
    if parsed.e164 is None:
        raise bad_request(f"'{raw}' is not a phone number: {parsed.reason}", name)
    return parsed.e164


def sender_param(
    req: func.HttpRequest, pool: tuple[str, ...], region: str, name: str
) -> str | None:
    raw = req.params.get(name)
    if raw is None:
        return None
    parsed = normalize_number(raw, region)
    if parsed.e164 not in pool:
        raise bad_request(f"'{name}' must be one of the app's sender numbers", name)
    return parsed.e164


def page_params(req: func.HttpRequest) -> tuple[int, str | None]:
    raw = req.params.get("limit")
    limit = DEFAULT_PAGE
    if raw is not None:
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
            raise bad_request(f"'limit' must be a whole number from 1 to {MAX_PAGE}", "limit")
        limit = int(raw)
    return limit, req.params.get("continuationToken") or None
