"""Celery `[sqs]`, the peer most Wharf users would pick instead, on the same
moto server: sending it tasks and starting its prefork workers."""

import json
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, children, python

PEERS = ROOT / "bench" / "peers"

SEND = """
import json, sys, time
from celery_app import run
argv = json.loads(sys.argv[1])
for _ in range(int(sys.argv[2])):
    run.apply_async((argv, time.time()))
"""


class Celery:
    """Celery on the stack's moto server; its tasks mark `marks`."""

    def __init__(self, stack, marks):
        self.stack = stack
        self.marks = Path(marks)
        self.marks.write_text("")
        self.env = {**stack.env, "BENCH_SQS_PORT": str(stack.moto_port), "BENCH_MARKS": str(self.marks),
                    "PYTHONPATH": str(PEERS)}

    def send(self, argv, count):
        """Enqueues `count` tasks running `argv`."""
        subprocess.run([python(), "-c", SEND, json.dumps(argv), str(count)], env=self.env, check=True)

    def worker(self, concurrency):
        """A prefork worker with `concurrency` processes."""
        return self.stack.spawn([python(), "-m", "celery", "-A", "celery_app", "worker", "-P", "prefork",
                                 "-c", str(concurrency), "--without-heartbeat", "--without-gossip",
                                 "--without-mingle", "-l", "WARNING"], env=self.env, cwd=PEERS)

    def done(self):
        """Each finished task's (sent, started, ended) times."""
        lines = [line.split() for line in self.marks.read_text().splitlines() if line]
        return [tuple(float(x) for x in line) for line in lines]

    def wait(self, count, timeout):
        deadline = time.monotonic() + timeout
        while len(self.done()) < count:
            if time.monotonic() > deadline:
                sys.exit(f"Celery finished {len(self.done())} of {count} tasks within {timeout} s")
            time.sleep(0.05)
        return self.done()


def sequential(stack, count, *mode):
    """peers/celery_latency.py on a prefork worker of 8: `count` sends one
    at a time, each task's (sent, started, ended) times."""
    peer = Celery(stack, f"/tmp/wharf-bench-celery-{stack.moto_port}")
    peer.worker(8)
    time.sleep(4)  # its pool forks
    out = subprocess.run([python(), str(PEERS / "celery_latency.py"), str(count), *mode], env=peer.env,
                         cwd=PEERS, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def pids(worker):
    """Celery's main process and its pool processes."""
    return [worker.pid, *children(worker.pid)]
