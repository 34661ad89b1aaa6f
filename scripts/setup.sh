#!/usr/bin/env bash
# Installs everything the project needs, idempotently: a second run only checks and is quick.
#   - a Python venv with the pinned tools (ministack, cargo-zigbuild, ziglang, cfn-lint, awscli)
#   - a second venv with cloudsplaining, the privilege-escalation analyzer the tests run
#   - fakecloud, pinned, built from crates.io into the project cache (the second emulator)
#   - the aarch64-unknown-linux-musl Rust target (the trigger runs on Graviton)
#   - Debian's qemu-user-static and the binfmt_misc registration that lets an aarch64 binary
#     run here, so the real Graviton artifact runs inside the local emulator
#   - Debian's chromium and chromium-driver for the token viewer's browser test
# With --run, only what `deployer up --local` needs (the venv, the Rust target, qemu and its
# binfmt registration): scripts/local-up.sh uses it, so a first deploy builds no test tools.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for_tests=1
[[ ${1:-} == --run ]] && for_tests=

requirements="$root/scripts/requirements.txt"
stamp="$DEPLOYER_VENV/.requirements.sha256"
want="$( (sha256sum "$requirements"; python3 --version) | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  say "python venv up to date ($DEPLOYER_VENV)"
else
  say "installing pinned python tools into $DEPLOYER_VENV"
  command -v python3 >/dev/null || die "python3 is missing: install Python 3.10 or newer"
  python3 -m venv "$DEPLOYER_VENV"
  "$DEPLOYER_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$requirements"
  echo "$want" > "$stamp"
fi

if [[ $for_tests ]]; then
# cloudsplaining, the privilege-escalation analyzer the tests run over the CI roles' policies,
# in a venv of its own (its boto3 and awscli's pin want different botocores).
analyzer_requirements="$root/scripts/requirements-analyzer.txt"
analyzer="$DEPLOYER_CACHE_DIR/analyzer"
analyzer_stamp="$analyzer/.requirements.sha256"
analyzer_want="$( (sha256sum "$analyzer_requirements"; python3 --version) | sha256sum | cut -d' ' -f1)"
if [[ -f "$analyzer_stamp" && "$(cat "$analyzer_stamp")" == "$analyzer_want" ]]; then
  say "analyzer venv up to date ($analyzer)"
else
  say "installing the pinned privilege-escalation analyzer into $analyzer"
  python3 -m venv "$analyzer"
  "$analyzer/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$analyzer_requirements"
  echo "$analyzer_want" > "$analyzer_stamp"
fi
fi

target=aarch64-unknown-linux-musl
if rustup target list --installed | grep -qx "$target"; then
  say "rust target $target present"
else
  say "adding rust target $target"
  rustup target add "$target"
fi

# Debian packages: qemu-user-static (runs the aarch64 trigger here), chromium and its
# driver (the token viewer's browser test).
missing=()
[[ -x /usr/bin/qemu-aarch64-static ]] || missing+=(qemu-user-static)
if [[ $for_tests ]]; then
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  [[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)
fi
if [[ ${#missing[@]} -eq 0 ]]; then
  say "debian packages present (qemu-user-static${for_tests:+, chromium, chromium-driver})"
elif [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  say "installing ${missing[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "warning: ${missing[*]} missing and cannot be installed here (not root, or no apt-get):" >&2
  echo "         qemu-user-static runs the aarch64 trigger locally; chromium runs the viewer's browser test." >&2
fi

if [[ $for_tests ]]; then
# fakecloud: the second local AWS for the deploy-path tests (a test tool, AGPL-licensed, run as
# a separate program and never linked into the deployer). Built once from crates.io at the
# pinned version with the lock file it ships (keep in step with FAKECLOUD_VERSION in
# deployer/src/local.rs). A debug build without debug info takes about a third of the release
# build's 30 minutes on 2 cores and answers the suite's calls just as well.
fakecloud_version=0.51.0
fakecloud_root="$DEPLOYER_CACHE_DIR/tools/fakecloud-$fakecloud_version"
fakecloud="$fakecloud_root/bin/fakecloud"
if [[ -x $fakecloud ]] && [[ "$("$fakecloud" --version 2>/dev/null)" == "fakecloud $fakecloud_version" ]]; then
  say "fakecloud $fakecloud_version present"
else
  say "building fakecloud $fakecloud_version (pinned; about 12 minutes on 2 cores, once)"
  need_space "$DEPLOYER_CACHE_DIR/tools" 4
  CARGO_PROFILE_DEV_DEBUG=0 cargo install --quiet --locked --debug fakecloud \
    --version "$fakecloud_version" --root "$fakecloud_root" \
    --target-dir "$DEPLOYER_CACHE_DIR/tools/fakecloud-build"
  rm -rf "$DEPLOYER_CACHE_DIR/tools/fakecloud-build"
  [[ "$("$fakecloud" --version)" == "fakecloud $fakecloud_version" ]] || die "fakecloud $fakecloud_version did not install"
fi
fi

# binfmt_misc: lets the kernel hand aarch64 ELF files to qemu, so the Graviton bootstrap runs
# as if native. Needs root; where it cannot be registered the deployer says so on every
# local run and builds the trigger for the host architecture instead.
binfmt=/proc/sys/fs/binfmt_misc
if [[ -e $binfmt/qemu-aarch64 ]] && grep -qx enabled $binfmt/qemu-aarch64; then
  say "binfmt for aarch64 registered"
else
  if [[ $(id -u) -eq 0 && -f /usr/lib/binfmt.d/qemu-aarch64.conf ]]; then
    [[ -e $binfmt/register ]] || mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
    if [[ -e $binfmt/register ]]; then
      [[ -e $binfmt/qemu-aarch64 ]] && echo 1 > $binfmt/qemu-aarch64 2>/dev/null || \
        cat /usr/lib/binfmt.d/qemu-aarch64.conf > $binfmt/register 2>/dev/null || true
    fi
  fi
  if [[ -e $binfmt/qemu-aarch64 ]] && grep -qx enabled $binfmt/qemu-aarch64; then
    say "binfmt for aarch64 registered"
  else
    echo "warning: cannot register binfmt_misc for aarch64 (needs root and a mountable binfmt_misc)." >&2
    echo "         Local runs will build the trigger for $(uname -m) instead of Graviton; real AWS deploys are unaffected." >&2
  fi
fi
say "setup done"
