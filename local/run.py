"""`make run`: the whole app on this machine — Azurite, the ACS sandbox and the function host.

Ports: AZURITE_TABLE_PORT (10002), ACS_SANDBOX_PORT (7072), FUNCTIONS_HOST_PORT (7071).
Ctrl-C stops all three; so does any one of them dying.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from local.stack import (
    ROOT,
    Ports,
    Service,
    StackError,
    app_stack,
    azurite_tables_connection_string,
    port_in_use,
    sandbox_connection_string,
)

DEFAULTS = Ports(tables=10002, sandbox=7072, host=7071)
SETTINGS = ROOT / "local.settings.json"
EXAMPLE = ROOT / "local.settings.example.json"
LOGS = ROOT / ".artifacts" / "run"


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{name} must be a port number, got {raw!r}")
    return int(raw)


def chosen_ports() -> Ports:
    return Ports(
        tables=_port("AZURITE_TABLE_PORT", DEFAULTS.tables),
        sandbox=_port("ACS_SANDBOX_PORT", DEFAULTS.sandbox),
        host=_port("FUNCTIONS_HOST_PORT", DEFAULTS.host),
    )


def ensure_local_settings() -> bool:
    """Write local.settings.json from the example on first run; never overwrite the user's."""
    if SETTINGS.exists():
        return False
    SETTINGS.write_text(EXAMPLE.read_text())
    return True


LATER_SETTINGS = {
    "SMS_OUTBOX_SCHEDULE": "*/10 * * * * *",
    "SMS_EVENTS_SCHEDULE": "*/5 * * * * *",
    "SMS_VERIFY_SECRET": "local-development-only-verification-secret-not-for-azure",
}


def app_env(ports: Ports) -> dict[str, str]:
    """Point the app at the ports in use; the environment wins over local.settings.json."""
    values = json.loads(SETTINGS.read_text()).get("Values", {})
    env: dict[str, str] = {}
    # A settings file older than the outbox, the events or the codes gets what it lacks.
    for name, default in LATER_SETTINGS.items():
        if name not in values and name not in os.environ:
            env[name] = default
    uses_sandbox = "127.0.0.1:7072" in values.get("ACS_CONNECTION_STRING", "")
    if ports.sandbox != DEFAULTS.sandbox and uses_sandbox:
        env["ACS_CONNECTION_STRING"] = sandbox_connection_string(ports.sandbox)
    if ports.sandbox != DEFAULTS.sandbox:  # the local event destinations live in the sandbox
        default = f"127.0.0.1:{DEFAULTS.sandbox}/"
        for name, value in values.items():
            if name.startswith("SMS_EVENTS_") and name.endswith("_URL") and default in value:
                env.setdefault(name, value.replace(default, f"127.0.0.1:{ports.sandbox}/"))
    if ports.tables != DEFAULTS.tables:
        env["TABLES_CONNECTION_STRING"] = azurite_tables_connection_string(ports.tables)
        env["AzureWebJobsStorage"] = env["TABLES_CONNECTION_STRING"]
    return env


def banner(ports: Ports) -> str:
    api = f"http://127.0.0.1:{ports.host}/api"
    return f"""
  SMS app running
    function host   http://127.0.0.1:{ports.host}   (status: /admin/host/status)
    ACS sandbox     http://127.0.0.1:{ports.sandbox}   (handsets: /sandbox/messages)
    Azurite tables  http://127.0.0.1:{ports.tables}/devstoreaccount1
    logs            {LOGS.relative_to(ROOT)}/

  Try:
    curl -s {api}/sms -H 'Content-Type: application/json' \\
      -d '{{"to": ["+14255550123"], "message": "Hello from the local stack"}}'
    make demo        a short story: bulk send, delivery reports, STOP, the thread

  Ctrl-C stops everything.
"""


def run() -> int:
    ports = chosen_ports()
    taken = [
        f"{name} port {port}"
        for name, port in (
            ("AZURITE_TABLE_PORT", ports.tables),
            ("ACS_SANDBOX_PORT", ports.sandbox),
            ("FUNCTIONS_HOST_PORT", ports.host),
        )
        if port_in_use(port)
    ]
    if taken:
        raise StackError(
            f"{', '.join(taken)} already in use: stop what uses it, or choose another port, "
            "e.g. FUNCTIONS_HOST_PORT=7081 make run"
        )
    if ensure_local_settings():
        print(f"wrote {SETTINGS.name} from {EXAMPLE.name} (Azurite + the ACS sandbox)")
    services = app_stack(
        ports,
        data_dir=ROOT / ".azurite",
        logs=LOGS,
        app_env=app_env(ports),
        show_host_output=True,
    )
    started: list[Service] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for service in services:
            print(f"starting {service.name} on port {service.port} …", flush=True)
            service.start(timeout=60)
            started.append(service)
        print(banner(ports), flush=True)
        while not stopping:
            dead = [s for s in started if not s.alive()]
            if dead:
                print(
                    f"\n{dead[0].name} stopped unexpectedly; see {LOGS.relative_to(ROOT)}/",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("\nstopping …", flush=True)
        for service in reversed(started):
            service.stop()


def main() -> None:
    os.chdir(ROOT)
    try:
        sys.exit(run())
    except StackError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
