# Shared paths for the project's scripts. Source it; it sets nothing else.
# DEPLOYER_CACHE_DIR moves everything the scripts install (venv, emulator state) out of the
# clone, which CI does so that a second run on the same machine reuses it.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEPLOYER_CACHE_DIR="${DEPLOYER_CACHE_DIR:-$root/.cache}"
export DEPLOYER_VENV="${DEPLOYER_VENV:-$DEPLOYER_CACHE_DIR/venv}"
export PATH="$DEPLOYER_VENV/bin:$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
