"""Sends COUNT Celery tasks one at a time, each once the one before has
finished, and prints each one's (sent, started, ended) times as JSON."""

import json
import os
import sys
import time

from celery_app import run

count = int(sys.argv[1])
marks = os.environ["BENCH_MARKS"]


def finished():
    with open(marks) as f:
        return sum(1 for _ in f)


for i in range(count):
    run.apply_async((["true"], time.time()))
    while finished() <= i:
        time.sleep(0.001)
with open(marks) as f:
    print(json.dumps([[float(x) for x in line.split()] for line in f]))
