"""A local Azure Functions host for classic (function.json) Python apps.

Azure Functions Core Tools cannot run on this offline machine, so this host serves the function
folders on Core Tools' URLs (`/api/<route>`, `/runtime/webhooks/EventGrid`, `/admin/...`) and
schedules timers, while loading and invoking the functions is left to Microsoft's own worker
library (`azure-functions-runtime-v1`) in a worker process of its own, as on Azure. It is
generic: it knows function.json, never the app's code. Run it with
`python -m local.func_host --root <app>`; `host.load_app` loads an app without serving it.
"""
