#!/usr/bin/env python3
"""Arrays: one submission of a 10,000-child array on moto. How long the
submit takes to answer (goal ≤ 1 s: the parent is recorded and the control
plane told, nothing more), how long until wharf-control has made every
child and sent its message, and the AWS calls that takes per child (moto's
request log, from the submit to the last child made; no worker runs, so
this is the making alone). Peer: Celery's fan-out of as many tasks, a group
sent by its client (`apply_async` of each), on the same moto."""

import os
import time

from celery_peer import Celery
from common import BIN, RUNS, SMOKE, Stack, record, row

# WHARF_BENCH_ARRAY_SIZE for another size: moto's SendMessage goes over
# every message of the queue, so on moto the making (Wharf's and Celery's
# sending alike) slows as the queue fills (bench/README.md).
SIZE = int(os.environ.get("WHARF_BENCH_ARRAY_SIZE", 500 if SMOKE else 10_000))
TASK = {"spec": {"process": {"command": ["true"]}}, "array": {"size": SIZE}}


def wharf():
    with Stack() as stack:
        log = stack.moto_log.with_suffix(".control.log")
        with log.open("w") as out:
            stack.spawn([str(BIN / "wharf-control"), "--tick-secs", "60"],
                        env={**stack.env, "RUST_LOG": "info"}, output=out)
        time.sleep(2)  # its first tick
        before = stack.aws_calls()
        started = time.monotonic()
        stack.request("POST", "/v1/tasks", TASK)
        answered = time.monotonic() - started
        # Watched in the control's log, so that no AWS call is the benchmark's.
        while "every child of the array is made" not in log.read_text():
            time.sleep(0.01)
        made = time.monotonic() - started
        return answered * 1000, made, (stack.aws_calls() - before) / SIZE


def celery():
    with Stack() as stack:
        peer = Celery(stack, f"/tmp/wharf-bench-celery-array-{stack.moto_port}")
        started = time.monotonic()
        peer.send(["true"], SIZE)
        return time.monotonic() - started


def main():
    answers, makes, calls, sends = [], [], [], []
    for _ in range(RUNS):
        answered, made, per_child = wharf()
        answers.append(answered)
        makes.append(made)
        calls.append(per_child)
        sends.append(celery())
    record("arrays", [
        row(f"array of {SIZE}: submit answered", "ms", answers, "the goal", {"median": 1000, "min": 1000,
            "max": 1000}, "lower", note="goal: ≤ 1000 ms"),
        row(f"array of {SIZE}: every child made and enqueued", "s", makes,
            f"Celery 5.7 [sqs] client sending {SIZE} tasks", sends, "lower"),
        row("AWS calls per child made", "calls", calls, "the design", {"median": 1.11, "min": 1.11, "max": 1.11},
            "lower", note="a conditional put per child, a message batch per 10, a parent write per 100"),
    ])


if __name__ == "__main__":
    main()
