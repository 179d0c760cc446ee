"""`make demo`: a short story against the running stack (`make run` in another terminal).

A bulk send with one invalid number, the delivery reports arriving, a handset replying STOP,
the next send to it skipped as `optedOut`, and the conversation thread.
"""

from __future__ import annotations

import os
import random
import sys
import time
from typing import Any

import httpx

HOST = f"http://127.0.0.1:{os.environ.get('FUNCTIONS_HOST_PORT', '7071')}"
SANDBOX = f"http://127.0.0.1:{os.environ.get('ACS_SANDBOX_PORT', '7072')}"
# Fictional 555-01xx numbers, fresh each run (Azurite keeps the last run's opt-outs); 0190-0192
# are the sandbox's failing and silent simulator numbers.
PEOPLE = [f"+142555501{n:02d}" for n in random.sample(range(90), 3)]
SENDER = "+18005550100"


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


def main() -> None:
    with httpx.Client(timeout=30) as http:
        try:
            status = http.get(f"{HOST}/admin/host/status").json()
        except httpx.HTTPError:
            sys.exit(f"demo: nothing answers at {HOST}; start the app first with `make run`")
        print(f"host {status['state']}: {', '.join(status['functions'])}")

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
        print(f"\n  Open the dashboard: {HOST}/api/dashboard\n")


if __name__ == "__main__":
    main()
