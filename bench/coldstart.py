"""Cold start: what importing each function module costs a fresh worker, and the peak memory of
the largest request the API takes (a 100,000-recipient dry run), each in its own process."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

from local.stack import ROOT

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
