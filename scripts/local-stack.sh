# Sourced by scripts/demo.sh and scripts/api-check.sh: starts moto server on
# a free port, provisions Wharf's resources in it, makes an API token and
# starts wharf-api; everything started is stopped when the script exits.
# Expects BIN (the built binaries) and STATE (a directory for logs).

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "$0: $1 did not answer; see $STATE/*.log" >&2; return 1
}

# start_stack SCOPES: moto, provisioned, and wharf-api with a token of
# SCOPES (comma-separated) in WHARF_TOKEN; the API's URL in WHARF_API_URL.
# EXTRA_API_TOKENS (hash:scopes entries) are accepted by the API too.
start_stack() {
  mkdir -p "$STATE"
  local moto_port api_port token_output
  moto_port=$(free_port)
  api_port=$(free_port)
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  export WHARF_API_URL="http://127.0.0.1:$api_port"

  echo "==> moto server on $AWS_ENDPOINT_URL"
  # DynamoDB calls serialized: conditional writes atomic, as in AWS.
  .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$moto_port" >"$STATE/moto.log" 2>&1 &
  PIDS+=($!)
  wait_http "$AWS_ENDPOINT_URL/moto-api/"

  echo "==> wharf admin provision"
  "$BIN/wharf" admin provision

  token_output=$("$BIN/wharf" admin token --scopes "$1")
  WHARF_TOKEN=$(sed -n 's/^token: //p' <<<"$token_output")
  WHARF_API_TOKENS=$(sed -n 's/^WHARF_API_TOKENS=//p' <<<"$token_output")${EXTRA_API_TOKENS:+,$EXTRA_API_TOKENS}
  export WHARF_TOKEN WHARF_API_TOKENS

  echo "==> wharf-api on $WHARF_API_URL"
  "$BIN/wharf-api" --listen "127.0.0.1:$api_port" >"$STATE/api.log" 2>&1 &
  PIDS+=($!)
  wait_http "$WHARF_API_URL/health"
}
