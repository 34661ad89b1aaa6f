# Shared paths for the project's scripts. Source it; it sets nothing else.
# DEPLOYER_CACHE_DIR moves everything the scripts install (venv, emulator state) out of the
# clone, which CI does so that a second run on the same machine reuses it.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEPLOYER_CACHE_DIR="${DEPLOYER_CACHE_DIR:-$root/.cache}"
export DEPLOYER_VENV="${DEPLOYER_VENV:-$DEPLOYER_CACHE_DIR/venv}"
export PATH="$DEPLOYER_VENV/bin:$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need_space DIR GB: stop with a clear message when DIR's file system has less than GB free.
# A full disk otherwise shows up as the linker dying with SIGBUS in the middle of the build.
need_space() {
  local dir=$1 want_gb=$2 free_kb
  mkdir -p "$dir"
  free_kb=$(df -Pk "$dir" | awk 'NR==2 {print $4}')
  if (( free_kb < want_gb * 1024 * 1024 )); then
    die "only $((free_kb / 1024)) MB free on the file system of $dir; this step needs about ${want_gb} GB.
       Free some space on it (old cargo target dirs are the usual culprits: \`cargo clean\`) and run again."
  fi
}
