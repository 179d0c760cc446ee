"""Helpers shared by the sample functions, imported absolutely as an app imports `shared`.

Functions record what they received here; the `records` HTTP function reads it back, which
works because every function of an app runs in the one host process.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_records: list[dict[str, Any]] = []


def record(kind: str, **fields: Any) -> None:
    with _lock:
        _records.append({"kind": kind, **fields})


def recorded() -> list[dict[str, Any]]:
    with _lock:
        return list(_records)


def clear() -> None:
    with _lock:
        _records.clear()


def greeting(who: str) -> str:
    return f"{os.environ.get('SAMPLE_GREETING', 'hi')}, {who}"
