"""The event sink: an Event Grid custom topic and webhook receivers, over real HTTP.

The app's event publisher is tested against them as it will meet the real things: the topic
takes `POST /eventgrid/{topic}/api/events` as `EventGridPublisherClient` sends it (CloudEvents
1.0 batches, `aeg-sas-key` or a bearer token), and a receiver at `/sandbox/webhooks/{name}` plays
a customer's system, checking Standard Webhooks signatures itself. Both record what arrived and
take faults, so retries and outages can be rehearsed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NoReturn

from aiohttp import web

from .responses import control_error, error_body, plain_json
from .sink_checks import cloud_event_problems, verify_standard_webhook, webhook_secret_key
from .sink_state import (
    Answered,
    PublishAttempt,
    ReceivedEvent,
    SinkFault,
    SinkFaults,
    WebhookAttempt,
)
from .sms_api import LOG_DETAIL
from .state import SANDBOX

# Event Grid's limit for one publish (the whole batch), 1 MB.
MAX_PUBLISH_BYTES = 1_048_576
# The SDK sends `application/cloudevents-batch+json; charset=utf-8`; plain JSON is let through.
_BATCH_TYPES = ("application/cloudevents-batch+json", "application/json")


def _drop(request: web.Request) -> NoReturn:
    """Closes the connection without an answer, as the sandbox's `drop-response` fault does."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    """`{"error": {"code", "message"}}`, the shape Event Grid answers errors with."""
    if code is None:
        try:
            code = HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
        except ValueError:
            code = "Error"
    return plain_json(error_body(code, message), status)


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read())
    except ValueError:
        return None


def _topic_auth(request: web.Request, key: str) -> tuple[str | None, str]:
    """(`"key"` or `"bearer"`, "") for an accepted publish, else (None, why)."""
    given = request.headers.get("aeg-sas-key")
    if given is not None:
        if hmac.compare_digest(given.encode(), key.encode()):
            return "key", ""
        return None, "The key in the request (aeg-sas-key) is incorrect."
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "bearer", ""  # stands in for a managed identity's token: not checked
    return None, "The request did not include an aeg-sas-key header or a bearer token."


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit` bytes (the rest is never buffered)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _accept_batch(
    request: web.Request, topic_name: str
) -> tuple[web.Response, list[dict[str, Any]]]:
    """Checks one publish after authentication: the answer and the events to keep (none unless
    every event is valid)."""
    if not request.query.get("api-version"):
        return _error(400, "The api-version query parameter is required.", "BadRequest"), []
    body = await _read_limited(request, MAX_PUBLISH_BYTES)
    if body is None:
        message = f"The request is larger than {MAX_PUBLISH_BYTES} bytes."
        return _error(413, message, "RequestEntityTooLarge"), []
    if request.content_type not in _BATCH_TYPES:
        message = (
            f"Content-Type {request.content_type!r} is not supported; topic {topic_name} "
            "takes CloudEvents batches (application/cloudevents-batch+json)."
        )
        return _error(400, message, "BadRequest"), []
    try:
        batch = json.loads(body)
    except ValueError as exc:
        return _error(400, f"The body is not valid JSON: {exc}.", "BadRequest"), []
    if not isinstance(batch, list):
        return _error(400, "The body must be a JSON array of CloudEvents.", "BadRequest"), []
    if not batch:
        return _error(400, "The array of CloudEvents is empty.", "BadRequest"), []
    problems = [
        f"event {index}: {problem}"
        for index, event in enumerate(batch)
        for problem in cloud_event_problems(event)
    ]
    if problems:
        response = plain_json(
            {
                "error": {
                    "code": "BadRequest",
                    "message": f"Invalid CloudEvent: {problems[0]}.",
                    "details": [{"code": "InvalidEvent", "message": p} for p in problems],
                }
            },
            400,
        )
        return response, []
    return web.Response(status=200), batch


async def publish(request: web.Request) -> web.StreamResponse:
    """`POST /eventgrid/{topic}/api/events?api-version=…`: 200 with an empty body when kept."""
    sink = request.app[SANDBOX].sink
    name = request.match_info["topic"]
    topic = sink.topic(name)
    received = datetime.now(UTC)
    fault = topic.faults.take()
    if fault is not None and fault.drop:
        topic.attempts.append(PublishAttempt(received, None, "dropped", 0))
        _drop(request)
    auth, why = _topic_auth(request, sink.topic_key())
    events: list[dict[str, Any]] = []
    if fault is not None and fault.status is not None:
        # The service failed before looking at the request: nothing is kept.
        response = _error(fault.status, f"Injected fault for topic {name}.")
    elif auth is None:
        response = _error(401, f"Unauthorized for topic {name}. {why}", "Unauthorized")
    else:
        response, events = await _accept_batch(request, name)
    topic.attempts.append(PublishAttempt(received, auth, response.status, len(events)))
    topic.events.extend(ReceivedEvent(received, auth or "", e) for e in events)
    request[LOG_DETAIL] = f"topic={name} events={len(events)} auth={auth or 'none'}"
    if fault is not None and fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)
    return response


async def list_topic_events(request: web.Request) -> web.Response:
    """Events kept, in order, and every publish attempt (`answered`: a status or "dropped")."""
    topic = request.app[SANDBOX].sink.topics.get(request.match_info["topic"])
    if topic is None:
        return plain_json({"value": [], "attempts": []})
    return plain_json(
        {
            "value": [e.to_json() for e in topic.events],
            "attempts": [a.to_json() for a in topic.attempts],
        }
    )


async def clear_topic_events(request: web.Request) -> web.Response:
    topic = request.app[SANDBOX].sink.topics.get(request.match_info["topic"])
    if topic is not None:
        topic.events.clear()
        topic.attempts.clear()
    return web.Response(status=204)


def _faults_of(request: web.Request) -> SinkFaults:
    sink = request.app[SANDBOX].sink
    if "topic" in request.match_info:
        return sink.topic(request.match_info["topic"]).faults
    return sink.webhook(request.match_info["name"]).faults


async def list_faults(request: web.Request) -> web.Response:
    return plain_json({"value": _faults_of(request).to_json()})


async def add_fault(request: web.Request) -> web.Response:
    try:
        fault = SinkFault.from_json(await _json_body(request))
    except ValueError as exc:
        return control_error(str(exc))
    faults = _faults_of(request)
    faults.add(fault)
    return plain_json({"value": faults.to_json()}, status=201)


async def clear_faults(request: web.Request) -> web.Response:
    _faults_of(request).clear()
    return web.Response(status=204)


def _lower_headers(request: web.Request) -> dict[str, str]:
    """Every header by its lower-case name; repeated ones joined with ", " (RFC 9110 §5.3)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


async def deliver(request: web.Request) -> web.StreamResponse:
    """`POST /sandbox/webhooks/{name}`: a customer's endpoint; 204 unless a fault or a bad
    signature (when the receiver has a secret) says otherwise."""
    inbox = request.app[SANDBOX].sink.webhook(request.match_info["name"])
    received = datetime.now(UTC)
    body = await request.read()
    headers = _lower_headers(request)
    verified: bool | None = None
    why: str | None = None
    if inbox.secret is not None:
        why = verify_standard_webhook(inbox.secret, headers, body, received)
        verified = why is None
    fault = inbox.faults.take()
    response: web.Response | None = None  # None: the connection is dropped
    if fault is not None and fault.drop:
        pass
    elif fault is not None and fault.status is not None:
        response = _error(fault.status, "Injected fault.")
    elif verified is False:
        response = _error(401, f"Signature rejected: {why}.", "InvalidSignature")
    else:
        response = web.Response(status=204)
    answered: Answered = "dropped" if response is None else response.status
    delay = fault.delay_ms if fault is not None else 0.0
    text = body.decode("utf-8", errors="replace")
    inbox.attempts.append(WebhookAttempt(received, headers, text, answered, verified, why, delay))
    request[LOG_DETAIL] = f"verified={'-' if verified is None else str(verified).lower()}"
    if response is None:
        _drop(request)
    if delay:
        await asyncio.sleep(delay / 1000)
    return response


async def list_deliveries(request: web.Request) -> web.Response:
    """Accepted deliveries in `value` and the others in `rejected`; `?all=true` gives every
    attempt in `value`, in order, each with what it was `answered`."""
    inbox = request.app[SANDBOX].sink.webhooks.get(request.match_info["name"])
    attempts = inbox.attempts if inbox is not None else []
    if request.query.get("all", "").lower() in ("true", "1", "yes"):
        return plain_json({"value": [a.to_json(full=True) for a in attempts]})
    return plain_json(
        {
            "value": [a.to_json(full=False) for a in attempts if a.accepted],
            "rejected": [a.to_json(full=True) for a in attempts if not a.accepted],
        }
    )


async def clear_deliveries(request: web.Request) -> web.Response:
    inbox = request.app[SANDBOX].sink.webhooks.get(request.match_info["name"])
    if inbox is not None:
        inbox.attempts.clear()
    return web.Response(status=204)


async def set_secret(request: web.Request) -> web.Response:
    """`{"secret": "whsec_<base64>"}`: from now on the receiver checks signatures itself."""
    data = await _json_body(request)
    secret = data.get("secret") if isinstance(data, dict) else None
    if not isinstance(secret, str):
        return control_error('Body must be {"secret": "whsec_<base64>"}.')
    try:
        key = webhook_secret_key(secret)
    except ValueError as exc:
        return control_error(str(exc))
    request.app[SANDBOX].sink.webhook(request.match_info["name"]).secret = key
    return web.Response(status=204)


async def clear_secret(request: web.Request) -> web.Response:
    inbox = request.app[SANDBOX].sink.webhooks.get(request.match_info["name"])
    if inbox is not None:
        inbox.secret = None
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/eventgrid/{topic}/api/events", publish)
    router.add_get("/sandbox/eventgrid/{topic}/events", list_topic_events)
    router.add_delete("/sandbox/eventgrid/{topic}/events", clear_topic_events)
    for base in ("/sandbox/eventgrid/{topic}", "/sandbox/webhooks/{name}"):
        router.add_get(f"{base}/faults", list_faults)
        router.add_post(f"{base}/faults", add_fault)
        router.add_delete(f"{base}/faults", clear_faults)
    router.add_post("/sandbox/webhooks/{name}", deliver)
    router.add_get("/sandbox/webhooks/{name}", list_deliveries)
    router.add_delete("/sandbox/webhooks/{name}", clear_deliveries)
    router.add_post("/sandbox/webhooks/{name}/secret", set_secret)
    router.add_delete("/sandbox/webhooks/{name}/secret", clear_secret)
