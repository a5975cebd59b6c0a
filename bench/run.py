#!/usr/bin/env python3
"""Runs every benchmark (or those named) and rewrites the results table in
bench/README.md and its headline in README.md from bench/results/*.json.
With WHARF_BENCH_SMOKE=1 (CI) the scripts run with tiny sizes and one run
each, and nothing is rewritten: it only proves they still work."""

import json
import subprocess
import sys
import time

from common import RESULTS, ROOT, SMOKE

BENCHMARKS = ["throughput", "latency", "memory", "spawn", "container", "upload", "bootstrap", "redact", "secrets", "flow", "arrays"]
BEGIN, END = "<!-- results: written by bench/run.py -->", "<!-- end of results -->"
HEADLINE_BEGIN, HEADLINE_END = "<!-- bench headline: written by bench/run.py -->", "<!-- end of bench headline -->"


def figure(spread, unit):
    if not spread:
        return "—"
    fmt = lambda v: f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"  # noqa: E731
    same = spread["min"] == spread["max"]
    span = "" if same else f" ({fmt(spread['min'])}–{fmt(spread['max'])})"
    return f"{fmt(spread['median'])} {unit}{span}"


def verdict(row):
    if row["ratio"] is None:
        return "—", ""
    ratio = f"{row['ratio']:.2f}×"
    goal = row["goal"]
    if goal is None:
        return ratio, ""
    return ratio, f"≥ {goal:g}× " + ("met" if row["ratio"] >= goal else "**not met**")


def table(results):
    lines = ["| benchmark | Wharf | peer | peer's figure | Wharf vs peer (> 1: Wharf better) | goal |",
             "| --- | --- | --- | --- | --- | --- |"]
    for result in results:
        for row in result["rows"]:
            ratio, goal = verdict(row)
            goal = goal or (row["note"] or "")
            lines.append(f"| {row['metric']} | {figure(row['wharf'], row['unit'])} | {row['peer_name']} | "
                         f"{figure(row['peer'], row['unit'])} | {ratio} | {goal} |")
    first = results[0]
    lines.append("")
    lines.append(f"Measured {first['date']} on {first['machine']} (median of {first['runs']} runs, min–max in "
                 "brackets), every peer in the same run as Wharf.")
    return "\n".join(lines)


def replace_between(path, begin, end, text):
    content = path.read_text()
    start, stop = content.index(begin) + len(begin), content.index(end)
    path.write_text(content[:start] + "\n" + text + "\n" + content[stop:])


def headline(results):
    rows = {row["metric"]: row for result in results for row in result["rows"]}
    pick = lambda metric: rows.get(metric)  # noqa: E731
    parts = []
    throughput = pick("no-op throughput, 8 slots")
    if throughput:
        parts.append(f"no-op throughput {throughput['wharf']['median']:.0f} tasks/s, "
                     f"{throughput['ratio']:.2f}× Celery's on the same emulator")
    memory = pick("worker RSS, idle (8 slots)")
    if memory:
        parts.append(f"worker RSS {memory['wharf']['median']:.0f} MiB idle vs Celery's "
                     f"{memory['peer']['median']:.0f} MiB")
    calls = pick("worker AWS calls per no-op task (whole run)")
    if calls:
        parts.append(f"{calls['wharf']['median']:.1f} worker AWS calls per no-op task")
    return "Benchmarks (`make bench`, [bench/README.md](bench/README.md)): " + "; ".join(parts) + "."


def main():
    names = sys.argv[1:] or BENCHMARKS
    failed = []
    for name in names:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py")]).returncode != 0:
            failed.append(name)
        print(f"   {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")
    if SMOKE:
        return
    results = [json.loads((RESULTS / f"{name}.json").read_text()) for name in BENCHMARKS
               if (RESULTS / f"{name}.json").exists()]
    replace_between(ROOT / "bench" / "README.md", BEGIN, END, table(results))
    replace_between(ROOT / "README.md", HEADLINE_BEGIN, HEADLINE_END, headline(results))


if __name__ == "__main__":
    main()
