#!/usr/bin/env python3
"""What secrets add to an attempt's start, through a real worker (8 slots,
long polling) on moto: tasks one at a time, alternately with 5 SSM
SecureString secrets (as env, each 32 bytes, under the worker's default
/wharf/ prefix) and without any; pickup = the task's process start (it
prints it) − its record's creation, as in latency.py, so it holds the
claim, the secrets' resolution (one GetParameter each, decrypted) and their
redaction's compilation. The added time is the difference of the two
p50s. Peer for it: what a task would otherwise do itself, one
`aws ssm get-parameters --with-decryption` of the same 5 (awscli 1.46, the
peers' venv) against the same moto server, wall time (the CLI's Python
start-up included, as a task calling it pays it)."""

import json
import subprocess
import time
import urllib.request
from datetime import datetime

from common import RUNS, SMOKE, VENV, Stack, percentile, record, row

COUNT = 3 if SMOKE else 40
CLI_CALLS = 2 if SMOKE else 10
SECRETS = 5
NAMES = [f"/wharf/bench/secret-{i}" for i in range(SECRETS)]


def put_parameters(stack):
    """The secrets, as SecureStrings, through SSM's JSON API on moto."""
    for i, name in enumerate(NAMES):
        value = f"bench-secret-{i}-".ljust(32, "x")
        body = json.dumps({"Name": name, "Value": value, "Type": "SecureString",
                           "Overwrite": True}).encode()
        request = urllib.request.Request(stack.endpoint + "/", data=body, method="POST", headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonSSM.PutParameter",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20261201/us-east-1/ssm/aws4_request, "
                             "SignedHeaders=host, Signature=0"})
        with urllib.request.urlopen(request, timeout=10):
            pass


def pickup(stack, secrets):
    body = {"spec": {"process": {"command": ["date", "+%s.%N"]}}}
    if secrets:
        body["secrets"] = [{"name": f"SECRET_{i}", "valueFrom": name} for i, name in enumerate(NAMES)]
    task = stack.request("POST", "/v1/tasks", body)
    while task["status"] not in ("succeeded", "failed"):
        time.sleep(0.002)
        task = stack.request("GET", f"/v1/tasks/{task['id']}")
    assert task["status"] == "succeeded", task
    started = float(stack.request("GET", f"/v1/tasks/{task['id']}/logs")["data"])
    return (started - datetime.fromisoformat(task["createdAt"]).timestamp()) * 1000


def cli(stack):
    argv = [str(VENV / "bin" / "aws"), "ssm", "get-parameters", "--with-decryption", "--names", *NAMES]
    started = time.monotonic()
    out = subprocess.run(argv, env=stack.env, check=True, capture_output=True, text=True).stdout
    seconds = time.monotonic() - started
    assert len(json.loads(out)["Parameters"]) == SECRETS, out
    return seconds * 1000


def main():
    with_secrets, without, added, by_cli = [], [], [], []
    for _ in range(RUNS):
        with Stack() as stack:
            put_parameters(stack)
            stack.worker(8)
            time.sleep(1)
            runs = {True: [], False: []}
            for i in range(2 * COUNT):
                runs[i % 2 == 0].append(pickup(stack, i % 2 == 0))
            with_secrets.append(percentile(runs[True], 50))
            without.append(percentile(runs[False], 50))
            added.append(with_secrets[-1] - without[-1])
            by_cli.append(percentile([cli(stack) for _ in range(CLI_CALLS)], 50))
    record("secrets", [
        row(f"pickup p50 with {SECRETS} SSM secrets", "ms", with_secrets, "the same task without secrets",
            without, "lower"),
        row(f"time {SECRETS} SSM secrets add to an attempt's start (p50 difference)", "ms", added,
            f"aws ssm get-parameters of the {SECRETS} (awscli 1.46, start-up included)", by_cli, "lower"),
    ])


if __name__ == "__main__":
    main()
