"""The dashboard in a real browser: after two weeks of known history and the analytics story,
headless Chromium loads the page over loopback; its rendered DOM must show the figures, and a
screenshot is kept in `.artifacts/dashboard.png`."""

from __future__ import annotations

import asyncio
import math
import random
import shutil
import struct
import subprocess
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import dashboard
from local.stack import ROOT
from shared.clock import utcnow
from shared.runtime import get_services
from shared.usage import UsageEvent
from tests.conftest import ARTIFACTS, SENDERS
from tests.helpers import http_request
from tests.test_analytics import run_scenario

ENSURE_CHROMIUM = ROOT / "scripts" / "ensure-chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]
HISTORY_DAYS = 13
REASONS = ["4006", "5001", "4004", "9999"]


def find_chromium() -> str | None:
    return next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()),
        shutil.which("chromium"),
    )


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium, installed by scripts/ensure-chromium when missing; skip only if that fails."""
    found = find_chromium()
    if found is None:
        done = subprocess.run(
            ["bash", str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=900
        )
        found = find_chromium()
        if found is None:
            said = (done.stdout + done.stderr).strip().splitlines()
            pytest.skip(f"chromium is missing and could not be installed: {said[-1:]}")
    return found


def history(today: date) -> list[UsageEvent]:
    """Two weeks of ordinary traffic as usage rows, reproducible: weekday peaks at 10:00 and
    15:00 UTC, ~95% delivered, a few replies and opt-outs. Nothing on `today`."""
    rng = random.Random(4711)
    hours = [h for h in range(7, 21) for _ in range(4 if h in (10, 15) else 2 if h < 18 else 1)]
    events: list[UsageEvent] = []
    for back in range(HISTORY_DAYS, 0, -1):
        day = today - timedelta(days=back)
        for i in range((44 if day.weekday() < 5 else 18) + rng.randint(-6, 10)):
            at = datetime.combine(day, time(rng.choice(hours), rng.randint(0, 59)), UTC)
            key, tag = f"h{back}-{i}", rng.choice(["orders", "orders", "reminders", "promo"])
            sender = SENDERS[0] if tag != "promo" else SENDERS[1]
            country = rng.choices(["US", "CA", "GB"], [85, 10, 5])[0]
            roll = rng.random()
            if roll < 0.02:
                events.append(UsageEvent("invalid", at, key, tag=tag))
                continue
            if roll < 0.035:
                events.append(UsageEvent("optedOut", at, key, sender, country, tag))
                continue
            segments = 2 if tag == "promo" else 1
            events.append(UsageEvent("accepted", at, key, sender, country, tag, segments))
            latency = int(rng.lognormvariate(math.log(2_500), 0.9))
            report_at = at + timedelta(milliseconds=latency)
            if rng.random() < (0.12 if back == 4 else 0.04):  # a bad carrier day
                reason = rng.choices(REASONS, [6, 3, 2, 1])[0]
                events.append(
                    UsageEvent(
                        "failed", report_at, key, sender, country, tag, segments, reason, latency
                    )
                )
            else:
                events.append(
                    UsageEvent(
                        "delivered", report_at, key, sender, country, tag, segments, None, latency
                    )
                )
            if rng.random() < 0.09:
                reply_at = at + timedelta(minutes=rng.randint(1, 50))
                for kind in ("inbound", "reply"):
                    events.append(
                        UsageEvent(kind, reply_at, f"r{key}", sender, country, segments=1)
                    )
                if rng.random() < 0.12:
                    events.append(UsageEvent("optOut", reply_at, f"r{key}", sender, country))
        noon = datetime.combine(day, time(12, 0), UTC)  # one publisher tick's counts a day
        for name, taken, refused in (("crm", 40 + back, back % 3), ("topic", 30, 0)):
            events.append(
                UsageEvent("eventDelivered", noon, f"{name}{back}", reason=name, count=taken)
            )
            if refused:
                events.append(
                    UsageEvent("eventFailed", noon, f"{name}{back}", reason=name, count=refused)
                )
    return events


class Dom(HTMLParser):
    """Text by element id, the breakdown table's rows, and every `<title>` inside a chart."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.rows: list[list[str]] = []
        self.tooltips: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        self._open.append((tag, ident))
        if ident:
            self.by_id[ident] = ""
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "title" and any(t == "svg" for t, _ in self._open[:-1]) and not ident:
            self.tooltips.append("")

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        for _, ident in self._open:
            if ident:
                self.by_id[ident] += data
        if self._cell is not None:
            self._cell.append(data)
        if self._open and self._open[-1] == ("title", None) and self.tooltips:
            self.tooltips[-1] += data


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestServer, dict[str, tuple[int, str, dict[str, str]]]]]:
    pages: dict[str, tuple[int, str, dict[str, str]]] = {}

    async def page(request: web.Request) -> web.Response:
        status, body, headers = pages[request.path]
        return web.Response(status=status, text=body, content_type="text/html", headers=headers)

    app = web.Application()
    app.router.add_get("/{name}", page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, pages
    await server.close()


async def run_chromium(binary: str, *args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process = await asyncio.create_subprocess_exec(
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


def fmt(n: int) -> str:
    return f"{n:,}"


def day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


@pytest.mark.usefixtures("app_env")
async def test_dashboard_in_chromium_shows_the_figures(
    chromium: str,
    sandbox_url: str,
    served: tuple[TestServer, dict[str, tuple[int, str, dict[str, str]]]],
) -> None:
    today = utcnow().date()
    past = history(today)
    await (await get_services()).storage.usage.record(past)
    story = await run_scenario(sandbox_url)
    last = (utcnow() + timedelta(minutes=5)).date()
    first = last - timedelta(days=HISTORY_DAYS)
    response = await dashboard.main(
        http_request("GET", "dashboard", params={"from": str(first), "to": str(last)})
    )
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "script" not in response.headers["Content-Security-Policy"]
    html = response.get_body().decode()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")

    server, pages = served
    pages["/dashboard"] = (200, html, dict(response.headers))
    url = str(server.make_url("/dashboard"))
    dom = Dom(await run_chromium(chromium, "--dump-dom", url))

    kinds = Counter(e.kind for e in past)
    for name in ("crm", "topic"):  # the events card: what each destination took and refused
        taken = sum(e.count for e in past if e.kind == "eventDelivered" and e.reason == name)
        refused = sum(e.count for e in past if e.kind == "eventFailed" and e.reason == name)
        assert (
            f"{name}: {fmt(taken)} delivered, {fmt(refused)} refused, 0 dead-lettered"
            in (dom.by_id["event-destinations-desc"])
        )
    sent = kinds["accepted"] + kinds["rejected"] + kinds["unknown"] + 6
    delivered, failed = kinds["delivered"] + 4, kinds["failed"] + 2
    opt_outs = kinds["optOut"] + 2
    assert dom.by_id["kpi-sent-value"] == fmt(sent)
    rate = f"{round(delivered / (delivered + failed), 4) * 100:.1f}%"
    assert dom.by_id["kpi-delivery-rate-value"] == rate
    assert dom.by_id["kpi-opt-outs-value"] == fmt(opt_outs)
    assert dom.by_id["kpi-not-sent-value"] == fmt(kinds["invalid"] + kinds["optedOut"] + 2)
    volume = dom.by_id["volume-desc"]
    assert f"Delivered: {fmt(delivered)}; Failed: {fmt(failed)}" in volume
    assert f"{fmt(sent)} sent" in volume
    assert f"{fmt(opt_outs)} opt-outs" in dom.by_id["opt-outs-desc"]
    overall = f"{rate} overall ({fmt(delivered)} of {fmt(delivered + failed)} reports)"
    assert overall in dom.by_id["delivery-rate-desc"]
    reasons = Counter(e.reason for e in past if e.kind == "failed") + Counter(
        {"4006": 1, "5001": 1}
    )
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0] or ""))[:5]
    assert ", ".join(f"{r}: {n}" for r, n in top) in dom.by_id["failure-reasons-desc"]
    by_hour = Counter(e.at.hour for e in past if e.kind == "accepted")
    if story.started.hour == utcnow().hour:  # the story's six sends fell in this hour
        by_hour[story.started.hour] += 6
        peak, most = min(by_hour.items(), key=lambda item: (-item[1], item[0]))
        busiest = f"busiest {peak:02d}:00–{peak:02d}:59 UTC with {fmt(most)} sent"
        assert busiest in dom.by_id["busiest-hours-desc"]

    # The story's day, exactly as the analytics test counts it (unless it straddled midnight).
    rows = {row[0]: row[1:] for row in dom.rows if row}
    if story.started.date() == utcnow().date() == today:
        assert rows[day_label(today)] == [
            "6", "4", "2", "66.7%", "3", "2", "2", "33.3%", "2", "2.0 s", "41 s", "4006 (1), 5001 (1)"
        ]  # fmt: skip
        assert f"{day_label(today)} · Delivered: 4" in dom.tooltips
    # A day of the history: its bar and its table row.
    seen = today - timedelta(days=3)
    on_day = Counter(e.kind for e in past if e.at.date() == seen)
    assert rows[day_label(seen)][:3] == [
        fmt(on_day["accepted"]),
        fmt(on_day["delivered"]),
        fmt(on_day["failed"]),
    ]
    assert f"{day_label(seen)} · Delivered: {on_day['delivered']}" in dom.tooltips

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    shot.unlink(missing_ok=True)
    await run_chromium(chromium, f"--screenshot={shot}", "--window-size=1280,1600", url)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 1600)
    assert len(png) > 40_000  # charts and text, not a blank page
