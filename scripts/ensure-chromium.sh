#!/bin/sh
# Make sure Debian's chromium is installed, for the browser tests (tests/e2e/dashboard.test.ts,
# driven by playwright-core) and bench/dashboard.ts. playwright's own browser downloads are
# never used: nothing outside loopback is reachable, and Debian's build is updated with the OS.
#
# - chromium on PATH: nothing to do.
# - As root, with apt-get: installs it (apt-get update once; the lock timeout lets a second
#   run wait for the first).
# - Otherwise: says what to run and exits 1.
#
# Usage: sh scripts/ensure-chromium.sh   (stdout stays empty; messages on stderr)
set -eu

apt_log=${TMPDIR:-/tmp}/deployer-apt-chromium.log

say() { echo "ensure-chromium: $*" >&2; }

command -v chromium >/dev/null 2>&1 && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "chromium is not installed; the browser tests need it: run 'apt-get install -y chromium' as root (Debian's package), and try again"
  exit 1
fi

say "installing chromium with apt-get (log: $apt_log)"
if ! {
  apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=300 chromium
} >"$apt_log" 2>&1 </dev/null; then
  tail -n 20 "$apt_log" >&2 || true
  say "apt-get could not install chromium (see above, or $apt_log)"
  exit 1
fi
command -v chromium >/dev/null 2>&1 || {
  say "apt-get installed chromium but it is not on PATH"
  exit 1
}
