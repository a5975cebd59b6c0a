#!/usr/bin/env python3
"""Output upload: one SIZE file put to the bucket as the worker puts an
output (multipart, from the file) against `aws s3 cp` (PyPI awscli) of the
same file to the same moto server, in MiB/s."""

import json
import os
import subprocess
import time

from common import PROBE, RUNS, SMOKE, VENV, Stack, record, row

SIZE = (16 if SMOKE else 1024) * 1024 * 1024


def main():
    path = f"/tmp/wharf-bench-upload-{os.getpid()}"
    with open(path, "wb") as f:
        f.truncate(SIZE)  # sparse: reading it costs no disk
    mib = SIZE / 1024 / 1024
    wharf, cli = [], []
    try:
        for _ in range(RUNS):
            with Stack() as stack:
                out = subprocess.run([str(PROBE), "upload", path], env=stack.env, check=True,
                                     capture_output=True, text=True).stdout
                wharf.append(mib / json.loads(out)["wharf"])
                bucket = stack.env.get("WHARF_BUCKET", "wharf-artifacts")
                started = time.monotonic()
                subprocess.run([str(VENV / "bin" / "aws"), "s3", "cp", "--quiet", path, f"s3://{bucket}/bench/cli"],
                               env=stack.env, check=True)
                cli.append(mib / (time.monotonic() - started))
    finally:
        os.remove(path)
    record("upload", [
        row(f"upload of a {mib:.0f} MiB output", "MiB/s", wharf, "aws s3 cp (awscli 1.46)", cli, "higher",
            goal=1.0),
    ])


if __name__ == "__main__":
    main()
