#!/usr/bin/env python3
"""Release lag: how long after an upstream task's process ends its
dependent's process starts, pairs one at a time on an idle host (8 slots,
long polling). Wharf: the upstream prints the time as it ends, the
dependent (`dependsOn` it) as it starts; between them the worker records
the end and announces it on the control queue, wharf-control (tick 60 s,
so the tick plays no part) releases the dependent, and a worker picks it
up. Celery: a chain of two tasks, from the first one's process ending to
the second one's starting (its worker sends the second when the first
returns)."""

import time

from celery_peer import sequential
from common import BIN, SMOKE, Stack, percentile, record, row, spread

COUNT = 5 if SMOKE else 40
STAMP = {"spec": {"process": {"command": ["date", "+%s.%N"]}}}


def finished(stack, task):
    while task["status"] in ("waiting", "queued", "running"):
        time.sleep(0.002)
        task = stack.request("GET", f"/v1/tasks/{task['id']}")
    assert task["status"] == "succeeded", task
    return float(stack.request("GET", f"/v1/tasks/{task['id']}/logs")["data"])


def wharf():
    lags = []
    with Stack() as stack:
        stack.worker(8)
        stack.spawn([str(BIN / "wharf-control"), "--tick-secs", "60"])
        time.sleep(1)
        for _ in range(COUNT):
            upstream = stack.request("POST", "/v1/tasks", STAMP)
            dependent = stack.request("POST", "/v1/tasks", {**STAMP, "dependsOn": [{"task": upstream["id"]}]})
            ended = finished(stack, upstream)
            lags.append((finished(stack, dependent) - ended) * 1000)
    return lags


def celery():
    with Stack() as stack:
        times = sequential(stack, COUNT, "chain")
    return [(second[1] - first[2]) * 1000 for first, second in zip(times[0::2], times[1::2])]


def main():
    lags, celery_lags = wharf(), celery()
    one = lambda values: spread([values])  # noqa: E731 - a single figure per run
    record("flow", [
        row("release lag p50 (upstream ends → dependent starts)", "ms", one(percentile(lags, 50)),
            "Celery 5.7 [sqs] chain", one(percentile(celery_lags, 50)), "lower",
            note="goal: p50 ≤ 1000 ms"),
        row("release lag p99", "ms", one(percentile(lags, 99)), "Celery 5.7 [sqs] chain",
            one(percentile(celery_lags, 99)), "lower"),
    ])


if __name__ == "__main__":
    main()
