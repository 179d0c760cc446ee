"""`GET /api/openapi.json`: the OpenAPI 3.1 description of every route."""

from __future__ import annotations

import azure.functions as func

from shared.http_api import http_endpoint, json_response
from shared.openapi import openapi_document


@http_endpoint
async def main(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(200, openapi_document())
