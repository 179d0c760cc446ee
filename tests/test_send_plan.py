from datetime import UTC, datetime, timedelta

from shared.acs_client import AcsThrottledError, AcsTimeoutError, ChunkOutcome, SmsSendResult
from shared.phone import normalize_recipients
from shared.send_plan import apply_outcomes, outgoing, plan_batch, recheck_before_send
from shared.send_request import parse_send_request
from shared.status import Status

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def plan(to: list[str], opted_out: set[str] = frozenset()):  # type: ignore[assignment]
    request = parse_send_request(
        {"to": to, "message": "hello €", "tag": "t"}, pool=("+18005550100",), default_region="US"
    )
    counter = iter(range(1000))
    return plan_batch(
        request,
        normalize_recipients(to, "US"),
        set(opted_out),
        batch_id="B",
        sender="+18005550100",
        now=NOW,
        new_id=lambda: f"id-{next(counter)}",
    )


def test_plan_gives_each_distinct_recipient_its_fate() -> None:
    batch, messages = plan(["+14255550100", "junk", "+14255550101", "4255550100"], {"+14255550101"})
    assert (batch.encoding, batch.segments, batch.recipient_count) == ("GSM-7", 1, 3)
    assert [(m.to, m.status) for m in messages] == [
        ("+14255550100", Status.QUEUED),
        ("junk", Status.INVALID),
        ("+14255550101", Status.OPTED_OUT),
    ]
    assert messages[0].repeatability_request_id == "id-0"
    assert messages[0].repeatability_first_sent == "Wed, 25 Nov 2026 12:00:00 GMT"
    assert messages[1].error_message == "not a phone number"
    assert messages[2].repeatability_request_id is None
    assert [m.id for m in messages] == ["B-0", "B-1", "B-2"]
    assert all(len(m.history) == 1 for m in messages)


def test_outcomes_map_to_statuses() -> None:
    _, messages = plan(["+14255550100", "+14255550101", "+14255550102", "+14255550103"])
    sent = [outgoing(m) for m in messages]
    outcomes = [
        ChunkOutcome(
            sent[:2],
            [
                SmsSendResult("+14255550100", "acs-1", 202, True),
                SmsSendResult("+14255550101", None, 400, False, "Invalid To phone number format."),
            ],
        ),
        ChunkOutcome(sent[2:3], [], AcsThrottledError("slow down", retry_after=3)),
        ChunkOutcome(sent[3:], [], AcsTimeoutError("no answer")),
    ]
    later = NOW + timedelta(seconds=1)
    out = apply_outcomes(messages, outcomes, later)
    assert [m.status for m in out] == [
        Status.ACCEPTED,
        Status.REJECTED,
        Status.REJECTED,
        Status.UNKNOWN,
    ]
    assert out[0].acs_message_id == "acs-1" and out[0].sent_at == later
    assert out[1].error_code == "Acs400"
    assert out[2].error_code == "Throttled"
    assert out[3].error_code == "Timeout"
    assert [h.status for h in out[0].history] == [Status.QUEUED, Status.ACCEPTED]


def test_resumed_queued_messages_recheck_opt_outs_and_age() -> None:
    _, messages = plan(["+14255550100", "+14255550101", "+14255550102"])
    fresh = recheck_before_send(messages, {"+14255550101"}, NOW + timedelta(minutes=1))
    assert [m.status for m in fresh] == [Status.QUEUED, Status.OPTED_OUT, Status.QUEUED]
    stale = recheck_before_send(messages, set(), NOW + timedelta(minutes=10))
    assert {m.status for m in stale} == {Status.UNKNOWN}
