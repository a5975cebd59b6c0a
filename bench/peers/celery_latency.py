"""Sends COUNT Celery tasks (or, with `chain`, chains of two tasks) one at
a time, each once the one before has finished, and prints each task's
(sent, started, ended) times as JSON, in the order they finished: the two
tasks of a chain follow each other."""

import json
import os
import sys
import time

from celery import chain

from celery_app import run

count = int(sys.argv[1])
chained = sys.argv[2:] == ["chain"]
marks = os.environ["BENCH_MARKS"]
per_send = 2 if chained else 1


def finished():
    with open(marks) as f:
        return sum(1 for _ in f)


for i in range(count):
    if chained:
        chain(run.si(["true"], time.time()), run.si(["true"], 0.0)).apply_async()
    else:
        run.apply_async((["true"], time.time()))
    while finished() < per_send * (i + 1):
        time.sleep(0.001)
with open(marks) as f:
    print(json.dumps([[float(x) for x in line.split()] for line in f]))
