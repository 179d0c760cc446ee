"""Batch and message ids.

A message id is `<batchId>-<n>`: the batch id is the Table partition and `n` its row, so a
point read by message id needs no index, and a whole send is written in batches of 100.
Batch ids are ULIDs (time-ordered, URL-safe, no key-forbidden characters).
"""

from __future__ import annotations

import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BATCH_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
ROW_DIGITS = 6


def new_batch_id(now: float | None = None) -> str:
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def is_batch_id(text: str) -> bool:
    return bool(_BATCH_ID.match(text))


def ulid_millis(ulid: str) -> int:
    """The creation time a ULID carries in its first 10 characters, in Unix milliseconds."""
    value = 0
    for char in ulid[:10]:
        value = (value << 5) | _CROCKFORD.index(char)
    return value


def message_id(batch_id: str, index: int) -> str:
    return f"{batch_id}-{index}"


def parse_message_id(text: str) -> tuple[str, int] | None:
    batch_id, sep, index = text.partition("-")
    if (
        not sep
        or not is_batch_id(batch_id)
        or not (index.isascii() and index.isdigit())
        or len(index) > ROW_DIGITS
    ):
        return None
    if index != str(int(index)):  # one spelling per message: no leading zeros
        return None
    return batch_id, int(index)


def row_key(index: int) -> str:
    return f"{index:0{ROW_DIGITS}d}"
