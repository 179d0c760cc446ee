"""Figures, their targets, and how they are printed and saved."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Direction = Literal["min", "max"]  # the figure must be at least / at most the target


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run: how many recipients (or events) in how many seconds."""

    items: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")


def median_rate(runs: Sequence[Run]) -> float:
    return statistics.median(r.rate for r in runs)


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float | None  # None: not measured (n/a)
    unit: str
    target: float | None = None
    direction: Direction = "max"
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "n/a"
        if self.target is None:
            return ""
        ok = self.value >= self.target if self.direction == "min" else self.value <= self.target
        return "pass" if ok else "MISS"

    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{'≥' if self.direction == 'min' else '≤'} {_number(self.target)}"

    def line(self) -> str:
        value = "n/a" if self.value is None else _number(self.value)
        text = f"  {self.name:<48} {value:>10} {self.unit:<12} {self.target_text():>8}  {self.verdict:<4}"
        return (text + (f"  ({self.note})" if self.note else "")).rstrip()


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def section(title: str, figures: Sequence[Figure]) -> str:
    return "\n".join([title, *(f.line() for f in figures)])


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
