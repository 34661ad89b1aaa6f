#!/usr/bin/env bash
# Benchmark of the trigger, side by side with the blog's Node.js trigger, in one run:
# zip size, init time, warm per-login latency against the emulator's DynamoDB (p50, p99),
# our own code's share of it, and peak memory; and a lambda_runtime hello world built with the
# same profile, the floor for init. Usage: scripts/bench-trigger.sh [invocations]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$root/scripts/setup.sh" >/dev/null
cd "$root"
invocations="${1:-500}"
command -v node >/dev/null || die "node is missing: install Node.js 18+ (Debian: apt-get install nodejs npm)"

cargo build --quiet --locked -p deployer
deployer="${CARGO_TARGET_DIR:-$root/target}/debug/deployer"
zip_bytes="$("$deployer" build --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')"
# Timings run natively: the same source and profile, built for this machine.
cargo build --quiet --locked --profile lambda -p trigger --bin bootstrap
bootstrap="${CARGO_TARGET_DIR:-$root/target}/lambda/bootstrap"
# The floor: the smallest lambda_runtime function, same profile (scripts/bench/hello).
hello_target="$DEPLOYER_CACHE_DIR/bench-hello-target"
(cd scripts/bench/hello && CARGO_TARGET_DIR="$hello_target" cargo build --quiet --locked --profile lambda)
hello="$hello_target/lambda/bootstrap"

node_dir="$DEPLOYER_CACHE_DIR/bench-node"
mkdir -p "$node_dir"
if [[ ! -d "$node_dir/node_modules/aws-sdk" ]]; then
  say "installing aws-sdk v2 for the Node.js baseline"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund aws-sdk@2.1692.0 >/dev/null)
fi
cp scripts/bench/harness.js scripts/bench/blog-trigger.js "$node_dir/"

export DEPLOYER_LOCAL_DIR="$DEPLOYER_CACHE_DIR/bench-emulator"
trap '"$deployer" local stop >/dev/null || true' EXIT
endpoint="$("$deployer" local start --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')"
aws() { AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$DEPLOYER_VENV/bin/aws" --endpoint-url "$endpoint" --region us-east-1 "$@"; }
for table in UserInfoTable bench-users; do
  aws dynamodb create-table --table-name "$table" --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=userName,AttributeType=S \
    --key-schema AttributeName=userName,KeyType=HASH >/dev/null 2>&1 || true
  aws dynamodb put-item --table-name "$table" --item '{"userName":{"S":"bench-user"},"projects":{"S":"p-100,p-200"}}'
done

python3 scripts/bench/trigger.py --endpoint "$endpoint" --rust "$bootstrap" --hello "$hello" --node-dir "$node_dir" \
  --table bench-users --invocations "$invocations" --zip-bytes "$zip_bytes"
