"""The host's log output: one line per invocation, and phone numbers masked in every line.

Masking happens on the formatted line (message, arguments and traceback alike), so a function
that logs a recipient, or an exception message quoting one, never puts the full number in the
host log. A number keeps its first 5 and last 2 characters: `+15551234567` -> `+1555*****67`.
"""

from __future__ import annotations

import logging
import re
import sys

# A standalone number (optionally +, or %2B in a URL): digits inside an id, a UUID or a longer
# token are not phone numbers and must stay readable.
PHONE_NUMBER = re.compile(r"(?<![0-9A-Za-z_-])(?:\+|%2[Bb])?\d{7,15}(?![0-9A-Za-z_-])")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

invocation_logger = logging.getLogger("func_host.invocation")


def mask_phone_numbers(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        number = match.group(0)
        return number[:5] + "*" * (len(number) - 7) + number[-2:]

    return PHONE_NUMBER.sub(mask, text)


class MaskingFormatter(logging.Formatter):
    """A formatter whose every output line has phone numbers masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_phone_numbers(super().format(record))


def configure_logging(level: str = "INFO") -> None:
    """Send all logs (the host's and the functions') to stderr through the masking formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingFormatter(LOG_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def log_invocation(
    function_name: str,
    trigger_type: str,
    duration_ms: float,
    outcome: str,
    invocation_id: str,
    *,
    failed: bool = False,
) -> None:
    """The one line written per invocation: name, trigger, outcome, duration and id."""
    invocation_logger.log(
        logging.WARNING if failed else logging.INFO,
        "Executed 'Functions.%s' trigger=%s outcome=%s duration_ms=%d id=%s",
        function_name,
        trigger_type,
        outcome,
        round(duration_ms),
        invocation_id,
    )
