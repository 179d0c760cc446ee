"""One-time codes in analytics and on the dashboard, from the real usage rows and rollups:
started, approved, conversion, refusals by rule and by country — and never a code."""

from __future__ import annotations

import re

import pytest

import analytics
import dashboard
from tests.helpers import http_request, response_json, sandbox_get
from tests.test_verifications import call, start
from tests.test_verify_limits import configure

pytestmark = pytest.mark.usefixtures("app_env")


async def test_starts_approvals_and_refusals_are_counted_by_reason_and_country(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str
) -> None:
    await configure(monkeypatch, SMS_VERIFY_COUNTRIES="US,CA", SMS_VERIFY_LIMIT_NUMBER="1/10m")
    us, ca = "+14255550170", "+16135550171"
    approved = await start(us)
    await start(ca)
    [text] = sandbox_get(sandbox_url, "/sandbox/messages", to=us)
    code = re.search(r"\b(\d{6})\b", text["message"])
    assert code is not None
    assert (await call("POST", approved["id"], "check", {"code": code.group(1)}))[1][
        "status"
    ] == "approved"
    assert (await call("POST", body={"to": us}))[0] == 429  # perNumber
    assert (await call("POST", body={"to": "+447400123456"}))[0] == 403  # country

    report = response_json(
        await analytics.main(http_request("GET", "analytics", params={"groupBy": "country"}))
    )
    assert report["totals"]["verifications"] == {
        "started": 2,
        "approved": 1,
        "conversionRate": 0.5,
        "blocked": 2,
        "blockedReasons": [{"reason": "country", "count": 1}, {"reason": "perNumber", "count": 1}],
    }
    by_country = {s["key"]: s["verifications"] for s in report["series"]}
    assert (by_country["US"]["started"], by_country["US"]["approved"]) == (1, 1)
    assert (by_country["CA"]["started"], by_country["CA"]["conversionRate"]) == (1, 0.0)
    assert by_country["GB"]["blockedReasons"] == [{"reason": "country", "count": 1}]
    assert report["totals"]["accepted"] == 2  # the texts count as sends, tagged "verification"

    page = (await dashboard.main(http_request("GET", "dashboard"))).get_body().decode()
    card = page[page.index('id="verifications"') :]
    assert "2 started · 1 approved · 50.0% conversion · 2 texts refused" in card
    assert "US: 1 of 1 approved" in card and "CA: 0 of 1 approved" in card
    assert code.group(1) not in page and code.group(1) not in str(report)
