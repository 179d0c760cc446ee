"""The app's three real processes (Azurite, the ACS sandbox, the function host) as `make run`
starts them, for the end-to-end tests: one builder, each test module adding its own settings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from local.stack import (
    Ports,
    Service,
    app_stack,
    azurite_tables_connection_string,
    free_port,
    sandbox_connection_string,
)
from tests.conftest import SENDERS, VERIFY_SECRET


@contextmanager
def running_stack(
    logs: Path,
    prefix: str,
    app_env: Mapping[str, str] | None = None,
    sandbox_env: Mapping[str, str] | None = None,
) -> Iterator[Ports]:
    """Free ports, this run's logs only, the host on fresh tables under `prefix`; every
    process stopped on the way out, whatever happened."""
    ports = Ports(tables=free_port(), sandbox=free_port(), host=free_port())
    tables = azurite_tables_connection_string(ports.tables)
    for old in logs.glob("*.log"):
        old.unlink()
    services: list[Service] = app_stack(
        ports,
        data_dir=None,
        logs=logs,
        app_env={
            "ACS_CONNECTION_STRING": sandbox_connection_string(ports.sandbox),
            "SMS_FROM_NUMBERS": ",".join(SENDERS),
            "TABLES_CONNECTION_STRING": tables,
            "AzureWebJobsStorage": tables,
            "SMS_TABLE_PREFIX": prefix,
            "SMS_OUTBOX_SCHEDULE": "*/1 * * * * *",
            "SMS_EVENTS_SCHEDULE": "*/1 * * * * *",
            "SMS_VERIFY_SECRET": VERIFY_SECRET,
            **(app_env or {}),
        },
        sandbox_env={"ACS_SANDBOX_REPORT_DELAY_SECONDS": "0.2", **(sandbox_env or {})},
    )
    started: list[Service] = []
    try:
        for service in services:
            service.start(timeout=60)
            started.append(service)
        yield ports
    finally:
        for service in reversed(started):
            service.stop()
