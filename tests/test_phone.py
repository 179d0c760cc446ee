import pytest

from shared.phone import mask, normalize_number, normalize_recipients


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+14255550123", "+14255550123"),
        ("4255550123", "+14255550123"),
        ("(425) 555-0123", "+14255550123"),
        ("+1 (206) 555-0100", "+12065550100"),
        ("+44 20 7946 0000", "+442079460000"),
        ("  +14255550123  ", "+14255550123"),
    ],
)
def test_valid_numbers_normalise_to_e164(raw: str, e164: str) -> None:
    parsed = normalize_number(raw, "US")
    assert parsed.e164 == e164
    assert parsed.reason is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("hello", "not a phone number"),
        ("+999 1234567", "unknown country code"),
        ("12345", "wrong length for its country"),
        ("+15555555555", "not a valid number in"),
        ("+19005550123", "premium-rate numbers are not accepted"),
    ],
)
def test_invalid_numbers_carry_a_reason(raw: str, reason: str) -> None:
    parsed = normalize_number(raw, "US")
    assert parsed.e164 is None
    assert parsed.reason is not None and parsed.reason.startswith(reason)


def test_default_region_applies_to_national_numbers() -> None:
    assert normalize_number("020 7946 0000", "GB").e164 == "+442079460000"
    assert normalize_number("020 7946 0000", "US").e164 is None


def test_recipients_collapse_duplicates_in_request_order() -> None:
    out = normalize_recipients(
        ["4255550123", "+14255550124", "+1 425 555 0123", "bad", "bad ", "+14255550125"], "US"
    )
    assert [p.e164 or p.raw for p in out] == ["+14255550123", "+14255550124", "bad", "+14255550125"]


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+14255550123", "+1425*****23"),
        ("+442079460000", "+4420******00"),
        ("+1234567", "+123**67"),
        ("123", "***"),
    ],
)
def test_mask(number: str, masked: str) -> None:
    assert mask(number) == masked
    assert len(mask(number)) == len(number)
