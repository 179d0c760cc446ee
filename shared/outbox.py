"""The outbox drainer: what `schedule_reminder` does on every tick.

For each due outbox row it reads the message (the truth) and decides: already final or stale →
forget the row; opted out, expired or too old to resend safely → settle it; scheduled inside
the recipient's quiet hours → file it again for the window's end; otherwise send it, as fast as
the sender's shared budget allows. A message is claimed with an ETag-conditional write before it
is sent, so two overlapping runs (or a run and a request) never send it twice. A batch's sweep
row brings back messages whose sender died mid-send (or whose outbox row a failure never let
exist), and at the delivery-report deadline turns sent messages still without a report into
`unknown`. Sending itself goes through the one dispatch pipeline (`dispatch.py`).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from shared.acs_errors import AcsError
from shared.clock import utcnow
from shared.conflicts import leave_alone, save_reapplying
from shared.delivery_reports import DeliveryReports
from shared.dispatch import CLAIM_LEASE, Dispatcher
from shared.outbox_entry import OutboxEntry, due_bucket, sweep_entry
from shared.quiet_hours import QuietHours, defer_until
from shared.records import BatchRecord, MessageRecord
from shared.send_plan import claim, recheck_before_send, send_usage
from shared.status import FINAL, Status
from shared.storage import Storage
from shared.tables.gateway import gather_bounded

log = logging.getLogger("sms.outbox")

DRAIN_LIMIT = 5000
# A waiting message this far past its due time, unclaimed, has lost its outbox row.
OVERDUE = timedelta(minutes=1)
PULL_RETRY = timedelta(minutes=1)


@dataclass
class DrainSummary:
    """What one run did, for its log line and for tests."""

    looked_at: int = 0
    sent: Counter[str] | None = None
    settled: Counter[str] | None = None
    deferred: int = 0
    waiting: int = 0

    def summary(self) -> str:
        return (
            f"{self.looked_at} due, sent {dict(self.sent or {})}, settled "
            f"{dict(self.settled or {})}, deferred {self.deferred}, waiting {self.waiting}"
        )


class OutboxDrainer:
    def __init__(
        self,
        storage: Storage,
        dispatcher: Dispatcher,
        reports: DeliveryReports,
        *,
        rate_per_minute: int,
        quiet_hours: QuietHours | None,
        report_timeout: timedelta,
        claim_lease: timedelta = CLAIM_LEASE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._storage = storage
        self._dispatcher = dispatcher
        self._reports = reports
        self._lease = claim_lease
        self._rate = rate_per_minute
        self._quiet = quiet_hours
        self._report_timeout = report_timeout
        self._clock = clock

    async def drain(self, limit: int = DRAIN_LIMIT) -> DrainSummary:
        now = self._clock()
        report = DrainSummary(sent=Counter(), settled=Counter())
        # Rows are filed by minute; only those whose own time has come are read further.
        entries = [
            e for e in await self._storage.outbox.list_due(now, limit=limit) if e.due_at <= now
        ]
        report.looked_at = len(entries)
        if not entries:
            return report
        forget: list[OutboxEntry] = []
        refile: list[OutboxEntry] = []
        settle: list[MessageRecord] = []
        sweeps = [e for e in entries if e.is_sweep]
        entries = [e for e in entries if not e.is_sweep]
        swept: dict[str, BatchRecord] = {}
        overdue: list[MessageRecord] = []
        for header in await gather_bounded(
            self._sweep(sweep, now, forget, refile, overdue, settle) for sweep in sweeps
        ):
            if header is not None:
                swept[header.batch_id] = header
        await self._settle_overdue(overdue, now, refile, settle)
        batches, messages = await self._load(entries)  # what a sweep brought back goes next tick
        batches = {**swept, **batches}
        candidates: list[tuple[OutboxEntry, MessageRecord]] = []
        waiting = [m for m in messages.values() if m.status in (Status.QUEUED, Status.SCHEDULED)]
        opt_outs = await self._storage.opt_outs.find(
            sorted({m.sender or "" for m in waiting}), sorted({m.to for m in waiting})
        )
        for entry in entries:
            message = messages.get((entry.batch_id, entry.index))
            batch = batches.get(entry.batch_id)
            if message is None or batch is None or message.status in FINAL:
                forget.append(entry)  # done, or left by a request that died before writing it
            elif message.status in (Status.ACCEPTED, Status.UNKNOWN):
                forget.append(entry)  # sent; its batch's sweep row watches for the report
            elif message.claim_until is not None and message.claim_until > now:
                report.waiting += 1  # someone is sending it right now
            elif message.due_at is not None and due_bucket(message.due_at) != entry.bucket:
                forget.append(entry)  # filed again elsewhere since
            else:
                [checked] = recheck_before_send([message], opt_outs, now)
                if checked is not message:
                    settle.append(checked)
                    forget.append(entry)
                    continue
                allowed = self._allowed_at(message, now)
                if allowed > now:
                    moved = replace(entry, due_at=allowed)
                    refile.append(moved)
                    settle.append(replace(message, due_at=allowed))
                    forget.append(entry)
                    report.deferred += 1
                elif message.due_at is not None and message.due_at > now:
                    report.waiting += 1
                else:
                    candidates.append((entry, message))
        await self._storage.outbox.add(refile)  # new rows before old ones go
        saved_settled = await save_reapplying(self._storage.messages, settle, leave_alone)
        for message in saved_settled:
            if message.status in FINAL:
                assert report.settled is not None
                report.settled[message.status.value] += 1
        await self._record(batches, saved_settled)
        sent, done, filed = await self._send(candidates, batches, now)
        assert report.sent is not None
        report.sent.update(m.status.value for m in sent)
        report.waiting += len(candidates) - len(sent)
        # A row filed again this run under the same minute is the same row: keep it.
        kept = {(e.bucket, e.row_key) for e in refile + filed}
        await self._storage.outbox.remove(
            [e for e in forget + done if (e.bucket, e.row_key) not in kept]
        )
        log.info("outbox: %s", report.summary())
        return report

    def _allowed_at(self, message: MessageRecord, now: datetime) -> datetime:
        """Quiet hours hold back scheduled messages only: a send the caller asked for now is
        the caller's call (a sign-in code must not wait for morning)."""
        if message.status is not Status.SCHEDULED:
            return now
        return defer_until(self._quiet, message.to, now)

    async def _sweep(
        self,
        entry: OutboxEntry,
        now: datetime,
        forget: list[OutboxEntry],
        refile: list[OutboxEntry],
        overdue: list[MessageRecord],
        settle: list[MessageRecord],
    ) -> BatchRecord | None:
        """Look over one batch: a claim that lapsed (its sender died) goes back to the outbox as
        due now, and so does a waiting message long overdue (its row was never written); a sent
        message past its report deadline becomes `unknown`; and the row is filed again for the
        next thing to watch, or forgotten when nothing is left."""
        forget.append(entry)
        batch = await self._storage.messages.get_header(entry.batch_id)
        if batch is None:
            return None
        upcoming: list[datetime] = []
        for message in await self._storage.messages.list_unfinished(entry.batch_id):
            if message.status is Status.QUEUED and message.claim_until is not None:
                if message.claim_until <= now:
                    refile.append(OutboxEntry(message.batch_id, message.index, message.to, now))
                    settle.append(replace(message, due_at=now, claim_until=None))
                else:
                    upcoming.append(message.claim_until)
            elif message.status is Status.QUEUED and message.due_at is not None:
                if message.due_at + OVERDUE <= now:
                    refile.append(OutboxEntry(message.batch_id, message.index, message.to, now))
                    settle.append(replace(message, due_at=now))
                else:
                    upcoming.append(message.due_at + OVERDUE)
            elif message.status is Status.ACCEPTED and batch.delivery_report:
                deadline = (message.sent_at or message.created_at) + self._report_timeout
                if deadline <= now:
                    overdue.append(message)
                else:
                    upcoming.append(deadline)
        if upcoming:
            refile.append(sweep_entry(entry.batch_id, min(upcoming)))
        return batch

    async def _settle_overdue(
        self,
        overdue: list[MessageRecord],
        now: datetime,
        refile: list[OutboxEntry],
        settle: list[MessageRecord],
    ) -> None:
        """Sent messages whose report never came: what ACS knows settles them (a report it
        could not push), and only a message ACS has no report for becomes `unknown`. When
        ACS cannot answer now, the batch is looked at again a minute later."""

        async def one(message: MessageRecord) -> None:
            try:
                if await self._reports.pull(message):
                    return
            except AcsError:
                refile.append(sweep_entry(message.batch_id, now + PULL_RETRY))
                return
            note = f"no delivery report within {self._report_timeout}, and ACS has none"
            settle.append(message.advance(Status.UNKNOWN, now, note))

        await gather_bounded(one(m) for m in overdue)

    async def _load(
        self, entries: Sequence[OutboxEntry]
    ) -> tuple[dict[str, BatchRecord], dict[tuple[str, int], MessageRecord]]:
        by_batch: dict[str, list[int]] = defaultdict(list)
        for entry in entries:
            by_batch[entry.batch_id].append(entry.index)
        repository = self._storage.messages
        ids = list(by_batch)
        headers = await gather_bounded(repository.get_header(b) for b in ids)
        batches = {b: h for b, h in zip(ids, headers, strict=True) if h is not None}
        rows = await gather_bounded(repository.get_many(b, by_batch[b]) for b in batches)
        messages = {(m.batch_id, m.index): m for group in rows for m in group}
        return batches, messages

    async def _send(
        self,
        candidates: list[tuple[OutboxEntry, MessageRecord]],
        batches: dict[str, BatchRecord],
        now: datetime,
    ) -> tuple[list[MessageRecord], list[OutboxEntry], list[OutboxEntry]]:
        """Claim what each sender's budget allows, oldest first, and send it. Returns what was
        sent, the rows done with, and the rows filed anew (requeued, or watching for reports)."""
        # Per sender, priority texts (one-time codes) first and from their own lane of the
        # budget, then the rest, oldest first.
        by_lane: dict[tuple[str, bool], list[tuple[OutboxEntry, MessageRecord]]] = defaultdict(list)
        for entry, message in sorted(candidates, key=lambda c: c[0].due_at):
            lane = (message.sender or "", batches[entry.batch_id].priority)
            by_lane[lane].append((entry, message))
        chosen: list[tuple[OutboxEntry, MessageRecord]] = []
        for (sender, priority), group in sorted(by_lane.items(), key=lambda item: not item[0][1]):
            granted = await self._storage.buckets.take(
                sender, len(group), now=now, rate_per_minute=self._rate, priority=priority
            )
            chosen += group[:granted]
        claimed = await self._claim([m for _, m in chosen], now)
        sent: list[MessageRecord] = []
        done: list[OutboxEntry] = []
        filed: list[OutboxEntry] = []
        entry_of = {(e.batch_id, e.index): e for e, _ in chosen}
        claimed_by_batch: dict[str, list[MessageRecord]] = defaultdict(list)
        for message in claimed:
            claimed_by_batch[message.batch_id].append(message)
        results = await gather_bounded(
            self._dispatcher.dispatch(batches[b], group, watch_reports=True)
            for b, group in claimed_by_batch.items()
        )
        for batch_id, dispatched in zip(claimed_by_batch, results, strict=True):
            if not dispatched.recorded:
                continue  # claims lapse and the batch's sweep row brings them back
            saved = dispatched.messages
            filed += [
                OutboxEntry(m.batch_id, m.index, m.to, m.due_at)
                for m in saved
                if m.status is Status.QUEUED and m.due_at
            ]
            if batches[batch_id].delivery_report and any(
                m.status is Status.ACCEPTED for m in saved
            ):
                filed.append(sweep_entry(batch_id, now + self._report_timeout))
            done += [entry_of[(m.batch_id, m.index)] for m in saved]
            sent += [m for m in saved if m.status is not Status.QUEUED]
        return sent, done, filed

    async def _claim(self, messages: list[MessageRecord], now: datetime) -> list[MessageRecord]:
        """ETag-conditional claims; a message someone else changed meanwhile is left alone. Its
        outbox row stays until its outcome is saved, so a claim this process dies holding comes
        back when it lapses."""
        wanted = [claim(m, now, self._lease) for m in messages]
        return (await self._storage.messages.update(wanted)).saved

    async def _record(self, batches: dict[str, BatchRecord], settled: list[MessageRecord]) -> None:
        by_batch: dict[str, list[MessageRecord]] = defaultdict(list)
        for message in settled:
            by_batch[message.batch_id].append(message)
        await gather_bounded(
            self._storage.usage.record(send_usage(batches[b], group))
            for b, group in by_batch.items()
        )
