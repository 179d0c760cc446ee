from datetime import UTC, datetime, timedelta

from shared.acs_errors import (
    AcsAuthenticationError,
    AcsThrottledError,
    AcsTimeoutError,
)
from shared.acs_messages import (
    ChunkOutcome,
    SmsSendResult,
)
from shared.pacing import sticky_sender
from shared.phone import normalize_recipients
from shared.send_plan import (
    apply_outcomes,
    claim,
    outgoing,
    plan_batch,
    recheck_before_send,
)
from shared.send_request import parse_send_request
from shared.status import Status

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POOL = ("+18005550100", "+18005550101", "+18005550102")


def plan(to: list[str], opt_outs: set[tuple[str, str]] | None = None, **fields: object):
    request = parse_send_request(
        {"to": to, "message": "hello €", "tag": "t", **fields},
        pool=POOL,
        default_region="US",
        now=NOW,
    )
    return plan_batch(
        request, normalize_recipients(to, "US"), opt_outs or set(), batch_id="B", pool=POOL, now=NOW
    )


def ids() -> object:
    counter = iter(range(1000))
    return lambda: f"id-{next(counter)}"


def test_plan_gives_each_distinct_recipient_its_fate() -> None:
    a, b = "+14255550100", "+14255550101"
    batch, messages = plan([a, "junk", b, "4255550100"], {("*", b)})
    assert (batch.encoding, batch.segments, batch.recipient_count) == ("GSM-7", 1, 3)
    assert [(m.to, m.status) for m in messages] == [
        (a, Status.QUEUED),
        ("junk", Status.INVALID),
        (b, Status.OPTED_OUT),
    ]
    assert messages[0].sender == sticky_sender(POOL, a)
    assert messages[0].repeatability_request_id is None  # ids are given when it is claimed
    assert messages[0].due_at == NOW and messages[0].tag == "t"
    assert messages[1].error_message == "not a phone number"
    assert [m.id for m in messages] == ["B-0", "B-1", "B-2"]
    assert all(len(m.history) == 1 for m in messages)


def test_sender_scoped_opt_out_applies_to_that_sender_only() -> None:
    to = "+14255550100"
    mine = sticky_sender(POOL, to)
    other = next(s for s in POOL if s != mine)
    assert plan([to], {(other, to)})[1][0].status is Status.QUEUED
    assert plan([to], {(mine, to)})[1][0].status is Status.OPTED_OUT
    assert plan([to], {(other, to)}, **{"from": other})[1][0].status is Status.OPTED_OUT


def test_scheduled_messages_wait_for_send_at() -> None:
    batch, [message] = plan(
        ["+14255550100"], sendAt="2026-11-26T09:00:00Z", validUntil="2026-11-26T10:00:00Z"
    )
    assert message.status is Status.SCHEDULED
    assert message.due_at == datetime(2026, 11, 26, 9, tzinfo=UTC)
    assert message.valid_until == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert batch.send_at == message.due_at


def test_claim_gives_fresh_repeatability_ids_once() -> None:
    _, [message] = plan(["+14255550100"], sendAt="2026-11-26T09:00:00Z")
    later = NOW + timedelta(days=1)
    held = claim(message, later, timedelta(minutes=2), new_id=lambda: "id-1")
    assert held.status is Status.QUEUED and held.claim_until == later + timedelta(minutes=2)
    assert held.repeatability_request_id == "id-1"
    assert held.repeatability_first_sent == "Thu, 26 Nov 2026 12:00:00 GMT"
    again = claim(held, later + timedelta(seconds=30), timedelta(minutes=2), new_id=lambda: "id-2")
    assert again.repeatability_request_id == "id-1"  # a retry keeps its ids


def test_outcomes_map_to_statuses_and_requeues() -> None:
    to = [
        "+14255550100",
        "+14255550101",
        "+14255550102",
        "+14255550103",
        "+14255550104",
        "+14255550105",
    ]
    _, planned = plan(to)
    messages = [claim(m, NOW, timedelta(minutes=2), new_id=lambda: "x") for m in planned]
    sent = [outgoing(m) for m in messages]
    outcomes = [
        ChunkOutcome(
            sent[:3],
            [
                SmsSendResult(to[0], "acs-1", 202, True),
                SmsSendResult(to[1], None, 400, False, "Invalid To phone number format."),
                SmsSendResult(to[2], None, 503, False, "ServiceUnavailable"),
            ],
        ),
        ChunkOutcome(sent[3:4], [], AcsThrottledError("slow down", retry_after=7)),
        ChunkOutcome(sent[4:5], [], AcsTimeoutError("no answer")),
        ChunkOutcome(
            sent[5:], [], AcsAuthenticationError("no", status_code=401, code="Unauthorized")
        ),
    ]
    later = NOW + timedelta(seconds=1)
    out = apply_outcomes(messages, outcomes, later)
    assert [m.status for m in out] == [
        Status.ACCEPTED,
        Status.REJECTED,
        Status.QUEUED,
        Status.QUEUED,
        Status.QUEUED,
        Status.REJECTED,
    ]
    assert (
        out[0].acs_message_id == "acs-1" and out[0].sent_at == later and out[0].claim_until is None
    )
    assert out[1].error_code == "Acs400"
    assert out[2].repeatability_request_id == "x"  # ACS may have acted: retry as a repeat
    assert out[3].due_at == later + timedelta(seconds=7)  # throttled: after Retry-After,
    assert out[3].repeatability_request_id is None  # with new ids (ACS did not act on it)
    assert out[4].repeatability_request_id == "x" and out[4].claim_until is None
    assert out[5].error_code == "Unauthorized"
    assert [h.status for h in out[0].history] == [Status.QUEUED, Status.ACCEPTED]


def test_recheck_before_send() -> None:
    _, planned = plan(
        ["+14255550100", "+14255550101", "+14255550102"], validUntil="2026-11-25T13:00:00Z"
    )
    fresh = recheck_before_send(planned, {("*", "+14255550101")}, NOW + timedelta(minutes=1))
    assert [m.status for m in fresh] == [Status.QUEUED, Status.OPTED_OUT, Status.QUEUED]
    expired = recheck_before_send(planned, set(), NOW + timedelta(hours=2))
    assert {m.status for m in expired} == {Status.EXPIRED}
    tried = [claim(m, NOW, timedelta(minutes=2)) for m in planned]
    stale = recheck_before_send(tried, set(), NOW + timedelta(minutes=10))
    assert {m.status for m in stale} == {Status.UNKNOWN}
    assert {m.status for m in recheck_before_send(planned, set(), NOW + timedelta(minutes=10))} == {
        Status.QUEUED
    }


def test_once_an_attempt_may_have_reached_acs_the_ids_stay_for_good() -> None:
    """A lost answer, then a 429 on the retry: the message may have been sent, so it keeps its
    repeatability id and first-sent time through every later answer, and past ACS's window it
    becomes unknown instead of getting fresh ids."""
    _, [planned] = plan(["+14255550100"])
    first = claim(planned, NOW, timedelta(minutes=2), new_id=lambda: "first")
    throttled = AcsThrottledError("slow down", retry_after=5)
    throttled.ambiguous = True  # as the client marks it after a dropped connection
    [after_429] = apply_outcomes([first], [ChunkOutcome([outgoing(first)], [], throttled)], NOW)
    assert after_429.status is Status.QUEUED and after_429.maybe_sent
    assert after_429.repeatability_request_id == "first"
    assert after_429.repeatability_first_sent == first.repeatability_first_sent
    # A plain 429 later (ACS did not act this time) still cannot give it new ids.
    again = claim(
        after_429, NOW + timedelta(seconds=10), timedelta(minutes=2), new_id=lambda: "new"
    )
    plain = AcsThrottledError("slow down", retry_after=5)
    [after_plain] = apply_outcomes([again], [ChunkOutcome([outgoing(again)], [], plain)], NOW)
    assert after_plain.repeatability_request_id == "first" and after_plain.maybe_sent
    # Past the window it is never sent again: unknown.
    [late] = recheck_before_send([after_plain], set(), NOW + timedelta(minutes=6))
    assert late.status is Status.UNKNOWN


def test_a_message_no_attempt_reached_gets_fresh_ids_after_a_429() -> None:
    _, [planned] = plan(["+14255550100"])
    first = claim(planned, NOW, timedelta(minutes=2), new_id=lambda: "first")
    plain = AcsThrottledError("slow down", retry_after=5)
    [after] = apply_outcomes([first], [ChunkOutcome([outgoing(first)], [], plain)], NOW)
    assert not after.maybe_sent and after.repeatability_request_id is None


def test_a_recipient_withdrawn_before_a_retry_is_opted_out_never_sent() -> None:
    to = ["+14255550100", "+14255550101"]
    _, planned = plan(to)
    claimed = [claim(m, NOW, timedelta(minutes=2), new_id=lambda: "x") for m in planned]
    outcome = ChunkOutcome(
        [outgoing(m) for m in claimed],
        [SmsSendResult(to[0], "acs-1", 202, True)],
        withdrawn=frozenset({to[1]}),
    )
    kept, stopped = apply_outcomes(claimed, [outcome], NOW)
    assert kept.status is Status.ACCEPTED
    assert stopped.status is Status.OPTED_OUT and stopped.error_code == "OptedOut"
    assert stopped.claim_until is None and stopped.due_at is None
