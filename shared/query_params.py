"""Reading path and query parameters of the read APIs, with errors that name the parameter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from shared.errors import ValidationError
from shared.phone import normalize_number

DEFAULT_PAGE, MAX_PAGE = 50, 200


class Parameters(Protocol):
    """What these readers need of a request (an `azure.functions.HttpRequest` has both)."""

    @property
    def params(self) -> Mapping[str, str]: ...

    @property
    def route_params(self) -> Mapping[str, str]: ...


def phone_param(req: Parameters, region: str, name: str = "phone") -> str:
    raw = req.route_params.get(name) or req.params.get(name) or ""
    parsed = normalize_number(raw, region)
    if parsed.e164 is None:
        raise ValidationError(name, f"'{raw}' is not a phone number: {parsed.reason}")
    return parsed.e164


def sender_param(req: Parameters, pool: tuple[str, ...], region: str, name: str) -> str | None:
    raw = req.params.get(name)
    if raw is None:
        return None
    parsed = normalize_number(raw, region)
    if parsed.e164 not in pool:
        raise ValidationError(name, f"'{name}' must be one of the app's sender numbers")
    return parsed.e164


def page_params(req: Parameters) -> tuple[int, str | None]:
    raw = req.params.get("limit")
    limit = DEFAULT_PAGE
    if raw is not None:
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
            raise ValidationError("limit", f"'limit' must be a whole number from 1 to {MAX_PAGE}")
        limit = int(raw)
    return limit, req.params.get("continuationToken") or None
