#!/usr/bin/env bash
# Benchmark of `up` on the local emulator, with the trigger already built, in one run:
# up from nothing to printed outputs, up with nothing changed (median of 5), and the same
# no-change deploy through `aws cloudformation deploy --no-fail-on-empty-changeset` (awscli,
# median of 3) on the same template. Then both stacks are torn down.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$root/scripts/setup.sh" >/dev/null
cd "$root"
cargo build --quiet --locked -p deployer
deployer="${CARGO_TARGET_DIR:-$root/target}/debug/deployer"
"$deployer" build >/dev/null

export DEPLOYER_LOCAL_DIR="$DEPLOYER_CACHE_DIR/bench-emulator" DEPLOYER_PLAIN=1
trap '"$deployer" local stop >/dev/null || true' EXIT
endpoint="$("$deployer" local start --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')"
work="$(mktemp -d)"
python3 - "$work" <<'PY'
import json, sys
base = json.load(open("stack-inputs.json"))
for name in ("bench-deployer", "bench-cli"):
    json.dump(dict(base, stackName=name, userPoolDomainName=name + "-login"), open(f"{sys.argv[1]}/{name}.json", "w"))
PY
# Bash's own clock (EPOCHREALTIME): a python3 per reading added its ~20 ms start-up to
# every figure.
median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }
timed() {
  local t0 t1 log; log="$(mktemp)"; t0="${EPOCHREALTIME/,/.}"
  "$@" >"$log" 2>&1 || { cat "$log" >&2; die "failed: $*"; }
  t1="${EPOCHREALTIME/,/.}"; rm -f "$log"; python3 -c "print($t1-$t0)"
}

fresh=$(timed "$deployer" --local -f "$work/bench-deployer.json" up)
runs=(); for _ in 1 2 3 4 5; do runs+=("$(timed "$deployer" --local -f "$work/bench-deployer.json" up)"); done
ours=$(median "${runs[@]}")

# The baseline: the same template and artifact through the AWS CLI.
"$deployer" -f "$work/bench-cli.json" render > "$work/template.yaml"
key="$("$deployer" --local -f "$work/bench-deployer.json" up --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["artifact"]["key"])')"
cli() { AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$DEPLOYER_VENV/bin/aws" --endpoint-url "$endpoint" --region us-east-1 \
  cloudformation deploy --template-file "$work/template.yaml" --stack-name bench-cli --capabilities CAPABILITY_IAM \
  --no-fail-on-empty-changeset --parameter-overrides ArtifactBucket=deployer-artifacts-000000000000-us-east-1 "ArtifactKey=$key" DeployFingerprint=x; }
timed cli >/dev/null
# awscli names its change sets by the second: a pause (not timed) keeps the names apart.
runs=(); for _ in 1 2 3; do sleep 1; runs+=("$(timed cli)"); done
theirs=$(median "${runs[@]}")

"$deployer" --local -f "$work/bench-deployer.json" down >/dev/null 2>&1
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$DEPLOYER_VENV/bin/aws" --endpoint-url "$endpoint" --region us-east-1 \
  cloudformation delete-stack --stack-name bench-cli
rm -rf "$work"

echo "| step (local emulator, trigger already built) | seconds |"
echo "| --- | ---: |"
printf '| deployer up, from nothing to printed outputs | %.2f |\n' "$fresh"
printf '| deployer up, nothing changed (median of 5) | %.3f |\n' "$ours"
printf '| aws cloudformation deploy --no-fail-on-empty-changeset, nothing changed (median of 3) | %.2f |\n' "$theirs"
python3 -c "print(f'\nno-change speed-up: {$theirs/$ours:.0f}x')"
