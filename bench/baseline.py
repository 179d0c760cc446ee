"""The bulk send a team would write from the ACS quickstart, to measure the app against.

The official sync SDK (`SmsClient.send`) in requests of 100 recipients (ACS's limit), one opt-out
point read before each recipient and one record upserted after, all with the sync table client.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from time import perf_counter
from typing import Any, cast

from azure.communication.sms import SmsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient

from bench.counting import Cost, Meter
from bench.results import Run
from bench.stack import SANDBOX_KEY, SENDERS, Stack, fresh_prefix
from bench.workload import MESSAGE, OptOut, one_per_sender

CHUNK = 100
OPTED_OUT = "optout"  # the one partition of the baseline's opt-out table


def quickstart_send(
    sms: Any, opt_outs: TableClient, records: TableClient, recipients: Sequence[str]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for start in range(0, len(recipients), CHUNK):
        chunk = recipients[start : start + CHUNK]
        allowed = [r for r in chunk if not _opted_out(opt_outs, r)]
        counts["optedOut"] += len(chunk) - len(allowed)
        if not allowed:
            continue
        results = sms.send(
            from_=SENDERS[0], to=allowed, message=MESSAGE, enable_delivery_report=True, tag="bench"
        )
        for result in results:
            status = "accepted" if result.successful else "rejected"
            records.upsert_entity(
                {
                    "PartitionKey": result.to,
                    "RowKey": result.message_id or "",
                    "Status": status,
                    "HttpStatusCode": result.http_status_code,
                    "Error": result.error_message or "",
                }
            )
            counts[status] += 1
    return counts


def _opted_out(opt_outs: TableClient, recipient: str) -> bool:
    try:
        opt_outs.get_entity(OPTED_OUT, recipient)
    except ResourceNotFoundError:
        return False
    return True


@contextmanager
def quickstart(
    stack: Stack, entries: Sequence[OptOut], meter: Meter | None = None
) -> Iterator[tuple[Any, TableClient, TableClient]]:
    """The SDK client and fresh tables (opt-outs stored), warmed up by a one-recipient send."""
    prefix = fresh_prefix()
    sms_options: dict[str, Any] = {}
    table_options: dict[str, Any] = {}
    if meter is not None:
        meter.prefix = prefix
        sms_options["transport"] = meter.sync_transport("acs")
        table_options["transport"] = meter.sync_transport("tables")
    # `SmsClient.from_connection_string` would assume https; the sandbox is plain http.
    sms = cast(Any, SmsClient)(stack.sandbox_url, AzureKeyCredential(SANDBOX_KEY), **sms_options)
    with TableServiceClient.from_connection_string(stack.tables, **table_options) as service:
        opt_outs = service.create_table(prefix + "optouts")
        records = service.create_table(prefix + "sent")
        for start in range(0, len(entries), CHUNK):
            opt_outs.submit_transaction(
                [
                    ("upsert", {"PartitionKey": OPTED_OUT, "RowKey": e.recipient})
                    for e in entries[start : start + CHUNK]
                ]
            )
        quickstart_send(sms, opt_outs, records, one_per_sender(SENDERS)[:1])
        yield sms, opt_outs, records


def baseline_run(stack: Stack, recipients: Sequence[str], entries: Sequence[OptOut]) -> Run:
    """One timed quickstart send into fresh tables."""
    with quickstart(stack, entries) as (sms, opt_outs, records):
        began = perf_counter()
        counts = quickstart_send(sms, opt_outs, records, recipients)
        seconds = perf_counter() - began
    return Run(len(recipients), seconds, dict(counts))


def baseline_cost(stack: Stack, recipients: Sequence[str], entries: Sequence[OptOut]) -> Cost:
    """The quickstart's requests for one bulk send, counted as the app's are."""
    meter = Meter()
    with quickstart(stack, entries, meter) as (sms, opt_outs, records):
        mark = meter.mark()
        quickstart_send(sms, opt_outs, records, recipients)
        return meter.since(mark)
