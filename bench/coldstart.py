"""Cold start: what importing each function module costs a fresh worker, how long the function
host takes to start serving (worker process and library included), and the peak memory of the
largest request the API takes (a 100,000-recipient dry run), each in its own process."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from local.stack import ROOT, free_port

RUNS = 3


def function_modules() -> list[str]:
    """Every folder the Functions host loads: those with a function.json."""
    return sorted(p.parent.name for p in ROOT.glob("*/function.json"))


@dataclass(frozen=True, slots=True)
class ImportTime:
    module: str
    ms: float  # median over RUNS fresh processes of the module's cumulative import time
    imports: dict[str, float]  # its direct imports' cumulative ms (first importer pays), top 5

    def note(self) -> str:
        top = list(self.imports.items())[:3]
        return ", ".join(f"{name} {ms:.0f}" for name, ms in top if ms >= 1)


def import_time(module: str, runs: int = RUNS) -> ImportTime:
    _import_trace(module)  # compiles the bytecode caches: a deployed app ships them warm
    traces = [_import_trace(module) for _ in range(runs)]
    totals = [_cumulative(trace, module) for trace in traces]
    return ImportTime(module, statistics.median(totals), _direct_imports(traces[0], module))


Trace = list[tuple[int, str]]  # (cumulative µs, indented name), children before their parent


def _import_trace(module: str) -> Trace:
    """`python -X importtime -c "import <module>"`, parsed."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        capture_output=True,
        text=True,
        check=True,
    )
    out = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            _, total, name = line.removeprefix("import time:").split("|", 2)
            out.append((int(total), name))
    return out


def _cumulative(trace: Trace, module: str) -> float:
    return next(total for total, name in trace if name.strip() == module) / 1000


def _direct_imports(trace: Trace, module: str, top: int = 5) -> dict[str, float]:
    end = next(i for i, (_, name) in enumerate(trace) if name.strip() == module)
    depth = _depth(trace[end][1])
    start = end
    while start > 0 and _depth(trace[start - 1][1]) > depth:
        start -= 1
    children = [(n.strip(), t / 1000) for t, n in trace[start:end] if _depth(n) == depth + 2]
    return dict(sorted(children, key=lambda child: -child[1])[:top])


def _depth(name: str) -> int:
    return len(name) - len(name.lstrip())


def dry_run_memory(env: dict[str, str], recipients: int) -> dict[str, float]:
    """Peak resident memory of a process that imports the app and dry-runs one send."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.dry_run", str(recipients)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the dry run failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass(frozen=True, slots=True)
class HostStart:
    ms: float  # median over the runs: process start to /admin/host/status Running
    cpu_ms: float  # median CPU time of the host and its worker process by then
    runs: list[float]


def host_start(runs: int = 5) -> HostStart:
    """How long `make run`'s function host takes from its process start to serving: the worker
    process started, the worker library imported, every function loaded."""
    _host_start_once()  # compiles the bytecode caches, as for the imports
    measured = [_host_start_once() for _ in range(runs)]
    return HostStart(
        statistics.median(ms for ms, _ in measured),
        statistics.median(cpu for _, cpu in measured),
        [round(ms) for ms, _ in measured],
    )


def _host_start_once() -> tuple[float, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["SMS_OUTBOX_SCHEDULE"] = "0 0 0 1 1 *"  # no tick while measuring
    env["SMS_EVENTS_SCHEDULE"] = "0 0 0 1 1 *"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "local.func_host", "--root", str(ROOT), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/admin/host/status", timeout=1)
                if status.status_code == 200 and status.json()["state"] == "Running":
                    elapsed = (time.perf_counter() - started) * 1000
                    return elapsed, _cpu_ms(process.pid) + sum(map(_cpu_ms, _children(process.pid)))
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
        raise RuntimeError("the function host did not start within 60 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _cpu_ms(pid: int) -> float:
    """User and system CPU time of a running process (Linux /proc), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") * 1000


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []
