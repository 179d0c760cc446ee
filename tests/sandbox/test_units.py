"""Pure building blocks: segments, dates, masking, throttling, repeatability, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from local.acs_sandbox import connection_string
from local.acs_sandbox.config import DEV_ACCESS_KEY, SandboxConfig
from local.acs_sandbox.phones import mask, mask_numbers
from local.acs_sandbox.ratelimit import RateLimiter
from local.acs_sandbox.repeatability import (
    EXPIRED,
    INVALID_DATE,
    Fingerprint,
    RepeatabilityStore,
    Verdict,
)
from local.acs_sandbox.segments import GSM7_BASIC, count_segments
from local.acs_sandbox.timefmt import format_rfc1123, format_timestamp, parse_rfc1123


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),
        ("€" * 81, "GSM-7", 2),
        ("é" * 160, "GSM-7", 1),
        ("á", "UCS-2", 1),
        ("`", "UCS-2", 1),
        ("你" * 70, "UCS-2", 1),
        ("你" * 71, "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_segment_vectors(text, encoding, segments):
    result = count_segments(text)
    assert (result.encoding, result.segments) == (encoding, segments)


def test_gsm7_basic_table_has_128_characters():
    assert len(GSM7_BASIC) == 128


def test_rfc1123_round_trip_and_seven_digit_timestamps():
    instant = datetime(2019, 3, 26, 16, 6, 51, 123456, tzinfo=UTC)
    assert format_rfc1123(instant) == "Tue, 26 Mar 2019 16:06:51 GMT"
    assert parse_rfc1123("Tue, 26 Mar 2019 16:06:51 GMT") == instant.replace(microsecond=0)
    assert parse_rfc1123("Tue, 26 Mar 2019 16:06:51 +0000") is None
    assert format_timestamp(instant) == "2019-03-26T16:06:51.1234560Z"


def test_masking_hides_numbers():
    assert mask("+14255550123") == "+1425*****23"
    assert mask_numbers("/sandbox/messages?to=%2B14255550123&from=18005550100") == (
        "/sandbox/messages?to=%2B14*******23&from=18005****00"
    )


def test_token_bucket_refills_with_time_scale():
    limiter = RateLimiter()
    assert limiter.try_take("s", 60, per_minute=60, time_scale=1, now=0.0) is None
    wait = limiter.try_take("s", 2, per_minute=60, time_scale=1, now=0.5)
    assert wait == pytest.approx(1.5)
    assert limiter.try_take("s", 2, per_minute=60, time_scale=10, now=0.7) is None
    assert limiter.try_take("other", 60, per_minute=60, time_scale=1, now=0.7) is None
    assert limiter.try_take("s", 1000, per_minute=0, time_scale=1, now=0.7) is None


def test_repeatability_window_and_dates():
    store = RepeatabilityStore()
    now = datetime.now(UTC)
    fingerprint: Fingerprint = ("+18005550100", "+14255550123", "hi")
    request_id = "fda6d242-46aa-4247-8bf6-619a1206f9c3"
    fresh = format_rfc1123(now)

    def check(first_sent: str = fresh, fp: Fingerprint = fingerprint, mono: float = 0.0) -> Verdict:
        return store.check(request_id, first_sent, fp, now=mono, wall_now=now, time_scale=1.0)

    assert check().kind == "new"
    store.remember(request_id.upper(), fingerprint, {"messageId": "m1"}, now=0.0)
    assert check().item == {"messageId": "m1"}
    assert check(fp=("+18005550100", "+14255550123", "other")).status == 400
    assert check(mono=301.0).kind == "new"
    assert check(first_sent="yesterday").message == INVALID_DATE
    stale = check(first_sent=format_rfc1123(now - timedelta(minutes=6)))
    assert (stale.kind, stale.status, stale.message) == ("rejected", 412, EXPIRED)


def test_config_from_env_and_patch():
    config = SandboxConfig.from_env(
        {"ACS_SANDBOX_SENDERS": "+18005550111, +18335550100", "ACS_SANDBOX_TIME_SCALE": "60"}
    )
    assert config.senders == ("+18005550111", "+18335550100")
    assert config.real_seconds(60) == 1.0
    assert config.access_key == DEV_ACCESS_KEY
    patched = config.updated(
        {"ratePerMinute": 5, "eventSchema": "cloudevents", "retryAfter": False}
    )
    assert (patched.rate_per_minute, patched.event_schema, patched.retry_after) == (
        5,
        "CloudEvents",
        False,
    )
    assert "accessKey" not in patched.to_json()
    with pytest.raises(ValueError, match="ACS_SANDBOX_RATE_PER_MINUTE"):
        SandboxConfig.from_env({"ACS_SANDBOX_RATE_PER_MINUTE": "lots"})
    with pytest.raises(ValueError, match="unknown setting"):
        config.updated({"nope": 1})
    with pytest.raises(ValueError, match="duplicateEvents"):
        config.updated({"duplicateEvents": 2})


def test_connection_string_names_the_dev_key():
    assert connection_string(7072) == f"endpoint=http://127.0.0.1:7072/;accesskey={DEV_ACCESS_KEY}"
