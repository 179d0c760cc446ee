"""Layered limits on verification texts and the SMS-pumping conversion guard (pure).

Every text a verification sends (its first and every resend) passes, in this order, the limits
of: the caller's IP (`context.ip`; an IPv6 address counts as its /64), the number, its prefix
(all but the last four digits: where a pumping ring's numbers sit), its country, and the total.
Each is a token bucket in a `rateBuckets` row, shared by every instance of the app like the
senders' pace. The first limit that is spent refuses with its own reason, and the wider ones are
not touched: a burst from one IP or at one prefix does not eat the budget of everyone else.

The conversion guard watches the prefix and country cells: each keeps decayed counts of texts
sent and codes approved. A cell that has had its volume of texts (`min_sends` for a prefix,
`country_min_sends` for a country) while under `min_conversion` of them were approved is what
SMS pumping looks like (texts to numbers whose operators share
the revenue, codes never entered: research compliance-security §2.4, Vonage's network blocks
on volume and low conversion) and is refused (`enforce`), or only logged and counted
(`monitor`), until its counts decay.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import aware
from shared.pacing import Allowance, Bucket, Decayed
from shared.verify_config import Guard, Limits

LOW_CONVERSION = "lowConversion"


@dataclass(frozen=True, slots=True)
class LimitRow:
    key: str  # the rateBuckets partition
    reason: str  # what a refusal names
    allowances: tuple[Allowance, ...]
    # The texts a cell of low conversion may have before the guard refuses; None: unguarded.
    guard_volume: int | None = None
    holds_current: bool = False  # the number's row: which verification is its latest


@dataclass(frozen=True, slots=True)
class Verdict:
    refused: str | None = None  # the reason, when refused
    retry_after: float = 0.0
    flagged: bool = False  # the guard would refuse, in monitor mode
    previous: str | None = None  # the number's latest verification before this one


def prefix_of(e164: str) -> str:
    return e164[:-4]


def ip_key(ip: str) -> str:
    """An IPv4 address as it is; an IPv6 one as its /64 (one subscriber's usual allocation)."""
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def limit_rows(
    limits: Limits, *, to: str, country: str, ip: str | None, guard: Guard
) -> list[LimitRow]:
    """The rows a text to `to` passes, narrowest first."""
    rows: list[LimitRow] = []
    if ip is not None and limits.per_ip:
        rows.append(LimitRow(f"verify|ip|{ip_key(ip)}", "perIp", limits.per_ip))
    rows.append(LimitRow(f"verify|number|{to}", "perNumber", limits.per_number, holds_current=True))
    rows.append(
        LimitRow(f"verify|prefix|{prefix_of(to)}", "perPrefix", limits.per_prefix, guard.min_sends)
    )
    rows.append(
        LimitRow(
            f"verify|country|{country}", "perCountry", limits.per_country, guard.country_min_sends
        )
    )
    if limits.total:
        rows.append(LimitRow("verify|total", "total", limits.total))
    return rows


def guard_rows(to: str, country: str) -> list[str]:
    """The cells an approval is counted in."""
    return [f"verify|prefix|{prefix_of(to)}", f"verify|country|{country}"]


def _bucket(props: Mapping[str, Any] | None, allowance: Allowance, now: datetime) -> Bucket:
    name = str(allowance.seconds)
    if props is None or f"Tokens{name}" not in props:
        return Bucket(float(allowance.count), now)
    return Bucket(float(props[f"Tokens{name}"]), aware(props[f"At{name}"]))


def _decayed(props: Mapping[str, Any] | None, name: str, now: datetime) -> Decayed:
    if props is None or name not in props:
        return Decayed(0.0, now)
    return Decayed(float(props[name]), aware(props[f"{name}At"]))


def guard_verdict(
    props: Mapping[str, Any] | None, guard: Guard, volume: int, now: datetime
) -> tuple[bool, float]:
    """Whether one more text would take a cell of low conversion past `volume` texts (as
    decayed counts), and how long until its count has decayed enough for one more."""
    half_life = guard.half_life_seconds
    sends = _decayed(props, "Sends", now).value(now, half_life)
    approvals = _decayed(props, "Approvals", now).value(now, half_life)
    if sends + 1 <= volume or approvals >= guard.min_conversion * sends:
        return False, 0.0
    room = max(volume - 1, 0.5)
    return True, max(1.0, half_life * math.log2(sends / room))


def admit(
    row: LimitRow,
    props: Mapping[str, Any] | None,
    now: datetime,
    guard: Guard,
    *,
    current: str | None = None,
) -> tuple[Verdict, dict[str, Any] | None]:
    """One text against one row: refused (nothing written) or admitted (a token spent from
    each bucket, the text counted in the guard's cell, the number's latest verification set)."""
    buckets = [_bucket(props, a, now) for a in row.allowances]
    for allowance, bucket in zip(row.allowances, buckets, strict=True):
        if bucket.level(now, allowance) < 1:
            return Verdict(row.reason, bucket.wait_for(1, now, allowance)), None
    flagged = False
    if row.guard_volume is not None:
        hit, wait = guard_verdict(props, guard, row.guard_volume, now)
        if hit and guard.mode == "enforce":
            return Verdict(LOW_CONVERSION, wait), None
        flagged = hit
    out: dict[str, Any] = {}
    for allowance, bucket in zip(row.allowances, buckets, strict=True):
        spent = bucket.spend(1, now, allowance)
        out[f"Tokens{allowance.seconds}"] = spent.tokens
        out[f"At{allowance.seconds}"] = spent.at
    if row.guard_volume is not None:
        sends = _decayed(props, "Sends", now).add(1, now, guard.half_life_seconds)
        approvals = _decayed(props, "Approvals", now)
        out.update(_counts("Sends", sends) | _counts("Approvals", approvals))
    previous = (props or {}).get("Current") if row.holds_current else None
    latest = (current or previous) if row.holds_current else None
    if latest is not None:
        out["Current"] = latest
    return Verdict(flagged=flagged, previous=previous), out


def count_approval(
    props: Mapping[str, Any] | None, guard: Guard, now: datetime
) -> tuple[None, dict[str, Any]]:
    """The cell's row with one more approval; its buckets and sends unchanged."""
    out = {
        k: v
        for k, v in (props or {}).items()
        if k.startswith(("Tokens", "At", "Sends")) or k == "Current"
    }
    approvals = _decayed(props, "Approvals", now).add(1, now, guard.half_life_seconds)
    return None, out | _counts("Approvals", approvals)


def _counts(name: str, value: Decayed) -> dict[str, Any]:
    return {name: value.count, f"{name}At": value.at}
