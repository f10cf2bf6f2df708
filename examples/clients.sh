#!/usr/bin/env bash
# A client of the FHR service that knows nothing but the stack outputs: upload with the AWS CLI,
# call the API with curl, then hand the same outputs to the fhr CLI. Works unchanged against a
# deployed stage and against the local cloud, because both print the same outputs JSON.
#
#   pulumi stack output --json | examples/clients.sh              # deployed stage, your AWS credentials
#   fhr local --outputs-file out/local.json &                     # or the local cloud ...
#   examples/clients.sh out/local.json                            # ... read from its outputs file
#
# Needs: jq, curl, aws (CLI), and venv/bin/fhr for the last step. RECORD=<path without suffix> picks
# the WFDB record to upload (default: set-a a01 beside the checkout). FHR_TOKEN=<jwt> for a deployed
# stage whose auth mode is jwt; the local cloud's own issuer is asked for a token automatically.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
outputs=$(cat "${1:-/dev/stdin}")
output() { jq -r --arg k "$1" '.[$k] // empty' <<<"$outputs"; }

api=$(output api_url)
bucket=$(output ecg_bucket)
record=${RECORD:-$here/../../shared/data/challenge2013-set-a/a01}
name=$(basename "$record")

aws_cli=(aws --region "$(output region)")
if [ -n "$(output aws_endpoint_url)" ]; then            # the local cloud: moto, with dummy credentials
  aws_cli+=(--endpoint-url "$(output aws_endpoint_url)")
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_SESSION_TOKEN=local
fi

auth=()
if [ -n "${FHR_TOKEN:-}" ]; then
  auth=(-H "Authorization: Bearer $FHR_TOKEN")
elif [ -n "$(output local_issuer_url)" ]; then           # local cloud on a jwt stack: its dev issuer
  auth=(-H "Authorization: Bearer $(curl -sf -X POST "$(output local_issuer_url)/token" | jq -r .token)")
fi

# Every caller's recordings live under its own prefix (tenants/<tenant>/); the API says which.
prefix=$(curl -sf "${auth[@]}" "$api/recordings?limit=1" | jq -r .prefix)
echo "== upload $name.hea + $name.dat to s3://$bucket/${prefix}examples/"
"${aws_cli[@]}" s3 cp --quiet "$record.hea" "s3://$bucket/${prefix}examples/$name.hea"
"${aws_cli[@]}" s3 cp --quiet "$record.dat" "s3://$bucket/${prefix}examples/$name.dat"

echo "== GET $api/fhr?filename=s3://$bucket/${prefix}examples/$name.hea"
curl -sf "${auth[@]}" -G "$api/fhr" --data-urlencode "filename=s3://$bucket/${prefix}examples/$name.hea" \
  | jq '{record: .record.source, cached, summary}'

echo "== POST $api/DynamoDBManager (ping)"
curl -sf "${auth[@]}" -X POST "$api/DynamoDBManager" -H 'Content-Type: application/json' -d '{"operation": "ping"}'
echo

echo "== the same outputs piped into the fhr CLI (a short load test of GET /fhr)"
token_args=()
if [ ${#auth[@]} -gt 0 ]; then token_args=(--token "${auth[1]#Authorization: Bearer }"); fi
"$here/../venv/bin/fhr" loadtest --outputs - --route fhr --prefix examples/ --concurrency 2 --requests 4 \
  --no-progress "${token_args[@]}" <<<"$outputs"
