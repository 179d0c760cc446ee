"""Segment vectors: GSM-7 160/153 septets, UCS-2 70/67 UTF-16 units (ACS SMS FAQ)."""

import pytest

from shared.encoding import segment_info, utf16_length


@pytest.mark.parametrize(
    ("message", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters count twice: 160 septets
        ("€" * 81, "GSM-7", 2),
        ("é" * 160, "GSM-7", 1),  # é is in the GSM basic set
        ("á", "UCS-2", 1),
        ("你" * 70, "UCS-2", 1),
        ("你" * 71, "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),  # surrogate pairs: 70 UTF-16 units
        ("😀" * 36, "UCS-2", 2),
        ("`", "UCS-2", 1),
        ("", "GSM-7", 1),
    ],
)
def test_segments(message: str, encoding: str, segments: int) -> None:
    info = segment_info(message)
    assert (info.encoding, info.segments) == (encoding, segments)


def test_escape_pair_is_not_split_across_segments() -> None:
    # 152 plain septets then '€' (2 septets) would straddle the 153-septet boundary.
    info = segment_info("a" * 152 + "€" + "a" * 10)
    assert info.units == 164
    assert info.segments == 2
    assert segment_info("a" * 152 + "€" + "a" * 152).segments == 3


def test_surrogate_pair_is_not_split_across_segments() -> None:
    info = segment_info("你" * 66 + "😀" + "你" * 66)
    assert info.units == 134
    assert info.segments == 3  # 66 + (2 would make 68 > 67) → the emoji opens part 2


def test_utf16_length_counts_like_dotnet() -> None:
    assert utf16_length("abc") == 3
    assert utf16_length("😀") == 2


def _septets(ch: str) -> int | None:
    """What an independent GSM 03.38 codec (the `gsm0338` package) says a character costs."""
    import gsm0338  # noqa: F401  (registers the codec)

    try:
        return len(ch.encode("gsm03.38"))
    except UnicodeError:
        return None


def test_both_gsm7_alphabets_match_an_independent_codec() -> None:
    """The app and the sandbox each keep their own GSM-7 table; both are checked against the
    same outside source, over every character up to U+2FFF and the euro sign."""
    from local.acs_sandbox import segments as sandbox
    from shared import encoding as app

    chars = [chr(c) for c in range(0x3000)] + ["€"]
    basic = {ch for ch in chars if _septets(ch) == 1}
    extension = {ch for ch in chars if _septets(ch) == 2}
    assert len(basic) == 128 and len(extension) == 10  # 3GPP TS 23.038: 128 codes, 10 extensions
    assert app.GSM7_BASIC == basic == sandbox.GSM7_BASIC
    assert app.GSM7_EXTENSION == extension == sandbox.GSM7_EXTENSION
