"""How far a send has got (pure): its messages counted per status, read as progress."""

from __future__ import annotations

from typing import Any

from shared.clock import iso
from shared.records import BatchRecord
from shared.status import FINAL, Status

WAITING = ("queued", "scheduled")
NOT_SENT = ("invalid", "optedOut", "canceled", "expired")


def batch_progress(batch: BatchRecord, counts: dict[str, int]) -> dict[str, Any]:
    total = sum(counts.values())
    settled = sum(n for status, n in counts.items() if Status(status) in FINAL)
    out_of_hand = settled + counts.get("accepted", 0) + counts.get("unknown", 0)
    waiting = sum(counts.get(s, 0) for s in WAITING)
    return {
        "batchId": batch.batch_id,
        "createdAt": iso(batch.created_at),
        "sendAt": iso(batch.send_at),
        "validUntil": iso(batch.valid_until),
        "tag": batch.tag,
        "recipients": total,
        "counts": dict(sorted(counts.items())),
        "sent": out_of_hand - sum(counts.get(s, 0) for s in NOT_SENT),
        "waiting": waiting,
        "progress": round(out_of_hand / total, 4) if total else 1.0,
        "done": waiting == 0,
    }
