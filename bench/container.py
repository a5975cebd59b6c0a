#!/usr/bin/env python3
"""Container task overhead: a container task running `true` through Wharf's
container executor (bollard: create, start, wait, remove) against
`docker run --rm` of the same local image, each the median of COUNT."""

import json
import statistics
import subprocess
import sys
import time

from common import PROBE, RUNS, SMOKE, record, row

IMAGE = "wharf-test-busybox:latest"
COUNT = 2 if SMOKE else 10


def docker_run():
    started = time.monotonic()
    subprocess.run(["docker", "run", "--rm", IMAGE, "true"], check=True)
    return time.monotonic() - started


def main():
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        sys.exit(f"container.py: no {IMAGE} (make test-images builds it; it needs a Docker engine)")
    wharf, docker = [], []
    for _ in range(RUNS):
        out = json.loads(subprocess.run([str(PROBE), "container", IMAGE, str(COUNT)], check=True,
                                        capture_output=True, text=True).stdout)
        wharf.append(statistics.median(out["wharf"]) * 1000)
        docker.append(statistics.median([docker_run() for _ in range(COUNT)]) * 1000)
    record("container", [
        row("container task of `true`", "ms", wharf, "docker run --rm", docker, "lower", goal=1.25),
    ])


if __name__ == "__main__":
    main()
