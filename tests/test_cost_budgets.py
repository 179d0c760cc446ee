"""Requests per operation stay within budget: table round trips and ACS requests, counted on the
wire (a transaction is one round trip) against Azurite and the ACS sandbox.

Counted warm, as in a worker that has served before: every table exists and each sender's
token-bucket ETag is cached (the first take of a process costs an extra read), so the counts are
exact and repeatable. `python -m bench` prints the same table.
"""

from __future__ import annotations

import pytest

from bench.costs import BUDGETS, measure_costs
from bench.counting import Meter, metered_services
from bench.stack import UNPACED
from shared.runtime import close_services
from tests.helpers import sandbox_config

pytestmark = pytest.mark.usefixtures("app_env")


async def test_request_counts_stay_within_budgets(
    monkeypatch: pytest.MonkeyPatch, sandbox_url: str, table_prefix: str
) -> None:
    # A 1,000-recipient send goes at once: pacing and ACS's own rate limit out of the way.
    monkeypatch.setenv("SMS_RATE_PER_NUMBER_PER_MINUTE", str(UNPACED))
    sandbox_config(sandbox_url, ratePerMinute=0)
    meter = Meter(prefix=table_prefix)
    with metered_services(meter):
        await close_services()
        rows = await measure_costs(sandbox_url, meter, with_analytics=False)
        await close_services()

    measured = {row.name: row for row in rows}
    assert set(BUDGETS) <= set(measured)
    over = {
        name: (row.cost.tables, row.cost.acs, row.cost.breakdown())
        for name, row in measured.items()
        if row.budget is not None and row.cost is not None and not row.budget.allows(row.cost)
    }
    assert not over, f"over budget (table round trips, ACS requests, calls): {over}"
    # Repeats are what Event Grid does all day: a duplicate report must stay cheaper still.
    repeated = measured["delivery report, repeated"].cost
    assert repeated is not None and repeated.tables <= 2 and repeated.acs == 0
