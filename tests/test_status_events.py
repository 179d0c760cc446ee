"""The pure parts of status events: what becomes an event, its id and sequence, the log's
cursors, per-subject order, the retry chains, callback URLs and the settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from shared.callback_url import parse_callback_url
from shared.errors import ValidationError
from shared.event_delivery import backoff, chains_of, run_chains
from shared.event_relay import in_subject_order
from shared.event_senders import Attempt, Result, is_public_address
from shared.events_config import EventSettings, EventSettingsError, load_event_settings
from shared.ledger import ConsentEntry
from shared.records import HistoryEntry, MessageRecord
from shared.status import Status
from shared.status_events import (
    StatusEvent,
    consent_event,
    message_events,
    pack,
    type_matches,
    unpack,
)
from shared.tables.event_deliveries import RetryRow
from shared.tables.event_log import LogEntry, cursor_millis, hour_of, next_cursors

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def message(*statuses: Status) -> MessageRecord:
    history = tuple(HistoryEntry(s, T0 + timedelta(seconds=n)) for n, s in enumerate(statuses))
    return MessageRecord(
        batch_id="01J0000000000000000000000A",
        index=3,
        to="+12065550100",
        sender="+18005550100",
        status=statuses[-1],
        created_at=T0,
        tag="t",
        history=history,
    )


def test_only_status_changes_are_events_numbered_from_one() -> None:
    record = message(Status.QUEUED, Status.QUEUED, Status.ACCEPTED, Status.DELIVERED)
    events = message_events(record, 0)
    assert [e.type for e in events] == [
        "sms.message.queued",
        "sms.message.accepted",
        "sms.message.delivered",
    ]
    assert [e.data["sequence"] for e in events] == [1, 2, 3]
    assert [e.id for e in events] == [f"{record.id}.{n}" for n in (1, 2, 3)]
    assert [e.id for e in message_events(record, 2)] == [f"{record.id}.3"]
    assert message_events(record, 3) == []


def test_a_note_in_the_history_shifts_no_sequence() -> None:
    """A requeue note between two changes must not renumber the events already told."""
    plain = message(Status.QUEUED, Status.ACCEPTED)
    noted = message(Status.QUEUED, Status.QUEUED, Status.QUEUED, Status.ACCEPTED)
    assert [e.id for e in message_events(plain, 0)] == [e.id for e in message_events(noted, 0)]


def test_packed_events_come_back_whole() -> None:
    events = message_events(message(Status.QUEUED, Status.ACCEPTED, Status.FAILED), 0)
    assert unpack(pack(events)) == events


def test_consent_ids_do_not_show_the_number_and_are_repeatable() -> None:
    entry = ConsentEntry("+12065550100", T0, "optOut", "*", "keyword", "evt-1", keyword="STOP")
    event = consent_event(entry)
    assert "2065550100" not in event.id and event.id == consent_event(entry).id
    assert event.type == "sms.consent.optOut" and event.subject == "consent/+12065550100"
    later = consent_event(
        ConsentEntry("+12065550100", T0 + timedelta(seconds=1), "optIn", "*", "keyword", "evt-2")
    )
    assert later.data["sequence"] > event.data["sequence"]
    masked = event.cloud_event("/sms", full_numbers=False)
    assert masked["data"]["recipient"] == "+1206*****00"
    assert masked["subject"] == "consent/+1206*****00"


@pytest.mark.parametrize(
    ("event_type", "patterns", "expected"),
    [
        ("sms.message.delivered", (), True),
        ("sms.message.delivered", ("sms.message.*",), True),
        ("sms.consent.optOut", ("sms.message.*",), False),
        ("sms.consent.optOut", ("sms.message.*", "sms.consent.optOut"), True),
        ("sms.message.delivered", ("sms.message.failed",), False),
    ],
)
def test_type_filters(event_type: str, patterns: tuple[str, ...], expected: bool) -> None:
    assert type_matches(event_type, patterns) is expected


def test_cursors_only_grow_even_when_the_clock_is_behind() -> None:
    first = next_cursors("0" * 19, T0, 3)
    assert first == sorted(first) and len(set(first)) == 3
    behind = next_cursors(first[-1], T0 - timedelta(minutes=5), 2)
    assert behind[0] > first[-1] and behind == sorted(behind)
    assert cursor_millis(first[0]) == int(T0.timestamp() * 1000)
    assert hour_of(first[0]) < hour_of(next_cursors(first[-1], T0 + timedelta(hours=1), 1)[0])


def _event(key: str, sequence: int) -> StatusEvent:
    return StatusEvent(f"{key}.{sequence}", "sms.message.x", key, T0, {"sequence": sequence})


def test_subject_order_is_fixed_in_place() -> None:
    entries = [(_event("a", 2), None), (_event("b", 1), None), (_event("a", 1), None)]
    ordered = [e.id for e, _ in in_subject_order(entries)]
    assert ordered == ["a.1", "b.1", "a.2"]


def _entry(key: str, sequence: int, cursor: int) -> LogEntry:
    return LogEntry(f"{cursor:019d}", _event(key, sequence))


class Receiver:
    """Refuses the events named, a given number of times each; takes the rest."""

    def __init__(self, refuse: dict[str, int], gone: set[str] | None = None) -> None:
        self.refuse = dict(refuse)
        self.gone = gone or set()
        self.taken: list[str] = []
        self.rounds = 0

    async def __call__(self, entries: Sequence[LogEntry]) -> list[Attempt]:
        self.rounds += 1
        out = []
        for entry in entries:
            if entry.event.id in self.gone:
                out.append(Attempt(Result.GONE, "410 Gone"))
            elif self.refuse.get(entry.event.id, 0) > 0:
                self.refuse[entry.event.id] -= 1
                out.append(Attempt(Result.RETRY, "HTTP 500"))
            else:
                self.taken.append(entry.event.id)
                out.append(Attempt(Result.TAKEN))
        return out


SETTINGS = EventSettings(retry_base_seconds=5, retry_max_seconds=60, retry_hours=1)


async def test_a_refusal_holds_back_its_subject_only() -> None:
    entries = [_entry("a", 1, 1), _entry("b", 1, 2), _entry("a", 2, 3), _entry("b", 2, 4)]
    receiver = Receiver({"a.1": 1})
    out = await run_chains(
        chains_of([], entries), receiver, T0, SETTINGS, destination="d", can_be_gone=True
    )
    assert receiver.taken == ["b.1", "b.2"]
    assert [(r.entry.event.id, r.attempts, r.due_at - T0) for r in out.keep] == [
        ("a.1", 1, timedelta(seconds=5)),
        ("a.2", 0, timedelta(0)),
    ]
    # Next time, once a.1 is due: a.1 then a.2, in order, in two rounds.
    later = T0 + timedelta(seconds=5)
    again = await run_chains(
        chains_of(out.keep, []), receiver, later, SETTINGS, destination="d", can_be_gone=True
    )
    assert receiver.taken[-2:] == ["a.1", "a.2"] and again.keep == []
    assert again.done == [out.keep[0].entry.cursor, out.keep[1].entry.cursor]


async def test_not_yet_due_retries_keep_their_chain_waiting() -> None:
    row = RetryRow("d", _entry("a", 1, 1), T0 + timedelta(minutes=1), 2, T0)
    receiver = Receiver({})
    out = await run_chains(
        chains_of([row], [_entry("a", 2, 2)]),
        receiver,
        T0,
        SETTINGS,
        destination="d",
        can_be_gone=True,
    )
    assert receiver.taken == [] and receiver.rounds == 0
    assert [r.entry.event.id for r in out.keep] == ["a.2"]


async def test_past_the_window_an_event_is_dead_lettered_and_its_chain_goes_on() -> None:
    first_failed = T0 - timedelta(hours=2)
    row = RetryRow("d", _entry("a", 1, 1), T0, 9, first_failed)
    receiver = Receiver({"a.1": 1})
    out = await run_chains(
        chains_of([row], [_entry("a", 2, 2)]),
        receiver,
        T0,
        SETTINGS,
        destination="d",
        can_be_gone=True,
    )
    assert [r.entry.event.id for r in out.bury] == ["a.1"] and receiver.taken == ["a.2"]


async def test_gone_stops_the_destination_and_keeps_everything() -> None:
    entries = [_entry("a", 1, 1), _entry("b", 1, 2), _entry("b", 2, 3)]
    receiver = Receiver({}, gone={"a.1"})
    out = await run_chains(
        chains_of([], entries), receiver, T0, SETTINGS, destination="d", can_be_gone=True
    )
    assert out.gone == "410 Gone"
    assert receiver.taken == ["b.1"]
    assert sorted(r.entry.event.id for r in out.keep) == ["a.1", "b.2"]


def test_backoff_doubles_up_to_its_cap() -> None:
    waits = [backoff(n, 5, 60).total_seconds() for n in range(1, 7)]
    assert waits == [5, 10, 20, 40, 60, 60]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://printer.local/hook",
        "https://user:pw@example.com/hook",
        "https://example.com/hook#x",
        "ftp://example.com/hook",
        "https:///nohost",
        "https://example.com:99999/",
        "https://exa mple.com/",
        7,
    ],
)
def test_callback_urls_that_reach_inward_are_refused(url: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_callback_url(url)
    assert caught.value.target == "callbackUrl"


def test_callback_urls_that_are_public_pass() -> None:
    assert (
        parse_callback_url("https://hooks.example.com/sms?x=1")
        == "https://hooks.example.com/sms?x=1"
    )
    assert parse_callback_url("https://93.184.216.34/hook") is not None
    assert parse_callback_url(None) is None
    assert parse_callback_url("http://127.0.0.1:7072/h", allow_private=True) is not None
    assert not is_public_address("192.168.1.1") and is_public_address("8.8.8.8")


def test_destination_settings() -> None:
    settings = load_event_settings(
        {
            "SMS_EVENTS_DESTINATIONS": "crm, Topic",
            "SMS_EVENTS_CRM_URL": "https://crm.example.com/hooks",
            "SMS_EVENTS_CRM_SECRETS": "whsec_bmV3 whsec_b2xk",
            "SMS_EVENTS_CRM_TYPES": "sms.message.*, sms.consent.*",
            "SMS_EVENTS_TOPIC_KIND": "eventgrid",
            "SMS_EVENTS_TOPIC_URL": "https://t.westus2-1.eventgrid.azure.net/api/events",
        }
    )
    crm, topic = settings.destinations
    assert crm.secrets == ("whsec_bmV3", "whsec_b2xk") and crm.types == (
        "sms.message.*",
        "sms.consent.*",
    )
    assert topic.kind == "eventgrid" and topic.secrets == ()  # no key: managed identity
    assert crm.fingerprint != topic.fingerprint


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SMS_EVENTS_DESTINATIONS": "a-b"}, "SMS_EVENTS_DESTINATIONS"),
        ({"SMS_EVENTS_DESTINATIONS": "callback"}, "SMS_EVENTS_DESTINATIONS"),
        ({"SMS_EVENTS_DESTINATIONS": "x,x"}, "SMS_EVENTS_DESTINATIONS"),
        ({"SMS_EVENTS_DESTINATIONS": "x"}, "SMS_EVENTS_X_URL"),
        (
            {"SMS_EVENTS_DESTINATIONS": "x", "SMS_EVENTS_X_URL": "https://a.example"},
            "SMS_EVENTS_X_SECRETS",
        ),
        (
            {
                "SMS_EVENTS_DESTINATIONS": "x",
                "SMS_EVENTS_X_URL": "https://a.example",
                "SMS_EVENTS_X_SECRETS": "a b c",
            },
            "SMS_EVENTS_X_SECRETS",
        ),
        ({"SMS_EVENTS_DESTINATIONS": "x", "SMS_EVENTS_X_KIND": "sqs"}, "SMS_EVENTS_X_KIND"),
        ({"SMS_EVENTS_NUMBERS": "some"}, "SMS_EVENTS_NUMBERS"),
        ({"SMS_EVENTS_RETRY_HOURS": "soon"}, "SMS_EVENTS_RETRY_HOURS"),
    ],
)
def test_bad_event_settings_name_the_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(EventSettingsError, match=named):
        load_event_settings(env)


def test_every_hint_gets_its_turn() -> None:
    from shared.event_relay import in_turn
    from shared.tables.pending_events import Hint

    hints = [Hint(f"h{n % 3:02d}", "messages", f"p{n}", None, None) for n in range(10)]
    seen: set[str] = set()
    after = ""
    for _ in range(3):
        turn = in_turn(hints, after, 4)
        seen |= {h.key for h in turn}
        after = turn[-1].key
    assert seen == {h.key for h in hints}
    assert in_turn(hints, "zzz", 2) == sorted(hints, key=lambda h: h.key)[:2]  # wraps round
