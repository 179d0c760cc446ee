"""The OpenAPI document: valid OpenAPI 3.1, naming every route the function folders serve, and
describing what the app really answers (real answers checked against it)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

import analytics
import conversations
import openapi
import optouts
import send_sms
import sms_batches
import verifications
from shared.openapi import openapi_document
from tests.helpers import http_request, response_json

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = openapi_document()


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(DOCUMENT)  # raises on any error
    assert DOCUMENT["openapi"] == "3.1.0"


def _routes() -> set[tuple[str, str]]:
    """(method, path) of every HTTP function, from the function.json files, optional route
    parameters expanded the way the host matches them."""
    found: set[tuple[str, str]] = set()
    for spec in ROOT.glob("*/function.json"):
        for binding in json.loads(spec.read_text())["bindings"]:
            if binding.get("type") != "httpTrigger":
                continue
            route = "/" + binding["route"]
            optional = re.findall(r"/\{(\w+)\?\}", route)
            variants = [route]
            for name in optional:
                variants = [v.replace(f"/{{{name}?}}", "") for v in variants] + [
                    v.replace(f"{{{name}?}}", f"{{{name}}}") for v in variants
                ]
            for method in binding["methods"]:
                found |= {(method, v) for v in variants}
    return found


def test_every_route_and_method_is_described() -> None:
    described = {(m, p) for p, ops in DOCUMENT["paths"].items() for m in ops if m != "parameters"}
    # optouts/{phone}/{view?}: the only view is history, read-only.
    served = {
        (m, p.replace("{view}", "history"))
        for m, p in _routes()
        if not (p.endswith("{view}") and m != "get")
    }
    # sms/{id?}: POST only without an id, GET and DELETE only with one.
    served -= {("get", "/sms"), ("delete", "/sms"), ("post", "/sms/{id}")}
    # verifications/{id?}/{action?}: POST to start, GET one; the actions are check and resend.
    served = {
        (m, p)
        for m, p in served
        if not p.startswith("/verifications")
        or (m, p) in {("post", "/verifications"), ("get", "/verifications/{id}")}
    } | {("post", "/verifications/{id}/check"), ("post", "/verifications/{id}/resend")}
    # events/{view?}/{action?}: the replay, two listings and the redrive.
    served = {(m, p) for m, p in served if not p.startswith("/events")} | {
        ("get", "/events"),
        ("get", "/events/destinations"),
        ("get", "/events/deadletters"),
        ("post", "/events/deadletters/redrive"),
    }
    assert served == described


def _check(path: str, method: str, status: int, body: Any) -> None:
    answer = DOCUMENT["paths"][path][method]["responses"][str(status)]
    schema = answer["content"]["application/json"]["schema"]
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


@pytest.mark.usefixtures("app_env")
async def test_real_answers_match_the_document(sandbox_url: str) -> None:
    async def call(module: Any, method: str, route: str, **kwargs: Any) -> tuple[int, Any]:
        response = await module.main(http_request(method, route, **kwargs))
        return response.status_code, response_json(response)

    status, sent = await call(
        send_sms, "POST", "sms", body={"to": ["+14255550170", "nope"], "message": "hi", "tag": "t"}
    )
    _check("/sms", "post", status, sent)
    _check("/sms", "post", *await call(send_sms, "POST", "sms", body={"to": "+1", "message": ""}))
    mid = sent["results"][0]["id"]
    _check("/sms/{id}", "get", *await call(send_sms, "GET", f"sms/{mid}", route_params={"id": mid}))
    _check(
        "/sms/{id}",
        "delete",
        *await call(send_sms, "DELETE", f"sms/{mid}", route_params={"id": mid}),
    )
    batch = {"batchId": sent["batchId"]}
    _check(
        "/sms/batches/{batchId}",
        "get",
        *await call(sms_batches, "GET", "sms/batches", route_params=batch),
    )
    phone = {"phone": "+14255550170"}
    _check("/optouts/{phone}", "put", *await call(optouts, "PUT", "optouts", route_params=phone))
    history = {**phone, "view": "history"}
    _check(
        "/optouts/{phone}/history",
        "get",
        *await call(optouts, "GET", "optouts", route_params=history),
    )
    _check(
        "/conversations/{phone}",
        "get",
        *await call(conversations, "GET", "conversations", route_params=phone),
    )
    _check("/analytics", "get", *await call(analytics, "GET", "analytics"))
    _check("/analytics", "get", *await call(analytics, "GET", "analytics", params={"top": "x"}))
    status, started = await call(
        verifications, "POST", "verifications", body={"to": "+14255550171", "domain": "x.com"}
    )
    _check("/verifications", "post", status, started)
    _check("/verifications", "post", *await call(verifications, "POST", "verifications", body={}))
    vid = {"id": started["id"]}
    _check(
        "/verifications/{id}",
        "get",
        *await call(verifications, "GET", "verifications", route_params=vid),
    )
    for action, body in (("check", {"code": "000000"}), ("resend", None)):
        _check(
            f"/verifications/{{id}}/{action}",
            "post",
            *await call(
                verifications,
                "POST",
                "verifications",
                body=body,
                route_params={**vid, "action": action},
            ),
        )
    status, document = await call(openapi, "GET", "openapi.json")
    assert status == 200 and document == DOCUMENT
