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

# A cold build of the workspace and its test binaries takes about 4 GB; a warm one relinks the
# test binaries (about 2 GB). Say so up front rather than let the linker die of a full disk.
target_dir="${CARGO_TARGET_DIR:-$root/target}"
if [[ -d $target_dir/debug/deps ]]; then need_space "$target_dir" 3; else need_space "$target_dir" 6; fi

say "format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked --quiet "${features[@]}" -- -D warnings

say "build"
cargo build --workspace --all-targets --locked --quiet "${features[@]}"
deployer="$target_dir/debug/deployer"

say "cross-build the trigger for Graviton (cached when unchanged)"
"$deployer" build

# The two emulators for the whole run, in their own state folder so they never meet a
# developer's: ministack (runs the trigger) and fakecloud (stricter; IAM enforced for any
# identity but the suite's test/test one).
export DEPLOYER_LOCAL_DIR="$DEPLOYER_CACHE_DIR/test-emulator"
stop_all() {
  "$deployer" local stop >/dev/null || true
  "$deployer" local stop --engine fakecloud >/dev/null || true
}
stop_all   # leftovers from an interrupted run
trap stop_all EXIT
endpoint_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["endpoint"])'; }
export DEPLOYER_TEST_ENDPOINT="$("$deployer" local start --output json | endpoint_of)"
export DEPLOYER_TEST_FAKECLOUD="$("$deployer" local start --engine fakecloud --iam strict --output json | endpoint_of)"
say "emulators: ministack at $DEPLOYER_TEST_ENDPOINT, fakecloud at $DEPLOYER_TEST_FAKECLOUD"

say "tests"
cargo test --workspace --locked --no-fail-fast "${features[@]}" "$@"
