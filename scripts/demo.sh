#!/usr/bin/env bash
# make demo: the whole of Wharf on this machine. Starts moto server, provisions
# the resources, starts wharf-api, wharf-control and one wharf-worker,
# submits the samples with the `wharf` CLI (the pipeline: an array of three
# extracts and a report that waits for all of them), waits for each, prints its
# outcome, downloads the
# outputs (checked against their SHA-256) and one through its presigned URL
# with plain curl, and prints the web console's URL with a token. On a
# terminal it keeps the stack up for the console until Enter or Ctrl-C; then
# (and at once otherwise) it stops everything it started (also on error).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug
STATE=.demo
# shellcheck source=scripts/local-stack.sh
. scripts/local-stack.sh
field() { python3 -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else (json.dumps(v) if isinstance(v,(dict,list)) else v))' "$1"; }

start_stack read,submit,admin
echo "==> one wharf-worker"
WORKER_HTTP="127.0.0.1:$(free_port)"
"$BIN/wharf-worker" --heartbeat-secs 2 --poll-wait-secs 2 \
  --http-listen "$WORKER_HTTP" --labels demo=yes >"$STATE/worker.log" 2>&1 &
PIDS+=($!)
echo "==> wharf-control (releases tasks whose dependencies ended)"
"$BIN/wharf-control" --tick-secs 5 >"$STATE/control.log" 2>&1 &
PIDS+=($!)

echo "==> the secret-greeting sample's two SSM parameters (SecureString)"
API_TOKEN_VALUE="demo-token-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
.venv/bin/python - "$API_TOKEN_VALUE" <<'PY'
import os, sys, boto3
ssm = boto3.client("ssm", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
ssm.put_parameter(Name="/wharf/demo/api-token", Value=sys.argv[1], Type="SecureString", Overwrite=True)
ssm.put_parameter(Name="/wharf/demo/signing-key", Value="demo-signing-key-0123456789", Type="SecureString", Overwrite=True)
PY

declare -A EXPECTED=([secret-greeting]=succeeded [hello-report]=succeeded [failing]=failed [timeout]=timed_out [container-report]=succeeded [fakejob]=succeeded [pipeline-extracts]=succeeded [pipeline-report]=succeeded)
declare -A IDS=()
SAMPLES=(hello-report failing timeout secret-greeting)
echo "==> the container sample's image"
images=0
scripts/test-images.sh || images=$?
case $images in
  0) SAMPLES+=(container-report) ;;
  77) echo "SKIPPED: the container sample (see above)" ;;
  *) exit "$images" ;;
esac
for sample in "${SAMPLES[@]}"; do
  IDS[$sample]=$("$BIN/wharf" submit "samples/$sample.json")
  echo "submitted $sample as ${IDS[$sample]}"
done
for definition in samples/functions/*.json; do
  "$BIN/wharf" functions put "$(basename "$definition" .json)" "$definition"
done
IDS[fakejob]=$("$BIN/wharf" invoke fakejob --param delay_seconds=3)
echo "invoked fakejob as ${IDS[fakejob]}"
SAMPLES+=(fakejob)
echo "==> the pipeline: an array of three extracts, and a report waiting for all of them"
IDS[pipeline-extracts]=$("$BIN/wharf" submit samples/pipeline/extract.json)
echo "submitted pipeline-extracts as ${IDS[pipeline-extracts]} (wharf-control makes its three children)"
IDS[pipeline-report]=$("$BIN/wharf" submit samples/pipeline/report.json --depends-on "${IDS[pipeline-extracts]}")
echo "submitted pipeline-report as ${IDS[pipeline-report]} (waiting for the array)"
SAMPLES+=(pipeline-extracts pipeline-report)

failures=0
echo
printf '%-17s %-10s %-12s %-5s %s\n' SAMPLE STATUS REASON EXIT RESULT
for sample in "${SAMPLES[@]}"; do
  task=$("$BIN/wharf" wait --json --timeout 120 "${IDS[$sample]}" || true)
  status=$(field status <<<"$task")
  printf '%-17s %-10s %-12s %-5s %s\n' "$sample" "$status" "$(field reason <<<"$task")" \
    "$(field exitCode <<<"$task")" "$(field result <<<"$task")"
  if [ "$sample" = pipeline-report ] && [ "$(field result <<<"$task")" != '{"distinct": 9, "parts": 3, "words": 11}' ]; then
    echo "demo: the pipeline's report did not count 3 parts of 11 words, 9 distinct" >&2
    failures=$((failures + 1))
  fi
  if [ "$status" != "${EXPECTED[$sample]}" ]; then
    echo "demo: $sample ended $status, expected ${EXPECTED[$sample]}" >&2
    failures=$((failures + 1))
  fi
done

echo
id=${IDS[hello-report]}
# A fresh directory: an earlier demo's outputs are another task's.
rm -rf "$STATE/outputs"
echo "wharf download $id (each output checked against its SHA-256):"
"$BIN/wharf" download "$id" -o "$STATE/outputs" | sed 's/^/  /'
url=$("$BIN/wharf" download --urls "$id" report.txt | cut -f2)
echo "presigned URL of hello-report's report.txt:"
echo "  $url"
echo "fetched through that URL with plain curl:"
curl -fsS "$url" | sed 's/^/  /'
echo "wharf logs ${IDS[failing]} (the failing sample):"
"$BIN/wharf" logs "${IDS[failing]}" | sed 's/^/  /'
echo "wharf logs ${IDS[secret-greeting]} (the secrets, as the log keeps them):"
secret_log=$("$BIN/wharf" logs "${IDS[secret-greeting]}")
sed 's/^/  /' <<<"$secret_log"
if grep -qF -e "$API_TOKEN_VALUE" -e demo-signing-key <<<"$secret_log"; then
  echo "demo: a secret's value reached the log" >&2
  failures=$((failures + 1))
fi
echo "wharf logs ${IDS[pipeline-report]} (the pipeline's report, from its upstream tasks' results and outputs):"
"$BIN/wharf" logs "${IDS[pipeline-report]}" | sed 's/^/  /'
echo "wharf list --parent ${IDS[pipeline-extracts]} (the pipeline's array):"
"$BIN/wharf" list --parent "${IDS[pipeline-extracts]}" | sed 's/^/  /'
echo "wharf list:"
"$BIN/wharf" list | sed 's/^/  /'
echo "wharf status:"
"$BIN/wharf" status | sed 's/^/  /'
echo "wharf workers:"
"$BIN/wharf" workers | sed 's/^/  /'
echo "the worker's own metrics (GET http://$WORKER_HTTP/metrics):"
curl -fsS "http://$WORKER_HTTP/metrics" | grep '^wharf_tasks_finished_total' | sed 's/^/  /'

if [ "$failures" -gt 0 ]; then
  echo "demo: $failures sample(s) did not end as expected; logs in $STATE/" >&2
  exit 1
fi
echo
echo "demo: every sample ended as expected."
echo
echo "The web console (the token rides in the URL fragment, which never leaves the browser):"
echo "  $WHARF_API_URL/console#token=$WHARF_TOKEN"
if [ -t 0 ] && [ -t 1 ]; then
  echo "The stack keeps running for it; press Enter or Ctrl-C to stop everything."
  read -r _ || true
fi
