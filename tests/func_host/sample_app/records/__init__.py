"""GET lists what the functions recorded, DELETE clears it (an `Out` http binding)."""

from __future__ import annotations

import json

import azure.functions as func
import samplelib  # type: ignore[import-not-found]


def main(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    if req.method == "DELETE":
        samplelib.clear()
        res.set(func.HttpResponse(status_code=204))
        return
    res.set(func.HttpResponse(json.dumps(samplelib.recorded()), mimetype="application/json"))
