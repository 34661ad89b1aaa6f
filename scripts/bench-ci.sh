#!/usr/bin/env bash
# The CI path, timed step by step in one run on the local emulator (its own fresh state):
#   1. a fresh clone of HEAD and a cold `cargo build --locked -p deployer` (crates already
#      downloaded, as a CI cache of ~/.cargo/registry gives); with `--compare REF`, REF's
#      cold build too, in the same run, for the ratio;
#   2. cold: an empty deployer cache and an empty artifacts bucket; the set-up the cross-build
#      needs (cargo-zigbuild and ziglang into a new venv, pip's download cache warm), then
#      `up`, which builds the trigger (cold target dir) and shares it in the bucket;
#   3. warm bucket: another empty cache, no venv, no zig on PATH: `up` of a second stack finds
#      the trigger in the bucket and compiles nothing;
#   4. no-op `up` right after that create, then the median of 5; `aws cloudformation deploy`
#      and `sam deploy` doing nothing on the same template and emulator (median of 3 each);
#   5. the trigger's init against a lambda_runtime hello world built with the same profile.
# Usage: scripts/bench-ci.sh [--compare REF] [--build-only | --noop-only]
#   --build-only: step 1 alone; --noop-only: steps 4 and 5 alone, with this checkout's build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
compare=""
build_only=""
noop_only=""
while (($#)); do
  case "$1" in
    --compare) compare="${2:?--compare needs a git ref}"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --noop-only) noop_only=1; shift ;;
    *) die "unknown argument $1 (usage: scripts/bench-ci.sh [--compare REF] [--build-only | --noop-only])" ;;
  esac
done
# The emulator and awscli for the baseline (the suite's set-up, not timed: a pipeline
# against AWS needs none of it).
"$root/scripts/setup.sh" >/dev/null
cd "$root"
sam_venv="$DEPLOYER_CACHE_DIR/bench-venv"
if [[ ! -x "$sam_venv/bin/sam" ]]; then
  say "installing the SAM CLI for the baseline into $sam_venv"
  python3 -m venv "$sam_venv"
  "$sam_venv/bin/pip" install --quiet aws-sam-cli==1.170.0
fi

work="$(mktemp -d)"
export DEPLOYER_PLAIN=1 DEPLOYER_LOCAL_DIR="$work/emulator"
tools="$(cargo build --quiet --locked -p deployer --message-format=json | python3 -c '
import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "deployer" and m.get("executable"):
        print(m["executable"])')"
cleanup() { "$tools" local stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
endpoint="$("$tools" local start --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')"

median() { python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"; }
# timed VAR command...: runs it (output to $work/last.log), puts the seconds in VAR.
# Bash's own clock (EPOCHREALTIME): a python3 per reading added its ~20 ms start-up to
# every figure.
timed() {
  local var="$1" t0 t1; shift; t0="${EPOCHREALTIME/,/.}"
  "$@" >"$work/last.out" 2>"$work/last.log" || { cat "$work/last.log" >&2; die "failed: $*"; }
  t1="${EPOCHREALTIME/,/.}"; printf -v "$var" '%s' "$(python3 -c "print($t1-$t0)")"
}
field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$work/last.out" "$1"; }

target_dir="$work/target"
inputs() {
  python3 - "$root/stack-inputs.json" "$work/$1.json" "$1" <<'PY'
import json, sys
base = json.load(open(sys.argv[1]))
json.dump(dict(base, stackName=sys.argv[3], userPoolDomainName=sys.argv[3] + "-login"), open(sys.argv[2], "w"))
PY
}
if [[ -z "$noop_only" ]]; then
say "1. fresh clone and cold deployer build"
timed t_clone git clone --quiet --no-local "$root" "$work/clone"
clone="$work/clone"
timed t_compile bash -c "cd '$clone' && CARGO_TARGET_DIR='$work/target' cargo build --quiet --locked -p deployer"
deployer="$work/target/debug/deployer"
say "   cold deployer build: $t_compile s"
if [[ -n "$compare" ]]; then
  git clone --quiet --no-local "$root" "$work/before"
  git -C "$work/before" checkout --quiet "$compare"
  timed t_before bash -c "cd '$work/before' && CARGO_TARGET_DIR='$work/target-before' cargo build --quiet --locked -p deployer"
  rm -rf "$work/target-before" "$work/before"
  say "   cold deployer build at $compare: $t_before s"
fi
if [[ -n "$build_only" ]]; then
  echo "| cold cargo build --locked -p deployer (2 cores) | seconds |"
  echo "| --- | ---: |"
  echo "| HEAD | $(python3 -c "print(f'{$t_compile:.0f}')") |"
  if [[ -n "$compare" ]]; then
    echo "| $compare | $(python3 -c "print(f'{$t_before:.0f}')") |"
    python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'\n{(1-a/b)*100:.0f}% faster than {sys.argv[3]}')" "$t_compile" "$t_before" "$compare"
  fi
  exit 0
fi
for s in bench-cold bench-warm bench-cli bench-sam; do inputs "$s"; done

say "2. cold: set-up of the cross-build, then up (builds the trigger)"
pins="$(grep -E '^(cargo-zigbuild|ziglang)==' "$clone/scripts/requirements.txt" | tr '\n' ' ')"
timed t_setup bash -c "python3 -m venv '$work/venv' && '$work/venv/bin/pip' install --quiet $pins && rustup target add aarch64-unknown-linux-musl >/dev/null 2>&1"
timed t_cold env DEPLOYER_CACHE_DIR="$work/cache-cold" DEPLOYER_VENV="$work/venv" CARGO_TARGET_DIR="$work/target" \
  "$deployer" --local -f "$work/bench-cold.json" up --output json
[[ "$(field artifact.from)" == built ]] || die "the cold up did not build the trigger"
t_cold_trigger="$(field artifact.seconds)"
say "   set-up $t_setup s; up $t_cold s, of which the trigger $t_cold_trigger s"

say "3. warm bucket: a runner without the cross-build tools"
rust_bin="$(dirname "$(rustup which rustc)")"
fresh_env=(env DEPLOYER_CACHE_DIR="$work/cache-warm" DEPLOYER_VENV="$work/no-venv" PATH="$rust_bin:/usr/bin:/bin" CARGO_TARGET_DIR="$work/target")
timed t_warm "${fresh_env[@]}" "$deployer" --local -f "$work/bench-warm.json" up --output json
[[ "$(field artifact.from)" == shared-cache ]] || die "the warm up did not take the trigger from the bucket"
t_warm_trigger="$(field artifact.seconds)"
key="$(field artifact.key)"
say "   up $t_warm s, of which the trigger $t_warm_trigger s"

else
  clone="$root"; deployer="$tools"; target_dir="${CARGO_TARGET_DIR:-$root/target}"
  for s in bench-warm bench-cli bench-sam; do inputs "$s"; done
  fresh_env=(env)
  timed t_warm "$deployer" --local -f "$work/bench-warm.json" up --output json
  key="$(field artifact.key)"
fi

say "4. no-op up against aws cloudformation deploy and sam deploy"
timed t_first_noop "${fresh_env[@]}" "$deployer" --local -f "$work/bench-warm.json" up --output json
[[ "$(field action)" == unchanged ]] || die "the first no-op changed something"
runs=(); for _ in 1 2 3 4 5; do timed t "${fresh_env[@]}" "$deployer" --local -f "$work/bench-warm.json" up; runs+=("$t"); done
t_noop=$(median "${runs[@]}")
say "   first no-op $t_first_noop s, median $t_noop s"
# One template per baseline stack: the names in it (domain, table, function) are the stack's.
"$deployer" -f "$work/bench-cli.json" render > "$work/template-cli.yaml"
"$deployer" -f "$work/bench-sam.json" render > "$work/template-sam.yaml"
params=(ArtifactBucket=deployer-artifacts-000000000000-us-east-1 "ArtifactKey=$key" DeployFingerprint=x)
creds=(env AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="$endpoint" SAM_CLI_TELEMETRY=0)
cli() { "${creds[@]}" "$DEPLOYER_VENV/bin/aws" cloudformation deploy --template-file "$work/template-cli.yaml" \
  --stack-name bench-cli --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --parameter-overrides "${params[@]}"; }
sam() { (cd "$work" && "${creds[@]}" "$sam_venv/bin/sam" deploy --template-file "$work/template-sam.yaml" --stack-name bench-sam \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --no-confirm-changeset --region us-east-1 --parameter-overrides "${params[@]}"); }
timed t cli; timed t sam   # the creates, not counted
# awscli and SAM name their change sets by the second: a pause (not timed) keeps them apart.
runs=(); for _ in 1 2 3; do sleep 1; timed t cli; runs+=("$t"); done; t_cli=$(median "${runs[@]}")
runs=(); for _ in 1 2 3; do sleep 1; timed t sam; runs+=("$t"); done; t_sam=$(median "${runs[@]}")

say "5. the trigger's init against the lambda_runtime floor"
(cd "$clone" && CARGO_TARGET_DIR="$target_dir" cargo build --quiet --locked --profile lambda -p trigger --bin bootstrap)
(cd "$clone/scripts/bench/hello" && CARGO_TARGET_DIR="$work/target-hello" cargo build --quiet --locked --profile lambda)
init_table="$(python3 "$clone/scripts/bench/trigger.py" --init-only --endpoint "$endpoint" --table bench-users \
  --rust "$target_dir/lambda/bootstrap" --hello "$work/target-hello/lambda/bootstrap")"

for s in bench-cold bench-warm; do [[ -f "$work/$s.json" ]] && { "$deployer" --local -f "$work/$s.json" down >/dev/null 2>&1 || true; }; done
for s in bench-cli bench-sam; do "${creds[@]}" "$DEPLOYER_VENV/bin/aws" cloudformation delete-stack --stack-name "$s" || true; done

f() { python3 -c "import sys; print(f'{float(sys.argv[1]):.${2:-2}f}')" "$1"; }
sub() { python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.2f}')" "$1" "$2"; }
if [[ -z "$noop_only" ]]; then
echo
echo "| step (2 cores, local emulator) | cold: trigger built | warm: trigger in the bucket |"
echo "| --- | ---: | ---: |"
echo "| git clone | $(f "$t_clone") | $(f "$t_clone") |"
echo "| cargo build --locked -p deployer (cold target dir) | $(f "$t_compile" 1) | $(f "$t_compile" 1) |"
echo "| set-up: cargo-zigbuild + ziglang (pip), aarch64 target | $(f "$t_setup" 1) | none |"
echo "| trigger: built / found in the bucket | $(f "$t_cold_trigger" 1) | $(f "$t_warm_trigger") |"
echo "| deploy to printed outputs | $(sub "$t_cold" "$t_cold_trigger") | $(sub "$t_warm" "$t_warm_trigger") |"
python3 -c "import sys; a=[float(x) for x in sys.argv[1:]]; print(f'| **fresh clone to outputs** | **{a[0]+a[1]+a[2]+a[3]:.0f} s** | **{a[0]+a[1]+a[4]:.0f} s** |')" \
  "$t_clone" "$t_compile" "$t_setup" "$t_cold" "$t_warm"
echo "| the same, deployer already built (cached target dir) | $(python3 -c "print(f'{$t_setup+$t_cold:.0f} s')") | $(python3 -c "print(f'{$t_warm:.1f} s')") |"
echo
if [[ -n "$compare" ]]; then
  python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'cold cargo build -p deployer: {b:.0f} s at {sys.argv[3]}, {a:.0f} s now ({(1-a/b)*100:.0f}% faster)\n')" \
    "$t_compile" "$t_before" "$compare"
fi
fi
echo "| nothing changed (same template, same emulator) | seconds |"
echo "| --- | ---: |"
echo "| deployer up, first run after the create | $(f "$t_first_noop" 3) |"
echo "| deployer up (median of 5) | $(f "$t_noop" 3) |"
echo "| aws cloudformation deploy --no-fail-on-empty-changeset (median of 3) | $(f "$t_cli") |"
echo "| sam deploy --no-fail-on-empty-changeset (median of 3) | $(f "$t_sam") |"
python3 -c "import sys; o,c,s=map(float,sys.argv[1:]); print(f'\nno-op up: {c/o:.0f}x faster than aws cloudformation deploy, {s/o:.0f}x faster than sam deploy\n')" "$t_noop" "$t_cli" "$t_sam"
echo "$init_table"
