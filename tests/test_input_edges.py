"""Bad input at the edges: every class a fuzzer found answers a clear error naming its field,
never an exception the HTTP edge would turn into a 500. Property tests (Hypothesis) for the
pure parsers; examples for each class found."""

from __future__ import annotations

import contextlib
import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.analytics import parse_report_query
from shared.clock import TimeFormatError, parse_day, parse_instant
from shared.errors import BadContinuationTokenError, ValidationError
from shared.http_api import json_response
from shared.ids import parse_message_id
from shared.phone import normalize_number, reachable_regions
from shared.send_request import parse_send_request
from shared.tables.paging import decode_token, encode_token

POOL = ("+18005550100",)
TODAY = date(2030, 3, 31)


def send(**body: object) -> None:
    parse_send_request(
        {"to": "+14255550123", "message": "hi", **body}, pool=POOL, default_region="US"
    )


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1999-12-31T23:59:59Z"],
)
def test_extreme_times_are_refused_by_name(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        send(sendAt=value)
    assert info.value.target == "sendAt" and "2000" in info.value.message


@pytest.mark.parametrize("field", ["message", "tag", "from"])
def test_a_lone_surrogate_is_refused_by_name(field: str) -> None:
    with pytest.raises(ValidationError) as info:
        send(**{field: "hi \ud800 there"})
    assert info.value.target == field


def test_a_lone_surrogate_in_a_recipient_names_it() -> None:
    with pytest.raises(ValidationError) as info:
        parse_send_request(
            {"to": ["+14255550123", "\udfff"], "message": "hi"}, pool=POOL, default_region="US"
        )
    assert info.value.target == "to[1]"


def test_an_answer_echoing_a_surrogate_is_still_json() -> None:
    response = json_response(400, {"error": {"message": "field '\ud800'"}})
    assert json.loads(response.get_body())["error"]["message"] == "field '\ud800'"


@pytest.mark.parametrize("digits", ["²", "١٢", "１"])
def test_only_ascii_digits_are_numbers(digits: str) -> None:
    assert parse_message_id(f"01KMX8R6Q3V3J8C4S5ZB2W1N0D-{digits}") is None
    with pytest.raises(ValidationError) as info:
        parse_report_query({"top": digits}, TODAY)
    assert info.value.target == "top"


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "２０３０-01-01", "2030-1-01"])
def test_report_days_out_of_range_are_refused(day: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_report_query({"from": day, "to": "2030-01-02"}, TODAY)
    assert info.value.target == "from"


def test_recipients_outside_the_allowed_countries_are_invalid_with_the_rule() -> None:
    parsed = normalize_number("+447911123456", "US", allowed_regions=frozenset({"US"}))
    assert parsed.e164 is None and parsed.reason is not None
    assert "SMS_ALLOWED_COUNTRIES" in parsed.reason and "GG" in parsed.reason
    assert normalize_number("+14255550123", "US", allowed_regions=frozenset({"US"})).e164


def test_toll_free_pools_reach_us_canada_and_puerto_rico() -> None:
    assert reachable_regions(("+18005550100", "+18885550101")) == {"US", "CA", "PR"}
    assert reachable_regions(("+447911123456",)) == {"GG"}


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_time_parsers_only_ever_refuse_with_their_own_error(text: str) -> None:
    for parse in (parse_instant, parse_day):
        with contextlib.suppress(TimeFormatError):  # anything else would be a 500
            parse(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_number_parsing_never_raises(text: str) -> None:
    parsed = normalize_number(text, "US", allowed_regions=frozenset({"US"}))
    assert (parsed.e164 is None) == (parsed.reason is not None)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_forged_paging_tokens_are_refused(text: str) -> None:
    try:
        decode_token(text, "conversations|PartitionKey eq @pk|[('pk', '+1')]")
    except BadContinuationTokenError:
        return
    raise AssertionError(f"accepted a made-up token: {text!r}")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["NextPartitionKey", "NextRowKey"]), st.text(), min_size=1))
def test_a_token_round_trips_only_in_its_own_listing(token: dict[str, str]) -> None:
    encoded = encode_token(token, "listing-a")
    assert encoded is not None
    assert decode_token(encoded, "listing-a") == token
    with pytest.raises(BadContinuationTokenError):
        decode_token(encoded, "listing-b")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_send_text_fields_answer_a_named_error_or_pass(text: str) -> None:
    for field in ("message", "tag", "sendAt", "validUntil", "from"):
        try:
            send(**{field: text})
        except ValidationError as error:
            assert error.target == field
