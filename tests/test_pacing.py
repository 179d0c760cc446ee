from collections import Counter
from datetime import UTC, datetime, timedelta

from shared.pacing import Allowance, Bucket, Decayed, full_bucket, sticky_sender

POOL = ["+18005550100", "+18005550101", "+18005550102"]
T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_sticky_sender_is_stable_and_spreads() -> None:
    recipients = [f"+1206555{i:04d}" for i in range(3000)]
    first = [sticky_sender(POOL, r) for r in recipients]
    assert first == [sticky_sender(list(reversed(POOL)), r) for r in recipients]  # order-free
    counts = Counter(first)
    assert set(counts) == set(POOL)
    assert all(900 <= c <= 1100 for c in counts.values())
    # Removing a number moves only its own recipients.
    smaller = [sticky_sender(POOL[:2], r) for r in recipients]
    moved = sum(a != b for a, b in zip(first, smaller, strict=True))
    assert moved == counts[POOL[2]]


def test_bucket_grants_a_minute_then_refills() -> None:
    bucket = full_bucket(T0, 200)
    granted, bucket = bucket.take(500, T0, 200)
    assert granted == 196  # a minute's worth, less a reserve of 4 against clock skew with ACS
    granted, bucket = bucket.take(50, T0 + timedelta(seconds=3), 200)
    assert granted == 10  # 3 s at 200/min
    granted, _ = bucket.take(1000, T0 + timedelta(hours=1), 200)
    assert granted == 196  # never more than one minute's worth at once


def test_priority_sends_take_half_of_the_reserve_bulk_sends_leave() -> None:
    bucket = Bucket(4.0, T0)  # at the reserve of a 200/min sender
    assert bucket.take(1, T0, 200)[0] == 0
    granted, after = bucket.take(5, T0, 200, priority=True)
    assert (granted, after.tokens) == (2, 2.0)
    assert after.take(1, T0, 200, priority=True)[0] == 0


def test_any_allowance_refills_evenly_over_its_window() -> None:
    five_in_ten_minutes = Allowance(5, 600)
    bucket = Bucket(0.0, T0)
    assert bucket.level(T0 + timedelta(minutes=2), five_in_ten_minutes) == 1.0
    assert bucket.wait_for(1, T0, five_in_ten_minutes) == 120.0
    assert bucket.level(T0 + timedelta(hours=5), five_in_ten_minutes) == 5.0  # never over
    assert bucket.spend(1, T0 + timedelta(minutes=4), five_in_ten_minutes).tokens == 1.0


def test_decayed_counts_halve_every_half_life() -> None:
    count = Decayed(8.0, T0)
    assert count.value(T0 + timedelta(hours=2), 3600) == 2.0
    assert count.add(1, T0 + timedelta(hours=1), 3600) == Decayed(5.0, T0 + timedelta(hours=1))
