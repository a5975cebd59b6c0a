#!/usr/bin/env python3
"""wharf-api's bootstrap: the size of its Lambda artifact (the release
binary, zipped as `bootstrap.zip` the way cargo-lambda packs it) and the
time from process start to its first answer (GET /health), against a
minimal Python HTTP server (`python3 -m http.server`) on the same machine."""

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

from common import BIN, RUNS, Stack, free_port, record, row


def first_answer(argv, env, port):
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    pass
                break
            except OSError as err:
                if getattr(err, "code", None):  # answered, with an error status
                    break
                if proc.poll() is not None:
                    sys.exit(f"{argv[0]} exited before answering")
                time.sleep(0.001)
        return (time.monotonic() - started) * 1000
    finally:
        proc.terminate()
        proc.wait()


def main():
    binary = BIN / "wharf-api"
    with tempfile.TemporaryDirectory() as tmp:
        artifact = os.path.join(tmp, "bootstrap.zip")
        with zipfile.ZipFile(artifact, "w", zipfile.ZIP_DEFLATED) as zipped:
            zipped.write(binary, "bootstrap")
        size = os.path.getsize(artifact) / 1024 / 1024
    wharf, python = [], []
    with Stack() as stack:
        for _ in range(max(RUNS, 5)):
            port = free_port()
            wharf.append(first_answer([str(binary), "--listen", f"127.0.0.1:{port}"], stack.env, port))
            port = free_port()
            python.append(first_answer([sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(port)],
                                       stack.env, port))
    record("bootstrap", [
        row("wharf-api start → first answer", "ms", wharf, "python3 -m http.server", python, "lower"),
        row("wharf-api Lambda artifact (bootstrap.zip)", "MiB", [size], "—", None, "lower"),
    ])


if __name__ == "__main__":
    main()
