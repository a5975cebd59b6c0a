#!/usr/bin/env python3
"""Process spawn overhead: a process task of `/bin/true` through Wharf's
process executor (attempt directory, payload, log, its own uid when run as
root) against a bare `posix_spawn` of `/bin/true`, both timed inside one
Rust process (bench_probe), each the median of SPAWNS."""

import json
import statistics
import subprocess

from common import PROBE, RUNS, SMOKE, record, row

SPAWNS = 20 if SMOKE else 200


def main():
    wharf, bare = [], []
    for _ in range(RUNS):
        out = json.loads(subprocess.run([str(PROBE), "spawn", str(SPAWNS)], check=True,
                                        capture_output=True, text=True).stdout)
        wharf.append(statistics.median(out["wharf"]) * 1000)
        bare.append(statistics.median(out["bare"]) * 1000)
    record("spawn", [
        row("process task of /bin/true", "ms", wharf, "posix_spawn of /bin/true", bare, "lower", goal=0.9),
    ])


if __name__ == "__main__":
    main()
