import pytest

from shared.ids import is_batch_id, message_id, new_batch_id, parse_message_id, row_key
from shared.records import key_safe
from shared.status import FINAL, Status, can_advance


def test_batch_ids_are_time_ordered_and_unique() -> None:
    ids = [new_batch_id(now=1_700_000_000 + i) for i in range(50)]
    assert ids == sorted(ids)
    assert len(set(new_batch_id() for _ in range(1000))) == 1000
    assert all(is_batch_id(i) for i in ids)


def test_message_id_round_trip() -> None:
    batch = new_batch_id()
    assert parse_message_id(message_id(batch, 0)) == (batch, 0)
    assert parse_message_id(message_id(batch, 99_999)) == (batch, 99_999)
    assert row_key(7) == "000007"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "nope-1",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV-",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV-01",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV-x",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV-1234567",
    ],
)
def test_malformed_message_ids(text: str) -> None:
    assert parse_message_id(text) is None


def test_status_only_moves_forward() -> None:
    assert can_advance(Status.QUEUED, Status.ACCEPTED)
    assert can_advance(Status.ACCEPTED, Status.DELIVERED)
    assert can_advance(Status.UNKNOWN, Status.DELIVERED)
    assert not can_advance(Status.ACCEPTED, Status.QUEUED)
    assert not can_advance(Status.ACCEPTED, Status.ACCEPTED)
    assert not can_advance(Status.DELIVERED, Status.FAILED)
    for final in FINAL:
        assert not any(can_advance(final, s) for s in Status)


def test_key_safe_escapes_forbidden_characters() -> None:
    assert key_safe("Outgoing_1/2#3?4\\5") == "Outgoing_1%2F2%233%3F4%5C5"
    assert key_safe("plain-id_1") == "plain-id_1"


def test_acs_tag_round_trip() -> None:
    from shared.records import acs_tag, parse_acs_tag

    batch = new_batch_id()
    assert parse_acs_tag(acs_tag(batch, [5, 3, 104])) == (batch, 3, 104)
    for bad in (None, "", "orders", f"{batch}.5", f"{batch}.9.3", f"{batch}.a.3", "X.1.2"):
        assert parse_acs_tag(bad) is None
