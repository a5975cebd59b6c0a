#!/usr/bin/env bash
# make api-check (part of make test): schemathesis against a live wharf-api
# on moto, driven by the API's own /openapi.json. It generates requests for
# every route (valid ones from the schemas, and invalid ones) with a token of
# every scope, and fails on any 5xx, any status code the document does not
# list, and any response whose body, content type or headers do not match it.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug
STATE=target/api-check
SCHEMATHESIS=.venv-api-check/bin/schemathesis
# shellcheck source=scripts/local-stack.sh
. scripts/local-stack.sh

start_stack read,submit,admin
echo "==> schemathesis against $WHARF_API_URL/openapi.json"
"$SCHEMATHESIS" run "$WHARF_API_URL/openapi.json" \
  --header "Authorization: Bearer $WHARF_TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "${API_CHECK_EXAMPLES:-40}" --seed 1 --workers 1 \
  --phases examples,coverage,fuzzing,stateful \
  --report junit --report-dir "$STATE" \
  --output-sanitize true
