"""The text of a one-time code (pure): a template per locale, the app hash Android's SMS
Retriever looks for, and the origin-bound line browsers autofill from.

- Templates: English and Spanish are built in; `SMS_VERIFY_TEXT_<LOCALE>` overrides one or adds
  another (`SMS_VERIFY_TEXT_FR`, `SMS_VERIFY_TEXT_PT_BR`). Placeholders: `{code}` (required),
  `{brand}` (SMS_VERIFY_BRAND), `{minutes}` and `{expiry}` ("10 minutes", in the locale's words).
  A locale is looked up whole (`es-mx`), then by its language (`es`), then SMS_VERIFY_LOCALE.
- `appHash`: the 11-character hash of an Android app, on a line of its own (Google's SMS
  Retriever reads a message holding the app's hash and hands it to that app).
- `domain`: a last line `@example.com #123456`, the origin-bound one-time code format (WICG
  "Origin-bound one-time codes delivered via SMS": the last line, `@` host, space, `#` code) that
  Safari and Chrome autofill into that site only — a phishing page on another origin gets
  nothing.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

PLACEHOLDERS = frozenset({"code", "brand", "minutes", "expiry"})
MAX_TEMPLATE_LENGTH = 320
MAX_BRAND_LENGTH = 30
DEFAULT_LOCALE = "en"
LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
APP_HASH = re.compile(r"^[A-Za-z0-9+/]{11}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

# (with a brand, without one); `{expiry}` is worded per locale below.
BUILT_IN: dict[str, tuple[str, str]] = {
    "en": (
        "Your {brand} code is {code}. It expires in {expiry}. Don't share it.",
        "Your code is {code}. It expires in {expiry}. Don't share it.",
    ),
    "es": (
        "Tu código de {brand} es {code}. Caduca en {expiry}. No lo compartas.",
        "Tu código es {code}. Caduca en {expiry}. No lo compartas.",
    ),
}
_MINUTES = {"en": ("minute", "minutes"), "es": ("minuto", "minutos")}


class TemplateError(ValueError):
    """A template that cannot make a text; the message says why."""


def locale_key(locale: str) -> str:
    """`es_MX`, `ES-mx` → `es-mx`: the spelling templates are filed under."""
    return locale.replace("_", "-").lower()


def check_template(template: str) -> str:
    if not 1 <= len(template) <= MAX_TEMPLATE_LENGTH:
        raise TemplateError(f"a template has 1 to {MAX_TEMPLATE_LENGTH} characters")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise TemplateError(f"not a template: {exc}") from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise TemplateError(f"unknown placeholder {{{sorted(unknown)[0]}}}")
    if "code" not in fields:
        raise TemplateError("a template must hold {code}")
    return template


def normalize_domain(value: str) -> str | None:
    """A host name as the origin-bound format writes it (lowercase ASCII, no scheme or port),
    or None when it is not one."""
    host = value.strip().lower().rstrip(".")
    if not host or len(host) > 253 or not host.isascii():
        return None
    labels = host.split(".")
    return host if all(_LABEL.match(label) for label in labels) else None


@dataclass(frozen=True, slots=True)
class TextOptions:
    """What a verification asked for its text."""

    ttl_seconds: int
    locale: str | None = None
    app_hash: str | None = None
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class VerificationTexts:
    brand: str
    overrides: Mapping[str, str]  # locale key → template, from the settings
    default_locale: str = DEFAULT_LOCALE

    def template(self, locale: str | None) -> tuple[str, str]:
        """The template for `locale`, and the locale whose words `{expiry}` uses."""
        for key in self._candidates(locale):
            if key in self.overrides:
                return self.overrides[key], key.split("-")[0]
            language = key.split("-")[0]
            if key == language and language in BUILT_IN:
                branded, plain = BUILT_IN[language]
                return (branded if self.brand else plain), language
        branded, plain = BUILT_IN[DEFAULT_LOCALE]
        return (branded if self.brand else plain), DEFAULT_LOCALE

    def _candidates(self, locale: str | None) -> list[str]:
        keys: list[str] = []
        if locale:
            key = locale_key(locale)
            keys += [key, key.split("-")[0]]
        keys.append(locale_key(self.default_locale))
        return list(dict.fromkeys(keys))

    def render(self, code: str, options: TextOptions) -> str:
        template, language = self.template(options.locale)
        minutes = max(1, math.ceil(options.ttl_seconds / 60))
        one, many = _MINUTES.get(language, ("min", "min"))
        body = template.format(
            code=code,
            brand=self.brand,
            minutes=minutes,
            expiry=f"{minutes} {one if minutes == 1 else many}",
        )
        lines = [body.strip()]
        if options.app_hash:
            lines.append(options.app_hash)
        if options.domain:
            lines.append(f"@{options.domain} #{code}")  # the last line, as the format requires
        return "\n".join(lines)

    def render_hidden(self, code_length: int, options: TextOptions) -> str:
        """The same text with the code masked: what is kept with the send, and shown."""
        return self.render("*" * code_length, options)
