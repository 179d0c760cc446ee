"""`make demo`: a short story against the running stack (`make run` in another terminal).

A bulk send with one invalid number, the delivery reports arriving, a handset replying STOP,
the next send to it skipped as `optedOut`, the conversation thread, and the status events of
it all as the local event destinations (the sandbox's webhook receiver and topic) got them.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

HOST = f"http://127.0.0.1:{os.environ.get('FUNCTIONS_HOST_PORT', '7071')}"
SANDBOX = f"http://127.0.0.1:{os.environ.get('ACS_SANDBOX_PORT', '7072')}"
# Fictional 555-01xx numbers, fresh each run (Azurite keeps the last run's opt-outs); 0190-0192
# are the sandbox's failing and silent simulator numbers.
PEOPLE = [f"+142555501{n:02d}" for n in random.sample(range(90), 3)]
SENDER = "+18005550100"
SETTINGS = Path(__file__).resolve().parent.parent / "local.settings.json"
EVENTS_WAIT = 20.0  # seconds; publish_events runs every 5


def say(text: str) -> None:
    print(f"\n\033[1m{text}\033[0m")


def row(*cells: object) -> None:
    print("  " + "  ".join(f"{c!s:<28}" for c in cells))


def wait_for(describe: str, check: Any, within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    sys.exit(f"demo: timed out waiting for {describe}")


def event_sinks() -> tuple[str, str | None] | None:
    """The sandbox webhook receiver (and Event Grid topic, if any) that local.settings.json
    sends status events to; None when it names no webhook receiver of the sandbox."""
    try:
        values = json.loads(SETTINGS.read_text())["Values"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    webhook: str | None = None
    topic: str | None = None
    for name in str(values.get("SMS_EVENTS_DESTINATIONS", "")).split(","):
        path = urlsplit(str(values.get(f"SMS_EVENTS_{name.strip().upper()}_URL", ""))).path
        if found := re.fullmatch(r"/sandbox/webhooks/([^/]+)", path):
            webhook = webhook or found.group(1)
        elif found := re.fullmatch(r"/eventgrid/([^/]+)/api/events", path):
            topic = topic or found.group(1)
    return (webhook, topic) if webhook else None


def history_changes(view: dict[str, Any]) -> int:
    """How many status changes a message has had: one event each."""
    statuses = [h["status"] for h in view.get("history") or []]
    return sum(1 for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1])


def show_events(
    http: httpx.Client, messages: list[dict[str, Any]], stopped: str, started: float
) -> None:
    sinks = event_sinks()
    if sinks is None:
        say("8. The story's status events")
        print(f"  {SETTINGS.name} sends no events to the sandbox's webhooks: nothing to show")
        return
    webhook, topic = sinks
    say(f"8. The story's status events, as the {webhook} webhook received them (publish_events)")
    ids = [m["id"] for m in messages]

    def story() -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
        got = http.get(f"{SANDBOX}/sandbox/webhooks/{webhook}").json()["value"]
        bodies = [json.loads(d["body"]) for d in got]
        by_message: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for body in bodies:
            message_id = body.get("data", {}).get("messageId")
            if message_id in by_message:
                by_message[message_id].append(body)
        consent = [b for b in bodies if b.get("subject") == f"consent/{stopped}"]
        return by_message, consent

    deadline = time.monotonic() + EVENTS_WAIT
    while True:
        by_message, consent = story()
        views = {i: http.get(f"{HOST}/api/sms/{i}").json() for i in ids}
        complete = consent and all(len(by_message[i]) >= history_changes(views[i]) for i in ids)
        if complete or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    if not complete:
        print(f"  not all of them within {EVENTS_WAIT:.0f} s; what had arrived:")
    for message in messages:
        events = sorted(by_message[message["id"]], key=lambda e: e["data"]["sequence"])
        print(f"  {message['to']}  (message {message['id']})")
        for event in events:
            row(f"  {event['type']}", f"#{event['data']['sequence']}", event["time"])
    print(f"  {stopped}  (their consent)")
    for event in consent:
        row(f"  {event['type']}", event["data"].get("keyword") or "", event["time"])
    if topic is not None:
        grid = http.get(f"{SANDBOX}/sandbox/eventgrid/{topic}/events").json()["value"]
        mine = [g for g in grid if g["event"].get("data", {}).get("messageId") in by_message]
        print(f"  the Event Grid topic {topic!r} got {len(mine)} of them (message events only)")

    after = f"{int(started * 1000):013d}{0:06d}"  # a cursor: the log from the story's start
    say("9. Replaying the event log from the story's start: GET /api/events?after=…&limit=5")
    replay = http.get(f"{HOST}/api/events", params={"after": after, "limit": "5"}).json()
    for item in replay["value"]:
        row(item["cursor"], item["event"]["type"], item["event"]["subject"])
    print(f"  next: {replay['next']} (ask from there for more; more: {replay['more']})")


def main() -> None:
    with httpx.Client(timeout=30) as http:
        try:
            status = http.get(f"{HOST}/admin/host/status").json()
        except httpx.HTTPError:
            sys.exit(f"demo: nothing answers at {HOST}; start the app first with `make run`")
        print(f"host {status['state']}: {', '.join(status['functions'])}")
        started = time.time()

        say("1. A bulk send: three people and one number that is not a number")
        answer = http.post(
            f"{HOST}/api/sms",
            json={
                "to": [*PEOPLE, "555-CALL-NOW"],
                "message": "Your table is ready at 7pm.",
                "tag": "demo",
            },
        ).json()
        print(f"  batch {answer['batchId']}: {answer['encoding']}, {answer['segments']} segment(s)")
        for result in answer["results"]:
            row(result["to"], result["status"], result.get("error", {}).get("message", ""))
        sent = [r for r in answer["results"] if r["status"] == "accepted"]
        story = [r for r in answer["results"] if "id" in r]

        say("2. Delivery reports arrive through Event Grid (the sandbox) into on_delivery_report")

        def all_final() -> list[dict[str, Any]] | None:
            views = [http.get(f"{HOST}/api/sms/{r['id']}").json() for r in sent]
            return views if all(v["status"] in ("delivered", "failed") for v in views) else None

        for view in wait_for("delivery reports", all_final):
            row(view["to"], view["status"], f"{view['deliveryMs']} ms after sending")

        say(f"3. {PEOPLE[0]} replies STOP from their phone")
        http.post(
            f"{SANDBOX}/sandbox/inbound", json={"from": PEOPLE[0], "to": SENDER, "message": "STOP"}
        ).raise_for_status()
        wait_for(
            "the opt-out",
            lambda: http.get(f"{HOST}/api/optouts/{PEOPLE[0]}").json()["optedOut"],
        )
        print("  opted out of every sender of the pool (the carrier already confirmed it)")

        say("4. The next send to them is skipped, the others go out")
        answer = http.post(
            f"{HOST}/api/sms", json={"to": PEOPLE, "message": "Dessert is on us tonight!"}
        ).json()
        for result in answer["results"]:
            row(result["to"], result["status"])
        story += [r for r in answer["results"] if "id" in r]

        say(f"5. The conversation with {PEOPLE[0]}, newest first")
        thread = http.get(f"{HOST}/api/conversations/{PEOPLE[0]}").json()
        for message in thread["messages"]:
            arrow = "<-" if message["direction"] == "inbound" else "->"
            row(message["at"], f"{arrow} {message['text']}", message.get("status") or "")

        say("6. What each handset received (the sandbox's view)")
        for person in PEOPLE:
            got = http.get(f"{SANDBOX}/sandbox/messages", params={"to": person}).json()["value"]
            row(person, f"{len(got)} message(s)")

        say("7. How messaging is used")
        totals = http.get(f"{HOST}/api/analytics").json()["totals"]
        row("sent", totals["sent"])
        row("delivered", totals["delivered"])
        row("opted out", totals["optOuts"])
        show_events(http, story, PEOPLE[0], started)
        print(f"\n  Open the dashboard: {HOST}/api/dashboard\n")


if __name__ == "__main__":
    main()
