"""What every benchmark shares: a local stack (moto server, Wharf's
resources provisioned in it, wharf-api, workers), the peers' venv, and the
way results are written (one JSON file per benchmark in bench/results/).

Every figure is the median of RUNS runs, with min and max; each Wharf figure
is recorded beside its peer's from the same run.
"""

import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Built by `make bench` (release) or given by the smoke run (debug).
BIN = Path(os.environ.get("WHARF_BENCH_BIN", ROOT / "target" / "release"))
PROBE = Path(os.environ.get("WHARF_BENCH_PROBE", BIN / "examples" / "bench_probe"))
VENV = ROOT / ".venv-bench"
# moto with its DynamoDB calls serialized (scripts/moto_server.py): without
# it two conditional writes to one item can both succeed, which AWS never lets.
MOTO = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "moto_server.py")]
# The smoke run (CI) checks that the scripts work, with tiny sizes.
SMOKE = os.environ.get("WHARF_BENCH_SMOKE") == "1"
RUNS = 1 if SMOKE else 3
# A smoke run's results are thrown away.
RESULTS = Path("/tmp/wharf-bench-smoke") if SMOKE else ROOT / "bench" / "results"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def spread(values):
    """The median, min and max of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mib(pids):
    """The summed resident set of processes, in MiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def children(pid):
    """The direct children of a process."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def record(name, rows):
    """Writes a benchmark's rows: each a metric with Wharf's and the peer's
    spread, the unit, which way is better, and the ratio that the goal reads."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "runs": RUNS,
        "smoke": SMOKE,
        "rows": rows,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    for row in rows:
        print(json.dumps(row))


def row(metric, unit, wharf, peer_name, peer, better, goal=None, note=None):
    """One line of the table. `better` is "higher" or "lower"; the ratio is
    Wharf's median over the peer's when higher is better, else the peer's
    over Wharf's, so a ratio above 1 always means Wharf wins."""
    wharf = spread(wharf) if isinstance(wharf, list) else wharf
    peer = spread(peer) if isinstance(peer, list) else peer
    ratio = None
    if peer and wharf and peer["median"] and wharf["median"]:
        ratio = wharf["median"] / peer["median"] if better == "higher" else peer["median"] / wharf["median"]
    return {
        "metric": metric,
        "unit": unit,
        "wharf": wharf,
        "peer_name": peer_name,
        "peer": peer,
        "better": better,
        "ratio": ratio,
        "goal": goal,
        "note": note,
    }


def machine():
    cores = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        mem_kib = int(meminfo.readline().split()[1])
    return f"{cores} cores, {mem_kib / 1024 / 1024:.0f} GiB"


class Stack:
    """moto server with Wharf's resources, wharf-api and a token; workers
    and peers are started by the benchmarks. Everything stops on close."""

    def __init__(self):
        self.procs = []
        self.moto_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.moto_port}"
        self.env = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "RUST_LOG": "warn",
        }
        # moto logs a line per request: what `aws_calls` counts.
        self.moto_log = Path(f"/tmp/wharf-bench-moto-{self.moto_port}.log")
        with self.moto_log.open("w") as log:
            self.spawn([*MOTO, "-H", "127.0.0.1", "-p", str(self.moto_port)], output=log)
        wait_http(f"{self.endpoint}/moto-api/")
        subprocess.run([str(BIN / "wharf"), "admin", "provision"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        minted = subprocess.run([str(BIN / "wharf"), "admin", "token", "--scopes", "read,submit,admin"],
                                env=self.env, check=True, capture_output=True, text=True).stdout
        fields = dict(line.split(": " if ": " in line else "=", 1) for line in minted.splitlines()
                      if ": " in line or "=" in line)
        self.token = fields["token"]
        self.env["WHARF_API_TOKENS"] = fields["WHARF_API_TOKENS"]
        api_port = free_port()
        self.api = f"http://127.0.0.1:{api_port}"
        self.spawn([str(BIN / "wharf-api"), "--listen", f"127.0.0.1:{api_port}"])
        wait_http(f"{self.api}/health")

    def spawn(self, argv, env=None, output=subprocess.DEVNULL, **kwargs):
        proc = subprocess.Popen(argv, env=env or self.env, stdout=output, stderr=output, **kwargs)
        self.procs.append(proc)
        return proc

    def aws_calls(self):
        """The AWS requests moto has answered so far (its own API's aside)."""
        with self.moto_log.open() as log:
            return sum(1 for line in log if 'HTTP/1.1" ' in line and "/moto-api" not in line)

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def submit(self, command):
        return self.request("POST", "/v1/tasks", {"spec": {"process": {"command": command}}})

    def worker(self, slots, *args):
        """A wharf-worker with `slots` task slots and its local HTTP port."""
        port = free_port()
        proc = self.spawn([str(BIN / "wharf-worker"), "--concurrency", str(slots),
                           "--http-listen", f"127.0.0.1:{port}", "--poll-wait-secs", "5", *args])
        wait_http(f"http://127.0.0.1:{port}/health")
        return proc, port

    def close(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


def metrics(port):
    """A worker's Prometheus samples, `name{labels}` → value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def finished(port):
    return sum(v for k, v in metrics(port).items() if k.startswith("wharf_tasks_finished_total"))


def python():
    """The peers' Python (Celery, the AWS CLI), installed by `make bench`."""
    return str(VENV / "bin" / "python")
