"""Inline route constraints (`{id:int}`, `{code:length(3)}`...), as ASP.NET Core defines them.

Each factory takes the constraint's argument text (None without parentheses) and returns the
check applied to a route value; a bad argument raises ValueError.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import datetime

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"[+-]?\d+")
_ALPHA = re.compile(r"[A-Za-z]+")


def _integer_in(bounds: tuple[int, int]) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return bool(_INTEGER.fullmatch(value)) and bounds[0] <= int(value) <= bounds[1]

    return check


def _is_float(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    return not math.isnan(number) or value.strip().lower() == "nan"


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _no_argument(check: Callable[[str], bool]) -> Callable[[str | None], Callable[[str], bool]]:
    def factory(argument: str | None) -> Callable[[str], bool]:
        if argument is not None:
            raise ValueError("takes no argument")
        return check

    return factory


def _integers(argument: str | None, count: int) -> list[int]:
    items = [item.strip() for item in (argument or "").split(",")]
    if len(items) != count or not all(_INTEGER.fullmatch(item) for item in items):
        raise ValueError(f"expects {count} integer argument(s)")
    return [int(item) for item in items]


def _min(argument: str | None) -> Callable[[str], bool]:
    (low,) = _integers(argument, 1)
    return lambda value: _integer_in(_INT64)(value) and int(value) >= low


def _max(argument: str | None) -> Callable[[str], bool]:
    (high,) = _integers(argument, 1)
    return lambda value: _integer_in(_INT64)(value) and int(value) <= high


def _range(argument: str | None) -> Callable[[str], bool]:
    low, high = _integers(argument, 2)
    return lambda value: _integer_in(_INT64)(value) and low <= int(value) <= high


def _length(argument: str | None) -> Callable[[str], bool]:
    bounds = _integers(argument, 2 if argument and "," in argument else 1)
    low, high = (bounds[0], bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
    return lambda value: low <= len(value) <= high


def _min_length(argument: str | None) -> Callable[[str], bool]:
    (low,) = _integers(argument, 1)
    return lambda value: len(value) >= low


def _max_length(argument: str | None) -> Callable[[str], bool]:
    (high,) = _integers(argument, 1)
    return lambda value: len(value) <= high


def _regex(argument: str | None) -> Callable[[str], bool]:
    if not argument:
        raise ValueError("expects a regular expression")
    # ASP.NET's regex constraint is case-insensitive and unanchored (IsMatch).
    pattern = re.compile(argument, re.IGNORECASE)
    return lambda value: pattern.search(value) is not None


CONSTRAINTS: dict[str, Callable[[str | None], Callable[[str], bool]]] = {
    "int": _no_argument(_integer_in(_INT32)),
    "long": _no_argument(_integer_in(_INT64)),
    "bool": _no_argument(lambda value: value.lower() in {"true", "false"}),
    "alpha": _no_argument(lambda value: bool(_ALPHA.fullmatch(value))),
    "guid": _no_argument(_is_guid),
    "decimal": _no_argument(_is_float),
    "double": _no_argument(_is_float),
    "float": _no_argument(_is_float),
    "datetime": _no_argument(_is_datetime),
    "required": _no_argument(lambda value: value != ""),
    "min": _min,
    "max": _max,
    "range": _range,
    "length": _length,
    "minlength": _min_length,
    "maxlength": _max_length,
    "regex": _regex,
}
