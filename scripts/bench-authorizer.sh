#!/usr/bin/env bash
# Benchmark of the API authorizer, side by side in one run with a Node.js authorizer that does
# the same (aws-jwt-verify + Cedar's WASM build): init, per-call latency (p50, p99), own code
# (JWT + Cedar), peak memory, and the Graviton zip's size. No emulator: the pool's key set is
# served on 127.0.0.1. Usage: scripts/bench-authorizer.sh [calls]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$root/scripts/setup.sh" --run >/dev/null
cd "$root"
calls="${1:-1000}"
command -v node >/dev/null || die "node is missing: install Node.js 18+ (Debian: apt-get install nodejs npm)"

cargo build --quiet --locked -p deployer
deployer="${CARGO_TARGET_DIR:-$root/target}/debug/deployer"
# The task root the stack's zip holds: authz.json and the policies, from the example.
work="$DEPLOYER_CACHE_DIR/bench-authorizer-root"
rm -rf "${work:?}" && mkdir -p "$work/policies"
cp examples/projects-api/policies/*.cedar "$work/policies/"
"$deployer" -f examples/projects-api/stack-inputs.json authz schema > "$work/schema.cedarschema"
python3 - "$work" <<'PY'
import json, sys
json.dump({"namespace": "App", "userPoolId": "", "issuer": "", "token": "access", "clients": [],
           "claims": [{"name": "projects", "type": "set"}, {"name": "role", "type": "string"}],
           "routes": [{"route": "GET /projects/{projectId}", "resource": {"type": "Project", "parameter": "projectId"}},
                      {"route": "DELETE /projects/{projectId}", "resource": {"type": "Project", "parameter": "projectId"}},
                      {"route": "GET /me"}]}, open(f"{sys.argv[1]}/authz.json", "w"))
PY
# The zip as deployed: the Graviton build (the cache's, or built now) with the bundle.
zip_bytes="$(python3 - <<PY
import glob, os
zips = sorted(glob.glob(os.path.join("$DEPLOYER_CACHE_DIR", "artifacts", "authorizer-*.zip")), key=os.path.getmtime)
print(os.path.getsize(zips[-1]) if zips else 0)
PY
)"
[[ $zip_bytes != 0 ]] || say "no Graviton authorizer zip in the cache yet (run \`deployer up\` on an inputs file with an api once): its size is shown as 0"
# Timings run natively: the same source and profile, built for this machine.
cargo build --quiet --locked --profile lambda -p authorizer --bin authorizer
authorizer="${CARGO_TARGET_DIR:-$root/target}/lambda/authorizer"

node_dir="$DEPLOYER_CACHE_DIR/bench-authorizer-node"
mkdir -p "$node_dir"
if [[ ! -d "$node_dir/node_modules/@cedar-policy/cedar-wasm" || ! -d "$node_dir/node_modules/aws-jwt-verify" ]]; then
  say "installing aws-jwt-verify and @cedar-policy/cedar-wasm for the Node.js baseline"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund aws-jwt-verify@5.2.1 @cedar-policy/cedar-wasm@4.13.0 >/dev/null)
fi
cp scripts/bench/node-authorizer.js "$node_dir/"
"$DEPLOYER_VENV/bin/python3" scripts/bench/authorizer.py --rust "$authorizer" --root "$work" --node-dir "$node_dir" \
  --invocations "$calls" --zip-bytes "$zip_bytes"
