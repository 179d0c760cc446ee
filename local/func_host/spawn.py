"""Starting the worker process, cheaply enough to do before the host imports anything heavy.

`python -m local.func_host` starts its worker first thing, so that the worker's start-up (the
interpreter, the worker library, the app's modules) runs on another core while the host imports
its HTTP server; `channel.WorkerChannel` then takes the process over. Only the standard library's
lightest modules are imported here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker", "__main__.py")


@dataclass
class SpawnedWorker:
    """A worker process and the host's end of its channel, not yet spoken to."""

    process: subprocess.Popen[bytes]
    host_end: socket.socket
    root: str

    def abandon(self) -> None:
        """Stop a worker the host will not use after all."""
        self.host_end.close()
        self.process.kill()
        self.process.wait()


def spawn_worker(
    root: str, environ: Mapping[str, str], *, log_level: str = "INFO"
) -> SpawnedWorker:
    """Start the worker in the app root `root`, with `environ` (which holds the app settings)."""
    host_end, worker_end = socket.socketpair()
    env = {
        **environ,
        "AzureWebJobsScriptRoot": root,
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "PYTHONUNBUFFERED": "1",
    }
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-P",  # the script's folder is not the app's: keep it off sys.path
                WORKER_SCRIPT,
                *("--channel-fd", str(worker_end.fileno())),
                *("--worker-id", str(uuid.uuid4()), "--request-id", str(uuid.uuid4())),
                *("--log-level", log_level),
            ],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(worker_end.fileno(),),
        )
    except OSError:
        host_end.close()
        raise
    finally:
        worker_end.close()
    return SpawnedWorker(process, host_end, root)
