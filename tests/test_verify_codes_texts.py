"""One-time codes and their texts (pure): the stored values pinned by an independent HMAC
implementation (`cryptography`), codes uniform, texts written out by hand."""

from __future__ import annotations

from collections import Counter

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from shared.verify_codes import check_value, code_for, code_matches, new_seed
from shared.verify_texts import (
    TemplateError,
    TextOptions,
    VerificationTexts,
    check_template,
    normalize_domain,
)

SECRET = b"a-secret-of-at-least-thirty-two-bytes!!"
VID = "01KMX8R6Q3V3J8C4S5ZB2W1N0D"


def _hmac(key: bytes, message: bytes) -> bytes:
    mac = HMAC(key, hashes.SHA256())
    mac.update(message)
    return mac.finalize()


def test_the_check_value_is_hmac_sha256_of_the_id_and_code_under_the_secret() -> None:
    expected = _hmac(SECRET, b"check\x00" + VID.encode() + b"\x00" + b"042917")
    assert check_value(SECRET, VID, "042917") == expected
    assert code_matches(SECRET, VID, "042917", expected)
    assert not code_matches(SECRET, VID, "042918", expected)
    assert not code_matches(SECRET, "01KMX8R6Q3V3J8C4S5ZB2W1N0E", "042917", expected)
    assert not code_matches(b"another-secret-of-thirty-two-bytes!!", VID, "042917", expected)


def test_the_code_is_the_hmac_of_the_seed_reduced_to_its_digits() -> None:
    seed = bytes(range(32))
    digest = _hmac(SECRET, b"code\x00" + VID.encode() + b"\x00" + seed)
    value = int.from_bytes(digest, "big")
    assert code_for(SECRET, VID, seed, 6) == f"{value % 10**6:06d}"
    assert code_for(SECRET, VID, seed, 10) == f"{value % 10**10:010d}"
    assert code_for(SECRET, VID, seed, 6) == code_for(SECRET, VID, seed, 6)  # a resend's code


def test_codes_are_uniform_over_their_digits() -> None:
    """20,000 codes from fresh seeds: every digit at every position within 5 sigma of 1/10."""
    codes = [code_for(SECRET, VID, new_seed(), 6) for _ in range(20_000)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    for position in range(6):
        counts = Counter(c[position] for c in codes)
        assert set(counts) == set("0123456789")
        assert all(abs(n - 2000) < 5 * 42.4 for n in counts.values()), counts
    assert len(set(codes)) > 19_000  # of 10^6 possible codes, few collide


def test_seeds_come_fresh_each_time() -> None:
    seeds = {new_seed() for _ in range(1000)}
    assert len(seeds) == 1000 and all(len(s) == 32 for s in seeds)


TEXTS = VerificationTexts("Contoso", {})


def test_the_english_and_spanish_texts() -> None:
    ten = TextOptions(600)
    assert TEXTS.render("123456", ten) == (
        "Your Contoso code is 123456. It expires in 10 minutes. Don't share it."
    )
    assert TEXTS.render("123456", TextOptions(60, "es-MX")) == (
        "Tu código de Contoso es 123456. Caduca en 1 minuto. No lo compartas."
    )
    assert VerificationTexts("", {}).render("4711", TextOptions(90, "en")) == (
        "Your code is 4711. It expires in 2 minutes. Don't share it."
    )
    assert TEXTS.render("123456", TextOptions(600, "fr")) == TEXTS.render("123456", ten)


def test_the_origin_bound_line_is_last_and_the_app_hash_on_its_own_line() -> None:
    options = TextOptions(600, None, "FA+9qCX9VSu", "example.com")
    assert TEXTS.render("123456", options) == (
        "Your Contoso code is 123456. It expires in 10 minutes. Don't share it.\n"
        "FA+9qCX9VSu\n"
        "@example.com #123456"
    )
    assert TEXTS.render_hidden(6, options).endswith("\n@example.com #******")
    assert "123456" not in TEXTS.render_hidden(6, options)


def test_templates_by_setting_override_and_add_locales() -> None:
    texts = VerificationTexts(
        "Contoso",
        {"es": "Código {brand}: {code}", "pt-br": "Seu código {brand} é {code} ({minutes} min)"},
    )
    assert texts.render("1234", TextOptions(300, "es-AR")) == "Código Contoso: 1234"
    assert texts.render("1234", TextOptions(300, "pt_BR")) == "Seu código Contoso é 1234 (5 min)"
    assert texts.render("1234", TextOptions(300, "pt")).startswith("Your Contoso code is 1234.")
    assert VerificationTexts("X", {}, "es").render("1234", TextOptions(300)).startswith("Tu código")


@pytest.mark.parametrize(
    "template",
    ["no code here", "{code} {name}", "{code", "", "x" * 321 + "{code}", "{code!r:>{brand}}x{"],
)
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        check_template(template)


def test_domains_are_host_names() -> None:
    assert normalize_domain("Example.COM.") == "example.com"
    assert normalize_domain("login.example.co.uk") == "login.example.co.uk"
    for bad in (
        "https://example.com",
        "example.com:443",
        "exa mple.com",
        "-x.com",
        "bücher.de",
        "",
    ):
        assert normalize_domain(bad) is None
