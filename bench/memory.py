#!/usr/bin/env python3
"""Worker memory: the resident set of one worker host idle (no tasks, long
polling) and with 32 running tasks that sleep, against Celery's prefork
workers with the same number of slots (its main process and pool processes;
the tasks' own `sleep` processes are counted for neither)."""

import time

from celery_peer import Celery, pids
from common import RUNS, SMOKE, Stack, children, record, row, rss_mib

SLOTS = 8
BUSY = 4 if SMOKE else 32
SETTLE = 1 if SMOKE else 3
SLEEP = "10" if SMOKE else "30"


def wharf():
    # Each on a stack of its own: a stopped worker's pending long poll
    # would hide the next one's messages.
    with Stack() as stack:
        worker, _ = stack.worker(SLOTS)
        time.sleep(SETTLE)
        idle = rss_mib([worker.pid])
    with Stack() as stack:
        worker, _ = stack.worker(BUSY)
        for _ in range(BUSY):
            stack.submit(["sleep", SLEEP])
        wait_busy(lambda: running(stack) >= BUSY)
        time.sleep(SETTLE)
        return idle, rss_mib([worker.pid])


def running(stack):
    return len(stack.request("GET", "/v1/tasks?status=running&limit=100")["tasks"])


def wait_busy(ready, timeout=60):
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError("the tasks did not all start")
        time.sleep(0.1)


def celery():
    with Stack() as stack:
        worker = Celery(stack, f"/tmp/wharf-bench-celery-{stack.moto_port}").worker(SLOTS)
        time.sleep(SETTLE + 3)  # Celery's pool takes a few seconds to fork
        idle = rss_mib(pids(worker))
    with Stack() as stack:
        peer = Celery(stack, f"/tmp/wharf-bench-celery-{stack.moto_port}")
        worker = peer.worker(BUSY)
        peer.send(["sleep", SLEEP], BUSY)
        wait_busy(lambda: sleeping(worker) >= BUSY)
        time.sleep(SETTLE)
        return idle, rss_mib(pids(worker))


def sleeping(worker):
    """Pool processes running a `sleep` task."""
    return sum(1 for pid in pids(worker)[1:] if children(pid))


def main():
    results = {"wharf": [], "celery": []}
    for _ in range(RUNS):
        results["wharf"].append(wharf())
        results["celery"].append(celery())
    idle = lambda who: [idle for idle, _ in results[who]]  # noqa: E731
    busy = lambda who: [busy for _, busy in results[who]]  # noqa: E731
    record("memory", [
        row("worker RSS, idle (8 slots)", "MiB", idle("wharf"), "Celery 5.7 prefork 8", idle("celery"),
            "lower", note="goal: Wharf ≤ 15 MiB"),
        row(f"worker RSS, {BUSY} sleeping tasks", "MiB", busy("wharf"), f"Celery 5.7 prefork {BUSY}",
            busy("celery"), "lower", note="goal: Wharf ≤ 40 MiB"),
    ])


if __name__ == "__main__":
    main()
