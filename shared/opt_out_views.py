"""What the opt-out API answers: a number's opt-outs for the pool or one sender, and its ledger."""

from __future__ import annotations

from typing import Any

from shared.clock import iso
from shared.storage import Storage


async def opt_out_status(
    storage: Storage, phone: str, sender: str | None, pool: tuple[str, ...]
) -> dict[str, Any]:
    found = await storage.opt_outs.list_for(phone, [sender] if sender else list(pool))
    return {
        "phone": phone,
        "from": sender,
        "optedOut": bool(found),
        "optOuts": [{"scope": o.scope, "at": iso(o.at), "source": o.source} for o in found],
    }


async def consent_history(
    storage: Storage, phone: str, *, limit: int, continuation: str | None
) -> dict[str, Any]:
    entries, token = await storage.consent.list(phone, limit=limit, continuation=continuation)
    return {"phone": phone, "entries": [e.to_json() for e in entries], "continuationToken": token}
