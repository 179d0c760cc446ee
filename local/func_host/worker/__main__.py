"""Entry point of the worker process, started by the host as a script:
`python -P <this file> --channel-fd N --worker-id ID --request-id ID`, in the app root.

The host's own package is put on `sys.path` just long enough to import the proxy, so the app
sees the `sys.path` it has on Azure: the installed packages and its own root, nothing else.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    code_root = str(Path(__file__).resolve().parents[3])
    sys.path.insert(0, code_root)
    from local.func_host.worker.proxy import main

    sys.path.remove(code_root)
    sys.exit(main())
