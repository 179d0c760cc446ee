"""The table store against a real Azurite."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.ids import new_batch_id, row_key
from shared.phone import normalize_recipients
from shared.send_plan import plan_batch
from shared.send_request import parse_send_request
from shared.status import Status
from shared.store import BatchExistsError, ConcurrentUpdateError, SmsStore

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def planned(count: int):
    to = [f"+1425555{i:04d}" for i in range(count)]
    request = parse_send_request(
        {"to": to, "message": "hi"}, pool=("+18005550100",), default_region="US"
    )
    return plan_batch(
        request,
        normalize_recipients(to, "US"),
        set(),
        batch_id=new_batch_id(),
        pool=("+18005550100",),
        now=NOW,
    )


async def test_batch_round_trip_across_transaction_boundaries(store: SmsStore) -> None:
    batch, messages = planned(250)  # header + 250 rows: three transactions
    created = await store.create_messages(messages, batch)
    assert all(m.etag for m in created)
    loaded = await store.get_batch(batch.batch_id)
    assert loaded is not None
    assert loaded[0] == batch
    assert [m.to for m in loaded[1]] == [m.to for m in messages]
    assert loaded[1][7] == messages[7]
    with pytest.raises(BatchExistsError):
        await store.create_messages(messages[:1], batch)


async def test_update_is_etag_conditional_and_reports_find_their_message(store: SmsStore) -> None:
    batch, messages = planned(3)
    created = await store.create_messages(messages, batch)
    accepted = [
        m.advance(Status.ACCEPTED, NOW, acs_message_id=f"Outgoing_{i}/x")
        for i, m in enumerate(created)
    ]
    saved = await store.update_messages(accepted)
    assert all(s.etag != c.etag for s, c in zip(saved, created, strict=True))
    found = await store.find_sent_message(batch.batch_id, 0, 2, messages[1].to)
    assert (
        found is not None and found.acs_message_id == "Outgoing_1/x" and found.etag == saved[1].etag
    )
    assert await store.find_sent_message(batch.batch_id, 2, 2, messages[1].to) is None
    with pytest.raises(ConcurrentUpdateError):
        await store.update_messages([replace(accepted[0], status=Status.DELIVERED)])  # stale etag
    pair = await store.get_message(batch.batch_id, row_key(2))
    assert pair is not None and pair[1].status is Status.ACCEPTED
    assert await store.get_message(batch.batch_id, row_key(9)) is None


@pytest.mark.parametrize("count", [3, 200])
async def test_find_opted_out_by_key_and_by_range(store: SmsStore, count: int) -> None:
    recipients = [f"+1425555{i:04d}" for i in range(count)]
    await store.add_opt_out(recipients[1], at=NOW, source="test")  # pool-wide
    await store.add_opt_out(recipients[-1], sender="+18005550101", at=NOW, source="test")
    await store.add_opt_out("+14255559999", at=NOW, source="test")  # not a recipient
    assert await store.find_opted_out(["+18005550100"], recipients) == {recipients[1]}
    assert await store.find_opted_out(["+18005550101"], recipients) == {
        recipients[1],
        recipients[-1],
    }
    await store.remove_opt_out(recipients[1])
    assert await store.find_opted_out(["+18005550100"], recipients) == set()


async def test_opt_out_lookup_is_not_injectable(store: SmsStore) -> None:
    await store.add_opt_out("+14255550001", at=NOW, source="test")
    assert await store.find_opted_out(["+18005550100"], ["x' or PartitionKey ne '"]) == set()


async def test_idempotency_claims(store: SmsStore) -> None:
    lease = timedelta(minutes=2)
    first = await store.claim_idempotency_key(
        "k1", fingerprint="f", batch_id="A", now=NOW, lease=lease
    )
    assert (first.outcome, first.batch_id) == ("new", "A")
    busy = await store.claim_idempotency_key(
        "k1", fingerprint="f", batch_id="B", now=NOW, lease=lease
    )
    assert (busy.outcome, busy.batch_id) == ("in_progress", "A") and busy.retry_after == 120
    other = await store.claim_idempotency_key(
        "k1", fingerprint="g", batch_id="B", now=NOW, lease=lease
    )
    assert other.outcome == "mismatch"
    later = NOW + timedelta(minutes=3)
    resumed = await store.claim_idempotency_key(
        "k1", fingerprint="f", batch_id="C", now=later, lease=lease
    )
    assert (resumed.outcome, resumed.batch_id) == ("resume", "A")
    await store.complete_idempotency_key("k1")
    replay = await store.claim_idempotency_key(
        "k1", fingerprint="f", batch_id="D", now=later, lease=lease
    )
    assert (replay.outcome, replay.batch_id) == ("replay", "A")
    expired = await store.claim_idempotency_key(
        "k1", fingerprint="g", batch_id="E", now=NOW + timedelta(days=2), lease=lease
    )
    assert (expired.outcome, expired.batch_id) == ("new", "E")


async def test_thread_is_newest_first_and_pages(store: SmsStore) -> None:
    from shared.ledger import ThreadEntry

    their = "+12065550100"
    for minute in range(5):
        entry = ThreadEntry(
            their,
            "+18005550100",
            "in" if minute % 2 else "out",
            NOW + timedelta(minutes=minute),
            f"ref-{minute}",
            text=f"t{minute}",
        )
        assert await store.add_thread_entry(entry)
        assert not await store.add_thread_entry(entry)  # a repeat is recognised
    first, token = await store.list_thread(their, limit=2, continuation=None)
    assert [e.text for e in first] == ["t4", "t3"] and token
    second, token = await store.list_thread(their, limit=2, continuation=token)
    assert [e.text for e in second] == ["t2", "t1"]
    third, token = await store.list_thread(their, limit=2, continuation=token)
    assert [e.text for e in third] == ["t0"] and token is None
    last = await store.last_outbound(their)
    assert last is not None and last.text == "t4"
    with pytest.raises(ValueError):
        await store.list_thread(their, limit=2, continuation="garbage!")


async def test_remove_missing_opt_out_is_fine(store: SmsStore) -> None:
    await store.remove_opt_out("+12065550199")
    assert await store.list_opt_outs("+12065550199", ["+18005550100"]) == []
