from collections import Counter
from datetime import UTC, datetime, timedelta

from shared.pacing import full_bucket, sticky_sender

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
