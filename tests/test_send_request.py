import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.errors import ValidationError
from shared.http_api import domain_error_response, status_of
from shared.send_request import parse_idempotency_key, parse_send_request

POOL = ("+18005550100", "+18005550101")


NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def parse(body: Any):
    return parse_send_request(body, pool=POOL, default_region="US", now=NOW)


def test_schedule_fields() -> None:
    request = parse(
        {
            "to": "+14255550123",
            "message": "hi",
            "sendAt": "2026-11-26T09:00:00-08:00",
            "validUntil": "2026-11-26T18:00:00+00:00",
        }
    )
    assert request.send_at == datetime(2026, 11, 26, 17, tzinfo=UTC)
    assert request.valid_until == datetime(2026, 11, 26, 18, tzinfo=UTC)
    past = parse({"to": "+14255550123", "message": "hi", "sendAt": "2026-11-25T11:59:00Z"})
    assert past.send_at is None  # already due: send now


def test_minimal_request() -> None:
    request = parse({"to": "+14255550123", "message": "hi"})
    assert request.to == ["+14255550123"]
    assert request.sender is None and request.tag is None
    assert request.delivery_report is True and request.dry_run is False


def test_full_request() -> None:
    request = parse(
        {
            "to": ["4255550123"],
            "message": "hi",
            "from": "(800) 555-0101",
            "tag": "promo",
            "deliveryReport": False,
            "dryRun": True,
        }
    )
    assert request.sender == "+18005550101"
    assert (request.tag, request.delivery_report, request.dry_run) == ("promo", False, True)


def test_fingerprint_ignores_key_order_but_not_content() -> None:
    a = parse({"to": "+14255550123", "message": "hi"})
    b = parse({"message": "hi", "to": "+14255550123"})
    c = parse({"message": "hi!", "to": "+14255550123"})
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize(
    ("body", "status", "target"),
    [
        ([], 400, "body"),
        ({"message": "hi"}, 400, "to"),
        ({"to": [], "message": "hi"}, 400, "to"),
        ({"to": 42, "message": "hi"}, 400, "to"),
        ({"to": ["+14255550123", 7], "message": "hi"}, 400, "to[1]"),
        ({"to": ["1" * 65], "message": "hi"}, 400, "to[0]"),
        ({"to": ["+14255550123"] * 100_001, "message": "hi"}, 413, "to"),
        ({"to": "+14255550123"}, 400, "message"),
        ({"to": "+14255550123", "message": ""}, 400, "message"),
        ({"to": "+14255550123", "message": "x" * 2049}, 400, "message"),
        ({"to": "+14255550123", "message": "😀" * 1025}, 400, "message"),
        ({"to": "+14255550123", "message": 5}, 400, "message"),
        ({"to": "+14255550123", "message": "hi", "from": "+18005550199"}, 400, "from"),
        ({"to": "+14255550123", "message": "hi", "from": 1}, 400, "from"),
        ({"to": "+14255550123", "message": "hi", "tag": ""}, 400, "tag"),
        ({"to": "+14255550123", "message": "hi", "tag": "a\nb"}, 400, "tag"),
        ({"to": "+14255550123", "message": "hi", "dryRun": "yes"}, 400, "dryRun"),
        ({"to": "+14255550123", "message": "hi", "deliveryReport": 1}, 400, "deliveryReport"),
        ({"to": "+14255550123", "message": "hi", "sendAt": "tomorrow"}, 400, "sendAt"),
        ({"to": "+14255550123", "message": "hi", "sendAt": "2030-01-01T00:00:00"}, 400, "sendAt"),
        ({"to": "+14255550123", "message": "hi", "sendAt": 1767225600}, 400, "sendAt"),
        ({"to": "+14255550123", "message": "hi", "sendAt": "2099-01-01T00:00:00Z"}, 400, "sendAt"),
        (
            {"to": "+14255550123", "message": "hi", "validUntil": "2020-01-01T00:00:00Z"},
            400,
            "validUntil",
        ),
        (
            {
                "to": "+1425",
                "message": "hi",
                "sendAt": "2026-12-02T00:00:00Z",
                "validUntil": "2026-12-01T00:00:00Z",
            },
            400,
            "validUntil",
        ),
        ({"to": "+14255550123", "message": "hi", "To": "x"}, 400, "To"),
    ],
)
def test_bad_input_names_the_field(body: Any, status: int, target: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse(body)
    assert status_of(info.value) == status
    assert info.value.target == target
    answer = json.loads(domain_error_response(info.value).get_body())
    assert answer["error"]["target"] == target


def test_message_of_2048_characters_is_accepted() -> None:
    assert len(parse({"to": "+14255550123", "message": "x" * 2048}).message) == 2048


@pytest.mark.parametrize(
    ("header", "key"), [(None, None), ("abc-123", "abc-123"), ('"abc-123"', "abc-123")]
)
def test_idempotency_key_forms(header: str | None, key: str | None) -> None:
    assert parse_idempotency_key(header) == key


@pytest.mark.parametrize("header", ["", "a b", "x" * 256, "é"])
def test_bad_idempotency_key(header: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_idempotency_key(header)
    assert info.value.target == "Idempotency-Key"
