#!/usr/bin/env bash
# Runs every test: the idempotent set-up, format and lint checks, then the whole suite against
# one local emulator started for this run and stopped at the end (even on failure or Ctrl-C).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$root/scripts/setup.sh"
cd "$root"

# The end-to-end suites (emulator, cross-build toolchain, browser) are behind the deployer's
# `e2e` feature: a plain `cargo test` runs only the fast suite; here everything runs.
features=(--features deployer/e2e)

say "format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked --quiet "${features[@]}" -- -D warnings

say "build"
cargo build --workspace --all-targets --locked --quiet "${features[@]}"
deployer="${CARGO_TARGET_DIR:-$root/target}/debug/deployer"

say "cross-build the trigger for Graviton (cached when unchanged)"
"$deployer" build

# One emulator for the whole run, in its own state folder so it never meets a developer's.
export DEPLOYER_LOCAL_DIR="$DEPLOYER_CACHE_DIR/test-emulator"
"$deployer" local stop >/dev/null   # a leftover from an interrupted run
trap '"$deployer" local stop >/dev/null || true' EXIT
endpoint="$("$deployer" local start --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])')"
say "emulator at $endpoint"
export DEPLOYER_TEST_ENDPOINT="$endpoint"

say "tests"
cargo test --workspace --locked --no-fail-fast "${features[@]}" "$@"
