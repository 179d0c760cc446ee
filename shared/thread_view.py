"""The thread with one person as the API shows it: outbound rows carry their text, which lives
in their batch's header row, read once per batch and concurrently."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.ids import parse_message_id
from shared.storage import Storage


async def read_thread(
    storage: Storage, phone: str, *, our: str | None, limit: int, continuation: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    entries, token = await storage.threads.list(
        phone, limit=limit, continuation=continuation, our=our
    )
    batch_of = [
        parsed[0]
        if entry.direction == "out" and (parsed := parse_message_id(entry.message_id or ""))
        else None
        for entry in entries
    ]
    batch_ids = sorted({b for b in batch_of if b})
    headers = await asyncio.gather(*(storage.messages.get_header(b) for b in batch_ids))
    texts = {b: h.message if h else None for b, h in zip(batch_ids, headers, strict=True)}
    messages = []
    for entry, batch_id in zip(entries, batch_of, strict=True):
        item = entry.to_json()
        if batch_id is not None:
            item["text"] = texts.get(batch_id)
        messages.append(item)
    return messages, token
