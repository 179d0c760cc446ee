"""Injected failures for the next ACS requests of one route, consumed in FIFO order.

A fault names its route: `sms` (`POST /sms`, the default), `optouts` (`POST /sms/optouts:…`)
or `deliveryReports` (`GET /deliveryReports/{id}`); requests to other routes pass it by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["status", "drop-response", "delay"]
_KINDS: tuple[FaultKind, ...] = ("status", "drop-response", "delay")
Route = Literal["sms", "optouts", "deliveryReports"]
ROUTES: tuple[Route, ...] = ("sms", "optouts", "deliveryReports")


@dataclass
class Fault:
    kind: FaultKind
    times: int = 1
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    route: Route = "sms"

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """Parses a `POST /sandbox/faults` body; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        kind = data.get("kind")
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {', '.join(_KINDS)}")
        route = data.get("route", "sms")
        if route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}")
        unknown = set(data) - {"kind", "times", "status", "retryAfter", "seconds", "route"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        times = _number(data, "times", 1)
        status = _number(data, "status", 503)
        seconds = _number(data, "seconds", 0.0)
        retry_after = data.get("retryAfter")
        if times < 1 or times != int(times):
            raise ValueError("times must be a whole number >= 1")
        if not 400 <= status <= 599 or status != int(status):
            raise ValueError("status must be an HTTP error status (400..599)")
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        if retry_after is not None:
            retry_after = _number(data, "retryAfter", 0)
            if retry_after < 0:
                raise ValueError("retryAfter must be >= 0 or null")
        return cls(kind, int(times), int(status), retry_after, seconds, route)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "times": self.times, "route": self.route}
        if self.kind == "status":
            data |= {"status": self.status, "retryAfter": self.retry_after}
        elif self.kind == "delay":
            data["seconds"] = self.seconds
        return data


def _number(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    return float(value)


class FaultQueue:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def take(self, route: Route = "sms") -> Fault | None:
        """The fault for this request, if any: the oldest one queued for its route, which
        applies to that route's next `times` requests."""
        for index, fault in enumerate(self._faults):
            if fault.route == route:
                fault.times -= 1
                if fault.times == 0:
                    del self._faults[index]
                return fault
        return None

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]

    def clear(self) -> None:
        self._faults.clear()
