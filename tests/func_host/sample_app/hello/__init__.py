"""Reads app settings and a helper from `samplelib`; `who` is an optional route parameter."""

from __future__ import annotations

import json
import os

import azure.functions as func
from samplelib import greeting  # type: ignore[import-not-found]


def main(req: func.HttpRequest) -> func.HttpResponse:
    who = req.route_params.get("who", "world")
    payload = {
        "greeting": greeting(who),
        "override": os.environ.get("SAMPLE_OVERRIDE"),
        "route_params": dict(req.route_params),
        "cwd": os.getcwd(),
    }
    return func.HttpResponse(json.dumps(payload), mimetype="application/json")
