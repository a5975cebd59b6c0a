#!/usr/bin/env python3
"""Secrets redactor throughput: a generated log (ASCII lines: a timestamp,
a level, a component and words; one line in 200 holds one of 10 secrets of
32 bytes) fed through the worker's redactor in 64 KiB writes, as an
attempt's log pipe feeds it (bench_probe redact: every form of every secret
looked for — raw, lines, base64 in 3 alignments, hex, URL and JSON
escaping); MiB/s, the best of PASSES passes in each run. Peers, on the same
file in the same run: GNU sed with the 10 raw values as `s/VALUE/…/g`
(LC_ALL=C, output to /dev/null) and Python's `re.sub` with an alternation
of the 10 raw values over the whole file in memory; they look for the raw
values only, as a line-based redactor does. All three must let the same
bytes through (each replaces a value by `[redacted:NAME]`)."""

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PROBE, RUNS, SMOKE, record, row, spread

MIB = 1 if SMOKE else 128
PASSES = 1 if SMOKE else 5
SECRETS = 10
SECRET_BYTES = 32
# The worker's goal, MiB/s.
GOAL = 500

WORDS = ("request handled user session cache miss hit upstream retry connect timeout queue "
         "worker job started finished failed ok status code bytes read wrote flush commit "
         "rollback table index shard replica leader follower heartbeat lease token refresh "
         "config loaded reload signal received shutting down listening on port client server "
         "payload parsed invalid field value expected got latency p99 slow query plan").split()
LEVELS = ["INFO"] * 8 + ["DEBUG"] * 3 + ["WARN", "ERROR"]
COMPONENTS = ["api", "db", "cache", "worker", "scheduler", "http", "auth", "s3"]


def secrets(rng):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return [(f"S{i}", "".join(rng.choice(alphabet) for _ in range(SECRET_BYTES))) for i in range(SECRETS)]


def log(rng, values, size):
    """About `size` bytes of log lines, as bytes."""
    bodies = []
    for _ in range(5000):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
        bodies.append(f"{rng.choice(LEVELS):5} {rng.choice(COMPONENTS)}[{rng.randint(1, 99999)}]: {words} "
                      f"id={rng.getrandbits(48):012x} took={rng.randint(0, 5000)}ms\n")
    lines, total, t = [], 0, 1796083200.0  # 2026-12-01
    while total < size:
        t += rng.random() / 50
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1000000:06d}Z "
        body = rng.choice(bodies)
        if rng.randrange(200) == 0:
            body = body[:-1] + f" auth=Bearer {rng.choice(values)}\n"
        line = stamp + body
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def sed_argv(named):
    argv = ["sed"]
    for name, value in named:
        argv += ["-e", f"s/{value}/[redacted:{name}]/g"]
    return argv


def timed(argv, stdin, stdout, env):
    with open(stdin, "rb") as source:
        started = time.monotonic()
        subprocess.run(argv, stdin=source, stdout=stdout, env=env, check=True)
        return time.monotonic() - started


def main():
    rng = random.Random(20261201)
    named = secrets(rng)
    data = log(rng, [value for _, value in named], MIB << 20)
    mib = len(data) / (1 << 20)
    work = Path(tempfile.mkdtemp(prefix="wharf-bench-redact-"))
    try:
        log_file, secrets_file, sed_out = work / "log", work / "secrets", work / "sed.out"
        log_file.write_bytes(data)
        secrets_file.write_text("".join(f"{name}={value}\n" for name, value in named))
        sed_env = {**os.environ, "LC_ALL": "C"}
        pattern = re.compile(b"|".join(re.escape(value.encode()) for _, value in named))
        by_value = {value.encode(): f"[redacted:{name}]".encode() for name, value in named}
        replace = lambda m: by_value[m.group(0)]  # noqa: E731
        expected = pattern.sub(replace, data)
        digest, count = hashlib.sha256(expected).hexdigest(), expected.count(b"[redacted:")
        assert count > 0, "the log holds no secret"
        wharf, sed, python = [], [], []
        for _ in range(RUNS):
            out = json.loads(subprocess.run([str(PROBE), "redact", str(log_file), str(secrets_file), str(PASSES)],
                                            check=True, capture_output=True, text=True).stdout)
            assert (out["sha256"], out["replaced"]) == (digest, count), (out, digest, count)
            wharf.append(max(out["mib_per_second"]))
            with open(os.devnull, "wb") as null:
                sed.append(mib / min(timed(sed_argv(named), log_file, null, sed_env) for _ in range(PASSES)))
            times = []
            for _ in range(PASSES):
                started = time.monotonic()
                pattern.sub(replace, data)
                times.append(time.monotonic() - started)
            python.append(mib / min(times))
        with open(sed_out, "wb") as out:
            timed(sed_argv(named), log_file, out, sed_env)
        assert hashlib.sha256(sed_out.read_bytes()).hexdigest() == digest, "sed let other bytes through"
    finally:
        shutil.rmtree(work)
    sed_version = subprocess.run(["sed", "--version"], capture_output=True, text=True).stdout.split()[3]
    python_version = ".".join(map(str, sys.version_info[:2]))
    median = spread(wharf)["median"]
    goal = f"goal: Wharf ≥ {GOAL} MiB/s " + ("met" if median >= GOAL else "**not met**")
    metric = f"secrets redactor, {SECRETS} secrets of {SECRET_BYTES} B, 64 KiB writes"
    record("redact", [
        row(metric, "MiB/s", wharf, f"GNU sed {sed_version}, {SECRETS} raw values as s///g", sed, "higher",
            note=goal),
        row(metric, "MiB/s", wharf, f"Python {python_version} re.sub, alternation of the {SECRETS} raw values",
            python, "higher", note=goal),
    ])


if __name__ == "__main__":
    main()
