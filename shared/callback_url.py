"""A send's own `callbackUrl`: where its message events go, checked so that a caller cannot
point the app at the network it runs in (SSRF): https only, no credentials in the URL, and no
loopback, private, link-local or reserved address. A name is resolved again before every
delivery (`event_senders.resolves_public`), so one pointed inward later is refused then."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from shared.errors import ValidationError
from shared.event_senders import is_public_address

MAX_URL = 2048
_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")


def _is_ip_literal(host: str) -> bool:
    return host.replace(".", "").isdigit() or ":" in host


def parse_callback_url(value: Any, *, allow_private: bool = False) -> str | None:
    """The URL, or None when not given. `allow_private` (local development only) also lets
    http and local addresses through."""
    if value is None:
        return None
    target = "callbackUrl"
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_URL:
        raise ValidationError(
            target, f"'callbackUrl' must be a URL of at most {MAX_URL} characters"
        )
    if not value.isascii() or any(c.isspace() or ord(c) < 0x20 for c in value):
        raise ValidationError(target, "'callbackUrl' must be an ASCII URL without spaces")
    try:
        url = urlsplit(value)
        host = (url.hostname or "").lower()
        url.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise ValidationError(target, "'callbackUrl' is not a valid URL") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if url.scheme not in schemes or not host:
        raise ValidationError(target, "'callbackUrl' must be an https:// URL")
    if url.username is not None or url.password is not None:
        raise ValidationError(target, "'callbackUrl' may not carry credentials")
    if url.fragment:
        raise ValidationError(target, "'callbackUrl' may not have a #fragment")
    if allow_private:
        return value
    if host == "localhost" or host.endswith(_LOCAL_NAMES):
        raise ValidationError(target, "'callbackUrl' must be a public address")
    if _is_ip_literal(host) and not is_public_address(host.strip("[]")):
        raise ValidationError(target, "'callbackUrl' must be a public address")
    return value
