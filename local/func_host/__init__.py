"""A local Azure Functions host for classic (function.json) Python apps.

Azure Functions Core Tools cannot run on this offline machine, so this host serves the function
folders on Core Tools' URLs (`/api/<route>`, `/runtime/webhooks/EventGrid`, `/admin/...`) and
schedules timers, using `azure.functions`' own types and converters. It is generic: it knows
function.json, never the app's code. Run it with `python -m local.func_host --root <app>`.
"""

from local.func_host.discovery import check_function
from local.func_host.model import FunctionLoadError

__all__ = ["FunctionLoadError", "check_function"]
