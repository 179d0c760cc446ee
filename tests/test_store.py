"""The repositories over the table gateway, against a real Azurite."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import AlreadyExistsError, BadContinuationTokenError
from shared.ids import new_batch_id
from shared.phone import normalize_recipients
from shared.send_plan import plan_batch
from shared.send_request import parse_send_request
from shared.status import Status
from shared.storage import Storage

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


async def test_batch_round_trip_across_transaction_boundaries(store: Storage) -> None:
    batch, messages = planned(250)  # header + 250 rows: three transactions
    created = await store.messages.create_batch(batch, messages)
    assert all(m.etag for m in created)
    loaded = await store.messages.get_batch(batch.batch_id)
    assert loaded is not None
    assert loaded[0] == batch
    assert [m.to for m in loaded[1]] == [m.to for m in messages]
    assert loaded[1][7] == messages[7]
    with pytest.raises(AlreadyExistsError):
        await store.messages.create_batch(batch, messages[:1])


async def test_update_is_etag_conditional_and_reports_find_their_message(store: Storage) -> None:
    batch, messages = planned(3)
    created = await store.messages.create_batch(batch, messages)
    accepted = [
        m.advance(Status.ACCEPTED, NOW, acs_message_id=f"Outgoing_{i}/x")
        for i, m in enumerate(created)
    ]
    saved = (await store.messages.update(accepted)).saved
    assert all(s.etag != c.etag for s, c in zip(saved, created, strict=True))
    found = await store.messages.find_sent(batch.batch_id, 0, 2, messages[1].to)
    assert (
        found is not None and found.acs_message_id == "Outgoing_1/x" and found.etag == saved[1].etag
    )
    assert await store.messages.find_sent(batch.batch_id, 2, 2, messages[1].to) is None
    stale = await store.messages.update([replace(accepted[0], status=Status.DELIVERED)])
    assert stale.saved == [] and [m.index for m in stale.conflicted] == [0]
    pair = await store.messages.get_message(batch.batch_id, 2)
    assert pair is not None and pair[1].status is Status.ACCEPTED
    assert await store.messages.get_message(batch.batch_id, 9) is None


async def test_a_conflict_in_a_transaction_names_its_row_and_the_rest_is_saved(
    store: Storage,
) -> None:
    batch, messages = planned(5)
    created = await store.messages.create_batch(batch, messages)
    # Row 3 changes behind our back (a delivery report, another instance).
    await store.messages.update([created[3].advance(Status.ACCEPTED, NOW)])
    wanted = [m.advance(Status.CANCELED, NOW) for m in created]
    result = await store.messages.update(wanted)
    assert [m.index for m in result.conflicted] == [3]
    assert [m.index for m in result.saved] == [0, 1, 2, 4]
    loaded = await store.messages.get_batch(batch.batch_id)
    assert loaded is not None
    assert [m.status for m in loaded[1]] == [Status.CANCELED] * 3 + [
        Status.ACCEPTED,
        Status.CANCELED,
    ]


async def test_rows_without_their_header_are_no_batch(store: Storage) -> None:
    """The header is the commit point: rows an attempt left before it are not a send."""
    batch, messages = planned(150)  # two transactions: rows 99..149 first, then the header's
    from shared.records import message_to_entity

    await store.gateway.upsert_rows("messages", [message_to_entity(m) for m in messages[99:]])
    assert await store.messages.get_batch(batch.batch_id) is None
    assert await store.messages.status_counts(batch.batch_id) is None
    with pytest.raises(AlreadyExistsError):
        await store.messages.create_batch(batch, messages)
    created = await store.messages.create_batch(batch, messages, overwrite=True)
    assert len(created) == 150
    loaded = await store.messages.get_batch(batch.batch_id)
    assert loaded is not None and len(loaded[1]) == 150


@pytest.mark.parametrize("count", [3, 200])
async def test_find_opted_out_by_key_and_by_range(store: Storage, count: int) -> None:
    recipients = [f"+1425555{i:04d}" for i in range(count)]
    await store.opt_outs.add(recipients[1], at=NOW, source="test")  # pool-wide
    await store.opt_outs.add(recipients[-1], scope="+18005550101", at=NOW, source="test")
    await store.opt_outs.add("+14255559999", at=NOW, source="test")  # not a recipient
    assert await store.opt_outs.find_opted_out(["+18005550100"], recipients) == {recipients[1]}
    assert await store.opt_outs.find_opted_out(["+18005550101"], recipients) == {
        recipients[1],
        recipients[-1],
    }
    await store.opt_outs.remove(recipients[1])
    assert await store.opt_outs.find_opted_out(["+18005550100"], recipients) == set()


async def test_opt_out_lookup_is_not_injectable(store: Storage) -> None:
    await store.opt_outs.add("+14255550001", at=NOW, source="test")
    assert (
        await store.opt_outs.find_opted_out(["+18005550100"], ["x' or PartitionKey ne '"]) == set()
    )


async def test_idempotency_claims(store: Storage) -> None:
    lease = timedelta(minutes=2)
    first = await store.idempotency.claim("k1", fingerprint="f", batch_id="A", now=NOW, lease=lease)
    assert (first.outcome, first.batch_id) == ("new", "A")
    busy = await store.idempotency.claim("k1", fingerprint="f", batch_id="B", now=NOW, lease=lease)
    assert (busy.outcome, busy.batch_id) == ("in_progress", "A") and busy.retry_after == 120
    other = await store.idempotency.claim("k1", fingerprint="g", batch_id="B", now=NOW, lease=lease)
    assert other.outcome == "mismatch"
    later = NOW + timedelta(minutes=3)
    resumed = await store.idempotency.claim(
        "k1", fingerprint="f", batch_id="C", now=later, lease=lease
    )
    assert (resumed.outcome, resumed.batch_id) == ("resume", "A")
    await store.idempotency.complete("k1")
    replay = await store.idempotency.claim(
        "k1", fingerprint="f", batch_id="D", now=later, lease=lease
    )
    assert (replay.outcome, replay.batch_id) == ("replay", "A")
    expired = await store.idempotency.claim(
        "k1", fingerprint="g", batch_id="E", now=NOW + timedelta(days=2), lease=lease
    )
    assert (expired.outcome, expired.batch_id) == ("new", "E")


async def test_thread_is_newest_first_and_pages(store: Storage) -> None:
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
        assert await store.threads.add_if_absent(entry)
        assert not await store.threads.add_if_absent(entry)  # a repeat is recognised
    first, token = await store.threads.list(their, limit=2, continuation=None)
    assert [e.text for e in first] == ["t4", "t3"] and token
    second, token = await store.threads.list(their, limit=2, continuation=token)
    assert [e.text for e in second] == ["t2", "t1"]
    third, token = await store.threads.list(their, limit=2, continuation=token)
    assert [e.text for e in third] == ["t0"] and token is None
    last = await store.threads.last_outbound(their)
    assert last is not None and last.text == "t4"
    with pytest.raises(BadContinuationTokenError):
        await store.threads.list(their, limit=2, continuation="garbage!")
    # A real token, but from another listing (another person's thread) or altered: refused.
    _, theirs = await store.threads.list(their, limit=2, continuation=None)
    assert theirs is not None
    with pytest.raises(BadContinuationTokenError):
        await store.threads.list("+12065550101", limit=2, continuation=theirs)
    with pytest.raises(BadContinuationTokenError):
        await store.threads.list(their, limit=2, continuation=theirs[:-2] + "AA")


async def test_remove_missing_opt_out_is_fine(store: Storage) -> None:
    await store.opt_outs.remove("+12065550199")
    assert await store.opt_outs.list_for("+12065550199", ["+18005550100"]) == []
