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
        sender="+18005550100",
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


async def test_update_is_etag_conditional_and_indexes_acs_ids(store: SmsStore) -> None:
    batch, messages = planned(3)
    created = await store.create_messages(messages, batch)
    accepted = [
        m.advance(Status.ACCEPTED, NOW, acs_message_id=f"Outgoing_{i}/x")
        for i, m in enumerate(created)
    ]
    saved = await store.update_messages(accepted)
    assert all(s.etag != c.etag for s, c in zip(saved, created, strict=True))
    assert await store.find_acs_index(batch.batch_id, "Outgoing_1%2Fx") == row_key(1)
    with pytest.raises(ConcurrentUpdateError):
        await store.update_messages([replace(accepted[0], status=Status.DELIVERED)])  # stale etag
    found = await store.get_message(batch.batch_id, row_key(2))
    assert found is not None and found[1].status is Status.ACCEPTED
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
