#!/usr/bin/env python3
"""Latency, one task at a time on an idle host (8 slots, long polling).
Pickup: from the task's record being created (just before its message is
sent) to its process starting (the process prints the time it started);
for Celery, from apply_async to the task function starting. Submit →
done: for Wharf, POST /v1/tasks until GET shows it succeeded (polled every
2 ms); for Celery, apply_async until the task's last line ran (it records
nothing, so this is less than Wharf does)."""

import time
from datetime import datetime

from celery_peer import sequential
from common import SMOKE, Stack, percentile, record, row, spread

COUNT = 5 if SMOKE else 50


def wharf():
    pickups, round_trips = [], []
    with Stack() as stack:
        stack.worker(8)
        time.sleep(1)
        for _ in range(COUNT):
            sent = time.time()
            task = stack.request("POST", "/v1/tasks", {"spec": {"process": {"command": ["date", "+%s.%N"]}}})
            while task["status"] not in ("succeeded", "failed"):
                time.sleep(0.002)
                task = stack.request("GET", f"/v1/tasks/{task['id']}")
            round_trips.append((time.time() - sent) * 1000)
            assert task["status"] == "succeeded", task
            started = float(stack.request("GET", f"/v1/tasks/{task['id']}/logs")["data"])
            pickups.append((started - datetime.fromisoformat(task["createdAt"]).timestamp()) * 1000)
    return pickups, round_trips


def celery():
    with Stack() as stack:
        times = sequential(stack, COUNT)
    return [(s - q) * 1000 for q, s, _ in times], [(e - q) * 1000 for q, _, e in times]


def main():
    (pickups, round_trips), (celery_pickups, celery_trips) = wharf(), celery()
    one = lambda values: spread([values])  # noqa: E731 - a single figure per run
    record("latency", [
        row("pickup p50", "ms", one(percentile(pickups, 50)), "Celery 5.7 [sqs]", one(percentile(celery_pickups, 50)),
            "lower"),
        row("pickup p99", "ms", one(percentile(pickups, 99)), "Celery 5.7 [sqs]", one(percentile(celery_pickups, 99)),
            "lower"),
        row("submit → succeeded p50 (sequential)", "ms", one(percentile(round_trips, 50)),
            "Celery 5.7 [sqs], no result backend", one(percentile(celery_trips, 50)), "lower"),
    ])


if __name__ == "__main__":
    main()
