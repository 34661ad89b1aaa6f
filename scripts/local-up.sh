#!/usr/bin/env bash
# The whole job on the local default: set-up of what it needs alone (idempotent; the test
# tools are scripts/test.sh's), the local emulator on 127.0.0.1, then `deployer up` against
# it. Extra arguments go to `up` (e.g. --output json).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$root/scripts/setup.sh" --run
cd "$root"
exec cargo run --quiet --locked -p deployer -- --local up "$@"
