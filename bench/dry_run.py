"""`python -m bench.dry_run N`: one dry run of N recipients through `POST /api/sms`, alone in
this process; prints its peak resident memory (and the memory of the imports alone) as JSON."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from collections import Counter
from time import perf_counter


def _max_rss_mb() -> float:
    """Peak resident memory of this process. Linux's `ru_maxrss` carries the parent's peak
    across fork and exec, so its own high-water mark (VmHWM) is read where there is one."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


async def _dry_run(count: int) -> dict[str, int]:
    from bench import app
    from bench.workload import MESSAGE, recipients
    from shared.runtime import close_services

    answer = await app.post_sms({"to": recipients(count), "message": MESSAGE, "dryRun": True})
    await close_services()
    return dict(Counter(r["status"] for r in answer["results"]))


def main() -> None:
    count = int(sys.argv[1])
    import send_sms  # noqa: F401 - the worker imports the function before any request

    imported = _max_rss_mb()
    began = perf_counter()
    counts = asyncio.run(_dry_run(count))
    seconds = perf_counter() - began
    if counts != {"queued": count}:
        raise SystemExit(f"unexpected dry-run answer: {counts}")
    print(
        json.dumps(
            {
                "recipients": count,
                "peakMb": _max_rss_mb(),
                "importsMb": imported,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
