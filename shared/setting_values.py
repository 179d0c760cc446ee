"""Reading one numeric app setting, with the one-line error that names it (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping


def number_setting(
    env: Mapping[str, str], name: str, default: float, low: float, high: float = math.inf
) -> float:
    """The setting as a number in [low, high], the default when empty; a `ValueError` whose
    message starts with the setting's name otherwise (callers raise it as their own error)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number, got {raw!r}") from None
    if not low <= value <= high:
        bound = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise ValueError(f"{name}: must be {bound}")
    return value
