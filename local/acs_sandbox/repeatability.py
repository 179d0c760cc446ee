"""Idempotent sends: the per-recipient `repeatabilityRequestId` / `repeatabilityFirstSent` pair.

ACS "Repeatable requests" (OASIS Repeatable Requests 1.0; ): ids are tracked for
5 minutes; a repeat of the same request inside the window returns the original result without
acting again; the same id with different content, a malformed id or date is rejected (400);
a first-sent date older than the window is rejected (412).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .timefmt import parse_rfc1123

WINDOW_SECONDS = 300.0
# RFC 1123 dates have whole seconds, so a fresh first-sent can look up to 1 s old.
_DATE_RESOLUTION = 1.0
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# Verbatim from the ACS spec example (stable/2021-03-07/examples/send.json).
INVALID_DATE = (
    "Request sent with Invalid DateTime value for repeatability-first-sent. "
    "Expected is DateTime ,RFC1123 pattern."
)
# The service's wording for these three is not documented; same style as the one above.
INVALID_ID = "Request sent with Invalid Guid value for repeatability-request-id. Expected is Guid."
INCOMPLETE = (
    "Request sent with only one of repeatability-request-id and repeatability-first-sent; "
    "both are required."
)
EXPIRED = "Request sent with repeatability-first-sent older than the 5 minutes tracking window."
CONFLICT = "Request sent with a repeatability-request-id already used for a different request."

Fingerprint = tuple[str, str, str]  # (from, to, message): what "the same request" means


@dataclass(frozen=True)
class Verdict:
    kind: Literal["new", "replay", "rejected"]
    status: int = 202
    message: str | None = None
    item: dict[str, Any] | None = None  # the original result, for a replay


@dataclass
class _Entry:
    fingerprint: Fingerprint
    item: dict[str, Any]
    stored_at: float


class RepeatabilityStore:
    def __init__(self) -> None:
        # Oldest first, so expiry only looks at the front.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def check(
        self,
        request_id: object,
        first_sent: object,
        fingerprint: Fingerprint,
        *,
        now: float,
        wall_now: datetime,
        time_scale: float,
    ) -> Verdict:
        """What to do with one recipient; changes nothing (see `remember`)."""
        if request_id is None or first_sent is None:
            return Verdict("rejected", 400, INCOMPLETE)
        if not isinstance(request_id, str) or _GUID.fullmatch(request_id) is None:
            return Verdict("rejected", 400, INVALID_ID)
        sent = parse_rfc1123(first_sent) if isinstance(first_sent, str) else None
        if sent is None:
            return Verdict("rejected", 400, INVALID_DATE)
        window = WINDOW_SECONDS / time_scale
        if (wall_now - sent).total_seconds() > window + _DATE_RESOLUTION:
            return Verdict("rejected", 412, EXPIRED)
        entry = self._entries.get(request_id.lower())
        if entry is None or now - entry.stored_at > window:
            return Verdict("new")
        if entry.fingerprint != fingerprint:
            return Verdict("rejected", 400, CONFLICT)
        return Verdict("replay", item=dict(entry.item))

    def remember(
        self, request_id: str, fingerprint: Fingerprint, item: dict[str, Any], *, now: float
    ) -> None:
        key = request_id.lower()
        self._entries[key] = _Entry(fingerprint, dict(item), now)
        self._entries.move_to_end(key)

    def forget_expired(self, *, now: float, time_scale: float) -> None:
        window = WINDOW_SECONDS / time_scale
        while self._entries and now - next(iter(self._entries.values())).stored_at > window:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
