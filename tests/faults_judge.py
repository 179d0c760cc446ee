"""The fault suite's judge: counts the four broken promises of a case (texted twice, lost,
stuck, sent after an opt-out) and keeps each case's figures for the end of the run.

It reads only what a user could see: the handsets' inboxes (the sandbox's
`GET /sandbox/messages`) and the app's own `GET /api/sms/{id}` and `GET /api/sms/batches/{id}`.
It never imports the app, so it judges whatever the app's core becomes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.faults_kit import Api, Sandbox, eventually

# Written out by hand (the product's statuses), not imported: the judge stands apart.
HANDED_TO_ACS = frozenset({"accepted", "unknown", "delivered", "failed"})
# Anything else (queued, scheduled, a record that cannot be read) still waits on the app.
NEVER_SENT = frozenset({"optedOut", "invalid", "rejected", "canceled", "expired"})
FIGURES: list[str] = []  # one line per case, printed at the end of the run (conftest)


@dataclass(frozen=True)
class Sent:
    """One send to judge: its batch, text and recipients (distinct, valid, in request order:
    the message ids are `<batchId>-<n>`). Without a batch (the app never answered 202 and no
    handset got its text) the app never took the send on, so only double texts count."""

    batch_id: str | None
    text: str
    recipients: Sequence[str]


@dataclass
class Figures:
    case: str
    texted_twice: int = 0
    lost: int = 0
    stuck: int = 0
    sent_after_opt_out: int = 0
    notes: list[str] = field(default_factory=list)

    def broken(self) -> dict[str, int]:
        """The four promises, as counts; every one must be 0."""
        return {
            "texted twice": self.texted_twice,
            "lost": self.lost,
            "stuck": self.stuck,
            "sent after opt-out": self.sent_after_opt_out,
        }

    def line(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in self.broken().items())
        return f"{self.case}: {counts}" + "".join(f"; {note}" for note in self.notes)


def batch_of(text: str, inbox: Iterable[dict[str, Any]]) -> str | None:
    """The batch a handset's text came from: the app tags each ACS request `<batchId>.<rows>`."""
    for message in inbox:
        if message["message"] == text and message.get("tag"):
            return str(message["tag"]).split(".")[0]
    return None


async def settle(api: Api, batch_ids: Sequence[str], *, within: float) -> float:
    """Wait until every batch is `done` (nothing of it waits to be sent any more), or time runs
    out; answers the seconds it took. Delivery reports may still be on their way."""
    began = time.monotonic()

    async def settled() -> bool:
        for batch_id in batch_ids:
            answer = await api.batch(batch_id)
            if answer.status != 200 or not answer.body["done"]:
                return False
        return True

    await eventually(settled, within=within, every=0.25)
    return time.monotonic() - began


async def judge(
    case: str,
    api: Api,
    sandbox: Sandbox,
    sends: Sequence[Sent],
    *,
    opted_out_at: dict[str, datetime] | None = None,
) -> Figures:
    """Count the four broken promises over these sends, from the handsets and the app's API."""
    figures = Figures(case)
    inbox = await sandbox.messages()
    statuses: Counter[str] = Counter()
    gate = asyncio.Semaphore(16)

    async def status_of(message_id: str) -> str:
        async with gate:
            for _ in range(5):
                answer = await api.message(message_id)
                if answer.status == 200:
                    return str(answer.body["status"])
                if answer.status == 404:
                    return "missing"
                await asyncio.sleep(0.5)
            return f"unreadable ({answer.short()})"

    for sent in sends:
        texts = Counter(m["to"] for m in inbox if m["message"] == sent.text)
        figures.texted_twice += sum(1 for n in texts.values() if n > 1)
        if sent.batch_id is None:  # never accepted (no 202, no trace on a handset): not judged
            statuses["never accepted"] += len(sent.recipients)
            continue
        found = await asyncio.gather(
            *(status_of(f"{sent.batch_id}-{n}") for n in range(len(sent.recipients)))
        )
        for recipient, status in zip(sent.recipients, found, strict=True):
            statuses[status] += 1
            if texts[recipient] == 0 and status not in NEVER_SENT:
                figures.lost += 1
            if status not in HANDED_TO_ACS | NEVER_SENT:
                figures.stuck += 1
        progress = await api.batch(sent.batch_id)
        if progress.status != 200 or not progress.body["done"]:
            figures.stuck += 1
            figures.notes.append(f"batch not done ({progress.short()})")
    ours = {sent.text for sent in sends}  # the sends' texts, not a keyword's confirmation
    for phone, at in (opted_out_at or {}).items():
        late = [
            m
            for m in inbox
            if m["to"] == phone and m["message"] in ours and _parse(m["receivedAt"]) > at
        ]
        figures.sent_after_opt_out += len(late)
    figures.notes.insert(
        0, "statuses " + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
    )
    return figures


def _parse(stamp: str) -> datetime:
    """The sandbox's timestamps (ISO 8601, `Z`, up to 7 fractional digits) as aware datetimes."""
    text = stamp.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(text).astimezone(UTC)


def new_text(case: str) -> str:
    """A text no other send has: the inbox then tells this send's texts apart."""
    return f"Fault case {case}: your order {uuid.uuid4().hex[:8]} has shipped."


def record(figures: Figures, seconds: float) -> None:
    FIGURES.append(f"{figures.line()}; {seconds:.0f} s")
