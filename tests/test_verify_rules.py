"""The rules of verifications (pure): settings, request bodies, the record's moves, the layered
limits and the conversion guard, and the priority lane in a sender's budget."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.config import SettingsError, load_settings
from shared.errors import ValidationError
from shared.pacing import Allowance
from shared.verification import Verification, VerifyStatus, after_check, after_send, ended
from shared.verify_config import Guard, Limits, load_verify_settings, parse_allowances
from shared.verify_limits import LimitRow, admit, count_approval, ip_key, limit_rows
from shared.verify_request import parse_check, parse_resend, parse_start
from tests.test_config import BASE

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_default_settings_are_the_safe_ones() -> None:
    verify = load_settings(BASE).verify
    assert verify.secret is None  # required by the routes, not by the rest of the app
    assert verify.countries == {"US", "CA"}
    assert verify.limits.per_number == (Allowance(5, 600), Allowance(10, 86400))
    assert verify.limits.per_ip == (Allowance(20, 3600),)
    assert verify.limits.total == (Allowance(10000, 86400),)
    assert verify.guard == Guard("enforce", 20, 500, 0.2, 7200)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMS_VERIFY_SECRET", "too short"),
        ("SMS_VERIFY_LIMIT_NUMBER", "5 per minute"),
        ("SMS_VERIFY_LIMIT_NUMBER", "5/10m,3/600s"),
        ("SMS_VERIFY_LIMIT_IP", "0/1h"),
        ("SMS_VERIFY_COUNTRIES", "USA"),
        ("SMS_VERIFY_GUARD", "block"),
        ("SMS_VERIFY_GUARD_MIN_CONVERSION", "2"),
        ("SMS_VERIFY_TEXT_EN", "no code"),
        ("SMS_VERIFY_TEXT_E", "{code}"),
        ("SMS_VERIFY_BRAND", "x" * 31),
    ],
)
def test_a_bad_setting_fails_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({**BASE, name: value})


def test_limits_parse_and_switch_off() -> None:
    assert parse_allowances("X", "3/30s, 100/1d") == (Allowance(3, 30), Allowance(100, 86400))
    assert parse_allowances("X", "OFF") == ()
    env = {"SMS_VERIFY_LIMIT_IP": "off", "SMS_VERIFY_TEXT_ES_MX": "Código: {code}"}
    verify = load_verify_settings(env)
    assert verify.limits.per_ip == ()
    assert verify.texts.overrides == {"es-mx": "Código: {code}"}


def test_start_bodies() -> None:
    request = parse_start(
        {
            "to": "(425) 555-0123",
            "codeLength": 8,
            "locale": "es-MX",
            "domain": "Example.com",
            "context": {"ip": "2001:db8::1", "userId": "u-1"},
        },
        default_region="US",
    )
    assert (request.to, request.code_length, request.ttl_seconds, request.max_checks) == (
        "+14255550123",
        8,
        600,
        5,
    )
    assert (request.domain, request.ip, request.user_id) == ("example.com", "2001:db8::1", "u-1")


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ({}, "to"),
        ({"to": "not a number"}, "to"),
        ({"to": "+14255550123", "codeLength": 3}, "codeLength"),
        ({"to": "+14255550123", "codeLength": True}, "codeLength"),
        ({"to": "+14255550123", "ttlSeconds": 3601}, "ttlSeconds"),
        ({"to": "+14255550123", "maxChecks": 0}, "maxChecks"),
        ({"to": "+14255550123", "appHash": "short"}, "appHash"),
        ({"to": "+14255550123", "domain": "https://x.com"}, "domain"),
        ({"to": "+14255550123", "locale": "english!"}, "locale"),
        ({"to": "+14255550123", "context": {"ip": "300.1.1.1"}}, "context.ip"),
        ({"to": "+14255550123", "context": {"userId": ""}}, "context.userId"),
        ({"to": "+14255550123", "context": {"who": 1}}, "who"),
        ({"to": "+14255550123", "code": "123456"}, "code"),
        ([], "body"),
    ],
)
def test_bad_start_bodies_name_their_field(body: object, target: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_start(body, default_region="US")
    assert caught.value.target == target


def test_check_and_resend_bodies() -> None:
    assert parse_check({"code": "0042"}) == "0042"
    for bad in ({"code": 42}, {"code": "12a456"}, {"code": "123"}, {"code": "١٢٣٤٥٦"}, {}):
        with pytest.raises(ValidationError):
            parse_check(bad)
    assert parse_resend(None) is None
    assert parse_resend({"context": {"ip": "203.0.113.9"}}) == "203.0.113.9"


def _pending(**changes: object) -> Verification:
    base = Verification(
        id="01KMX8R6Q3V3J8C4S5ZB2W1N0D",
        to="+14255550123",
        status=VerifyStatus.PENDING,
        created_at=T0,
        expires_at=T0 + timedelta(minutes=10),
        code_length=6,
        max_checks=3,
        seed=b"s" * 32,
        check_value=b"c" * 32,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_checks_count_per_verification_and_the_last_wrong_one_exhausts() -> None:
    v = _pending()
    for left in (2, 1):
        v = after_check(v, False, T0 + timedelta(seconds=1))
        assert (v.status, v.checks_remaining, v.seed is not None) == (
            VerifyStatus.PENDING,
            left,
            True,
        )
    v = after_check(v, False, T0 + timedelta(seconds=2))
    assert (v.status, v.checks, v.seed, v.check_value) == (VerifyStatus.EXHAUSTED, 3, None, None)
    assert after_check(v, True, T0 + timedelta(seconds=3)) is v  # over: nothing moves it


def test_approval_and_expiry_drop_the_secrets() -> None:
    approved = after_check(_pending(), True, T0 + timedelta(seconds=5))
    assert (approved.status, approved.ended_at, approved.seed) == (
        VerifyStatus.APPROVED,
        T0 + timedelta(seconds=5),
        None,
    )
    late = after_check(_pending(), True, T0 + timedelta(minutes=10))
    assert (late.status, late.check_value, late.checks) == (VerifyStatus.EXPIRED, None, 0)
    canceled = ended(_pending(), VerifyStatus.CANCELED, T0, "replaced")
    assert ended(canceled, VerifyStatus.EXPIRED, T0, "x") is canceled


def test_resends_wait_longer_each_time_and_stop_at_five() -> None:
    v = _pending()
    waits = []
    for n in range(5):
        v = after_send(v, batch_id=f"B{n}", sender="+18005550100", now=T0)
        waits.append(None if v.resend_after is None else (v.resend_after - T0).total_seconds())
    assert waits == [30, 60, 120, 240, None]
    assert (v.sends, v.sends_remaining, v.batches[-1]) == (5, 0, "B4")


LIMITS = Limits(
    per_number=(Allowance(2, 600), Allowance(3, 86400)),
    per_ip=(Allowance(5, 3600),),
    per_prefix=(Allowance(100, 3600),),
    per_country=(Allowance(1000, 3600),),
    total=(Allowance(10000, 86400),),
)
GUARD = Guard("enforce", 4, 40, min_conversion=0.25, half_life_seconds=3600)


def test_the_layers_run_narrowest_first() -> None:
    rows = limit_rows(LIMITS, to="+14255550123", country="US", ip="2001:db8:1:2:3::9", guard=GUARD)
    assert [r.key for r in rows] == [
        "verify|ip|2001:db8:1:2::",
        "verify|number|+14255550123",
        "verify|prefix|+1425555",
        "verify|country|US",
        "verify|total",
    ]
    assert [r.reason for r in rows] == ["perIp", "perNumber", "perPrefix", "perCountry", "total"]
    assert ip_key("203.0.113.7") == "203.0.113.7"
    assert (
        "verify|ip"
        not in limit_rows(LIMITS, to="+14255550123", country="US", ip=None, guard=GUARD)[0].key
    )


def test_a_number_gets_two_in_ten_minutes_and_three_a_day() -> None:
    row = limit_rows(LIMITS, to="+14255550123", country="US", ip=None, guard=GUARD)[0]
    props = None
    verdicts = []
    for minute in (0, 1, 2, 12, 30):
        verdict, written = admit(row, props, T0 + timedelta(minutes=minute), GUARD, current="V")
        verdicts.append(verdict.refused)
        props = written or props
    # 2 at once; the third waits for a refill (one every 5 minutes); the day's 3 are spent by then.
    assert verdicts == [None, None, "perNumber", None, "perNumber"]
    refused, _ = admit(row, props, T0 + timedelta(minutes=30), GUARD)
    assert refused.retry_after > 3600  # the day's bucket, not the ten minutes'


def test_the_number_row_names_its_latest_verification() -> None:
    row = limit_rows(LIMITS, to="+14255550123", country="US", ip=None, guard=GUARD)[0]
    first, props = admit(row, None, T0, GUARD, current="A")
    second, props = admit(row, props, T0, GUARD, current="B")
    assert (first.previous, second.previous, props and props["Current"]) == (None, "A", "B")


def test_the_guard_throttles_a_cell_with_volume_and_no_conversion() -> None:
    row = LimitRow("verify|prefix|+1425555", "perPrefix", (Allowance(100, 3600),), 4)
    props = None
    for _ in range(4):
        verdict, props = admit(row, props, T0, GUARD)
        assert verdict.refused is None
    refused, nothing = admit(row, props, T0, GUARD)
    assert (refused.refused, nothing) == ("lowConversion", None)
    # Room for one more once the 4 texts have decayed to 3: log2(4/3) half-lives.
    assert refused.retry_after == pytest.approx(3600 * math.log2(4 / 3))
    # One approval in four is the minimum conversion: the cell is open again.
    _, props = count_approval(props, GUARD, T0)
    assert admit(row, props, T0, GUARD)[0].refused is None
    # Monitor mode only flags.
    monitor = replace(GUARD, mode="monitor", min_conversion=0.9)
    flagged, written = admit(row, props, T0, monitor)
    assert (flagged.refused, flagged.flagged, written is not None) == (None, True, True)


def test_the_guard_forgets_with_its_half_life() -> None:
    roomy = LimitRow("verify|country|US", "perCountry", (), 9)
    props = None
    for minute in range(8):
        props = admit(roomy, props, T0 + timedelta(minutes=minute), GUARD)[1]
    row = replace(roomy, guard_volume=4)
    assert admit(row, props, T0 + timedelta(minutes=30), GUARD)[0].refused == "lowConversion"
    # Two half-lives later 8 sends count as under 2: room again under the volume of 4.
    assert admit(row, props, T0 + timedelta(hours=2, minutes=8), GUARD)[0].refused is None
