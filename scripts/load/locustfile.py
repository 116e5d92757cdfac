"""Locust users for scripts/load_test.py: each asks the seeds' gold questions over POST /v1/ask, one after another,
and, told 503, waits the Retry-After the server gave before asking again (as a polite client does). Every reply's
status and time are written to $LOAD_RESULTS when locust quits."""

from __future__ import annotations

import json
import os
import random
import time

from locust import HttpUser, between, events, task

QUESTIONS = json.loads(os.environ.get("LOAD_QUESTIONS", '["沁水县2024年处罚金额多少？"]'))
SEEN: list[tuple[int, float]] = []  # (status, milliseconds), every reply


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    SEEN.append((getattr(response, "status_code", 0) or 0, response_time))


@events.quitting.add_listener
def _write(environment, **kwargs):
    with open(os.environ["LOAD_RESULTS"], "w", encoding="utf-8") as f:
        json.dump(SEEN, f)


class Asker(HttpUser):
    wait_time = between(0.1, 0.5)

    @task
    def ask(self) -> None:
        with self.client.post("/v1/ask", json={"question": random.choice(QUESTIONS)}, name="/v1/ask",
                              catch_response=True, timeout=300) as reply:
            if reply.status_code == 503:  # told to come back: not an error of the server's
                reply.success()
                time.sleep(float(reply.headers.get("Retry-After", "1")))
            elif reply.status_code != 200 or not reply.json().get("answer") and reply.json().get("answered"):
                reply.failure(f"status {reply.status_code}")
