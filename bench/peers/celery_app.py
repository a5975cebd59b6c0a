"""The Celery peer: the same work as Wharf's benchmark tasks, on SQS (the
same moto server), no result backend. Configured by the environment:
BENCH_SQS_PORT (moto's port) and BENCH_MARKS (a file each finished task
appends a line to: its start and end time, so no result backend is needed)."""

import os
import subprocess
import time

from celery import Celery

app = Celery("bench", broker=f"sqs://local:local@127.0.0.1:{os.environ['BENCH_SQS_PORT']}")
app.conf.update(
    broker_transport_options={
        "region": "us-east-1",
        "is_secure": False,
        # Celery's SQS docs: long polling (wait_time_seconds) and a short
        # polling_interval for low latency.
        "wait_time_seconds": 5,
        "polling_interval": 0.1,
        "visibility_timeout": 60,
    },
    task_default_queue="bench-celery",
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
)


def mark(line):
    with open(os.environ["BENCH_MARKS"], "a") as marks:
        marks.write(line + "\n")


@app.task
def run(argv, sent_at):
    """Runs a process, as a Wharf process task does, and marks when it
    started (after the message was sent at `sent_at`) and ended."""
    started = time.time()
    subprocess.run(argv, check=True)
    mark(f"{sent_at} {started} {time.time()}")
