#!/bin/bash
# Creates Wharf's tables, queues (each with its DLQ and redrive) and bucket,
# exactly as `wharf admin provision` does (core/src/provision.rs;
# core/tests/consistency.rs runs this script against moto and compares).
# Inside LocalStack it uses awslocal; elsewhere the AWS CLI with
# AWS_ENDPOINT_URL. Safe to run again.
set -euo pipefail

export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}
if command -v awslocal >/dev/null 2>&1; then
  aws() { awslocal "$@"; }
elif [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  # Not every AWS CLI honours AWS_ENDPOINT_URL for every service (SQS).
  aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }
fi

TASKS_TABLE=${WHARF_TASKS_TABLE:-wharf-tasks}
WORKERS_TABLE=${WHARF_WORKERS_TABLE:-wharf-workers}
FUNCTIONS_TABLE=${WHARF_FUNCTIONS_TABLE:-wharf-functions}
BUCKET=${WHARF_BUCKET:-wharf-artifacts}
QUEUE_PREFIX=${WHARF_QUEUE_PREFIX:-wharf-}
QUEUES=${WHARF_QUEUES:-default}
RETENTION_DAYS=${WHARF_RETENTION_DAYS:-30}

MAX_RECEIVE_COUNT=10
VISIBILITY_SECONDS=60
QUEUE_RETENTION_SECONDS=345600   # 4 days
DLQ_RETENTION_SECONDS=1209600    # 14 days

# GET /v1/tasks reads these indexes of the tasks table, newest first: each is
# partitioned by one attribute and sorted by the (time-sortable) id.
TASK_INDEXES="by-status:status by-queue:queue all-tasks:listed"

table() { # name key ttl(yes|no) [index:partition ...]
  local name=$1 key=$2 ttl=$3
  shift 3
  if ! aws dynamodb describe-table --table-name "$name" >/dev/null 2>&1; then
    local definitions=("AttributeName=$key,AttributeType=S") indexes=() index
    for index in "$@"; do
      definitions+=("AttributeName=${index#*:},AttributeType=S")
      indexes+=("{\"IndexName\":\"${index%%:*}\",\"KeySchema\":[{\"AttributeName\":\"${index#*:}\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"$key\",\"KeyType\":\"RANGE\"}],\"Projection\":{\"ProjectionType\":\"ALL\"}}")
    done
    local gsi=()
    if [ ${#indexes[@]} -gt 0 ]; then
      gsi=(--global-secondary-indexes "[$(IFS=,; echo "${indexes[*]}")]")
    fi
    aws dynamodb create-table --table-name "$name" --billing-mode PAY_PER_REQUEST \
      --attribute-definitions "${definitions[@]}" \
      --key-schema "AttributeName=$key,KeyType=HASH" "${gsi[@]}" >/dev/null
    echo "table   created  $name"
  else
    echo "table   exists   $name"
  fi
  if [ "$ttl" = yes ]; then
    status=$(aws dynamodb describe-time-to-live --table-name "$name" \
      --query 'TimeToLiveDescription.TimeToLiveStatus' --output text)
    if [ "$status" != ENABLED ] && [ "$status" != ENABLING ]; then
      aws dynamodb update-time-to-live --table-name "$name" \
        --time-to-live-specification "Enabled=true,AttributeName=expiresAt" >/dev/null
    fi
  fi
}

queue() { # name retention [redrive-json]
  local attributes="{\"VisibilityTimeout\":\"$VISIBILITY_SECONDS\",\"MessageRetentionPeriod\":\"$2\""
  if [ -n "${3:-}" ]; then
    attributes+=",\"RedrivePolicy\":$(printf '%s' "$3" | sed 's/"/\\"/g; s/^/"/; s/$/"/')"
  fi
  attributes+="}"
  local url
  if url=$(aws sqs get-queue-url --queue-name "$1" --query QueueUrl --output text 2>/dev/null); then
    aws sqs set-queue-attributes --queue-url "$url" --attributes "$attributes"
    echo "queue   exists   $1" >&2
  else
    url=$(aws sqs create-queue --queue-name "$1" --attributes "$attributes" --query QueueUrl --output text)
    echo "queue   created  $1" >&2
  fi
  echo "$url"
}

# shellcheck disable=SC2086 # one index a word
table "$TASKS_TABLE" id yes $TASK_INDEXES
table "$WORKERS_TABLE" id yes
table "$FUNCTIONS_TABLE" name no

# The task queues, then the control plane's own (`control`).
IFS=',' read -ra names <<<"$QUEUES"
for name in "${names[@]}" control; do
  dlq_url=$(queue "${QUEUE_PREFIX}${name}-dlq" "$DLQ_RETENTION_SECONDS")
  dlq_arn=$(aws sqs get-queue-attributes --queue-url "$dlq_url" --attribute-names QueueArn \
    --query Attributes.QueueArn --output text)
  queue "${QUEUE_PREFIX}${name}" "$QUEUE_RETENTION_SECONDS" \
    "{\"deadLetterTargetArn\":\"$dlq_arn\",\"maxReceiveCount\":\"$MAX_RECEIVE_COUNT\"}" >/dev/null
done

if aws s3api head-bucket --bucket "$BUCKET" >/dev/null 2>&1; then
  echo "bucket  exists   $BUCKET"
else
  aws s3api create-bucket --bucket "$BUCKET" >/dev/null
  echo "bucket  created  $BUCKET"
fi
aws s3api put-bucket-encryption --bucket "$BUCKET" --server-side-encryption-configuration \
  '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
aws s3api put-public-access-block --bucket "$BUCKET" --public-access-block-configuration \
  'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true'
aws s3api put-bucket-lifecycle-configuration --bucket "$BUCKET" --lifecycle-configuration "{
  \"Rules\": [{
    \"ID\": \"expire-task-artifacts\", \"Status\": \"Enabled\",
    \"Filter\": {\"Prefix\": \"tasks/\"},
    \"Expiration\": {\"Days\": $RETENTION_DAYS},
    \"AbortIncompleteMultipartUpload\": {\"DaysAfterInitiation\": 1}
  }]
}"
