#!/usr/bin/env bash
# make demo: the whole of Wharf on this machine. Starts moto server, provisions
# the resources, starts wharf-api and one wharf-worker, submits the samples,
# waits for each, prints its outcome and a presigned URL, downloads one output
# through that URL, and stops everything it started (also on Ctrl-C or error).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug
STATE=.demo
mkdir -p "$STATE"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
field() { python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else (json.dumps(v) if isinstance(v,(dict,list)) else v))' "$1"; }
wait_http() {
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: $1 did not answer; see $STATE/*.log" >&2; return 1
}

MOTO_PORT=$(free_port)
API_PORT=$(free_port)
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
export WHARF_API_URL="http://127.0.0.1:$API_PORT"

echo "==> moto server on $AWS_ENDPOINT_URL"
.venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$STATE/moto.log" 2>&1 &
PIDS+=($!)
wait_http "$AWS_ENDPOINT_URL/moto-api/"

echo "==> wharf admin provision"
"$BIN/wharf" admin provision

TOKEN_OUTPUT=$("$BIN/wharf" admin token --scopes read,submit)
export WHARF_TOKEN=$(sed -n 's/^token: //p' <<<"$TOKEN_OUTPUT")
export WHARF_API_TOKENS=$(sed -n 's/^WHARF_API_TOKENS=//p' <<<"$TOKEN_OUTPUT")

echo "==> wharf-api on $WHARF_API_URL, one wharf-worker"
"$BIN/wharf-api" --listen "127.0.0.1:$API_PORT" >"$STATE/api.log" 2>&1 &
PIDS+=($!)
WORKER_HTTP="127.0.0.1:$(free_port)"
"$BIN/wharf-worker" --heartbeat-secs 2 --poll-wait-secs 2 --work-dir "$STATE/work" \
  --http-listen "$WORKER_HTTP" --labels demo=yes >"$STATE/worker.log" 2>&1 &
PIDS+=($!)
wait_http "$WHARF_API_URL/health"

declare -A EXPECTED=([hello-report]=succeeded [failing]=failed [timeout]=timed_out [container-report]=succeeded)
declare -A IDS=()
SAMPLES=(hello-report failing timeout)
if docker image inspect wharf-test-busybox:latest >/dev/null 2>&1; then
  SAMPLES+=(container-report)
else
  echo "no Docker engine (or no test image): skipping the container sample"
fi
for sample in "${SAMPLES[@]}"; do
  IDS[$sample]=$("$BIN/wharf" submit "samples/$sample.json" | field id)
  echo "submitted $sample as ${IDS[$sample]}"
done

failures=0
echo
printf '%-17s %-10s %-12s %-5s %s\n' SAMPLE STATUS REASON EXIT RESULT
for sample in "${SAMPLES[@]}"; do
  task=$("$BIN/wharf" wait --timeout 120 "${IDS[$sample]}" || true)
  status=$(field status <<<"$task")
  printf '%-17s %-10s %-12s %-5s %s\n' "$sample" "$status" "$(field reason <<<"$task")" \
    "$(field exitCode <<<"$task")" "$(field result <<<"$task")"
  if [ "$status" != "${EXPECTED[$sample]}" ]; then
    echo "demo: $sample ended $status, expected ${EXPECTED[$sample]}" >&2
    failures=$((failures + 1))
  fi
done

echo
id=${IDS[hello-report]}
url=$("$BIN/wharf" download --urls --path report.txt "$id" | cut -f2)
echo "presigned URL of hello-report's report.txt:"
echo "  $url"
echo "fetched through that URL with plain curl:"
curl -fsS "$url" | sed 's/^/  /'
echo "log of the failing task:"
curl -fsS -H "Authorization: Bearer $WHARF_TOKEN" "$WHARF_API_URL/v1/tasks/${IDS[failing]}/logs" | field data | sed 's/^/  /'

echo "the fleet (GET /v1/status):"
curl -fsS -H "Authorization: Bearer $WHARF_TOKEN" "$WHARF_API_URL/v1/status" | field workers | sed 's/^/  /'
echo "the worker's own metrics (GET http://$WORKER_HTTP/metrics):"
curl -fsS "http://$WORKER_HTTP/metrics" | grep '^wharf_tasks_finished_total' | sed 's/^/  /'

if [ "$failures" -gt 0 ]; then
  echo "demo: $failures sample(s) did not end as expected; logs in $STATE/" >&2
  exit 1
fi
echo
echo "demo: every sample ended as expected."
