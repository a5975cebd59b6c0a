#!/usr/bin/env python3
"""No-op throughput. TASKS tasks that spawn `true` are queued before the
worker starts; one host with 8 slots drains them. Wharf's worker, Celery
prefork 8 and the bare SDK loop (the ceiling: only the calls a task needs,
no worker around them) each get a fresh moto server. The rate counts from
the 10th finished task to the last, so start-up is left out alike; Wharf's
worker-side AWS calls per task are read from its /metrics."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from celery_peer import Celery
from common import PROBE, RUNS, SMOKE, Stack, finished, metrics, record, row, spread

TASKS = 40 if SMOKE else 300
SLOTS = 8
SKIP = 10


def rate(end_times):
    ends = sorted(end_times)[SKIP - 1:]
    return (len(ends) - 1) / (ends[-1] - ends[0])


def queue_wharf_tasks(stack):
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: stack.submit(["true"])["id"], range(TASKS)))


def wait_finished(port, count, timeout=300):
    deadline = time.monotonic() + timeout
    while finished(port) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker finished {finished(port)} of {count} tasks")
        time.sleep(0.05)


def wharf():
    with Stack() as stack:
        queue_wharf_tasks(stack)
        _, port = stack.worker(SLOTS)
        wait_finished(port, TASKS)
        calls = sum(v for k, v in metrics(port).items() if k.startswith("wharf_aws_calls_total"))
        tasks = stack.request("GET", "/v1/tasks?limit=1000")["tasks"]
        assert all(task["status"] == "succeeded" for task in tasks), "a no-op task did not succeed"
        ends = [datetime.fromisoformat(task["finishedAt"]).timestamp() for task in tasks]
        return rate(ends), calls / TASKS


def celery():
    with Stack() as stack:
        peer = Celery(stack, f"/tmp/wharf-bench-celery-{stack.moto_port}")
        peer.send(["true"], TASKS)
        peer.worker(SLOTS)
        return rate([end for _, _, end in peer.wait(TASKS, 300)])


def ceiling():
    import json
    import subprocess

    with Stack() as stack:
        queue_wharf_tasks(stack)
        out = subprocess.run([str(PROBE), "ceiling", str(TASKS), str(SLOTS)], env=stack.env,
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["tasks_per_second"]


def main():
    wharf_rates, calls, celery_rates, ceilings = [], [], [], []
    for _ in range(RUNS):
        rate_, per_task = wharf()
        wharf_rates.append(rate_)
        calls.append(per_task)
        celery_rates.append(celery())
        ceilings.append(ceiling())
    record("throughput", [
        row("no-op throughput, 8 slots", "tasks/s", wharf_rates, "Celery 5.7 [sqs] prefork 8", celery_rates,
            "higher", goal=2.0),
        row("no-op throughput vs the bare SDK loop", "tasks/s", wharf_rates, "bare SDK loop (ceiling)", ceilings,
            "higher", goal=0.9),
        row("worker AWS calls per no-op task (whole run)", "calls", calls, "the goal", spread([3.0]), "lower",
            goal=1.0),
    ])


if __name__ == "__main__":
    main()
