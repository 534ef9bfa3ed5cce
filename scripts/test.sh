#!/bin/sh
# npm test [-- <tap args / test files>]
#
# 1. installs dependencies if package-lock.json changed (scripts/ensure-deps.sh),
#    makes sure a Docker engine answers (scripts/ensure-docker.sh) and that
#    Debian's chromium is installed for the browser tests (scripts/ensure-chromium.sh)
# 2. npm run lint (tsc --noEmit + scripts/lint-imports.ts)
# 3. unless DATABASE_URL is already set, starts one embedded PostgreSQL for
#    the whole run (scripts/test-postgres.ts) and exports DATABASE_URL
# 4. runs tap with all arguments passed through; without arguments, the unit
#    tests two at a time, then the integration and e2e tests one at a time
# Postgres is always stopped and its data removed at the end; the exit code
# is tap's (or the first failing step's).
set -eu

cd "$(dirname "$0")/.."

sh scripts/ensure-deps.sh
sh scripts/ensure-docker.sh
sh scripts/ensure-chromium.sh

echo "test: npm run lint" >&2
if ! npm run --silent lint; then
  echo "test: lint failed (see above); not running the tests" >&2
  exit 1
fi

work=""
pg_pid=""
tap_pid=""

cleanup() {
  if [ -n "$tap_pid" ]; then
    # We only get here with tap still running when a signal stopped us. tap
    # waits for its test processes before exiting, so stop those too.
    if command -v pkill >/dev/null 2>&1; then
      pkill -TERM -P "$tap_pid" 2>/dev/null || true
    fi
    kill -TERM "$tap_pid" 2>/dev/null || true
    wait "$tap_pid" 2>/dev/null || true
    tap_pid=""
  fi
  # Closing our end of the control fifo tells test-postgres.ts to stop;
  # SIGTERM is the backup. Then wait for it so the data dir is gone before
  # we return.
  exec 3>&-
  if [ -n "$pg_pid" ]; then
    kill -TERM "$pg_pid" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
    pg_pid=""
  fi
  if [ -n "$work" ]; then
    rm -rf "$work"
    work=""
  fi
}

trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${DATABASE_URL:-}" ]; then
  echo "test: using the DATABASE_URL from the environment" >&2
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/deployer-test.XXXXXX")
  chmod 755 "$work"
  mkfifo "$work/ctl"
  : > "$work/url"
  chmod 600 "$work/url"

  node --import tsx scripts/test-postgres.ts --dir "$work/pg" <"$work/ctl" >"$work/url" &
  pg_pid=$!
  # Hold the fifo's write end open for as long as this script lives.
  exec 3>"$work/ctl"

  # Wait for the URL line (or for the helper to die).
  tries=0
  url=""
  while :; do
    url=$(head -n 1 "$work/url")
    case "$url" in
      postgres://*) break ;;
    esac
    if ! kill -0 "$pg_pid" 2>/dev/null; then
      wait "$pg_pid" 2>/dev/null || true
      pg_pid=""
      echo "test: could not start the test PostgreSQL (see the errors above)" >&2
      exit 1
    fi
    tries=$((tries + 1))
    if [ "$tries" -gt 1800 ]; then # 180 s
      echo "test: the test PostgreSQL did not become ready within 180 s" >&2
      exit 1
    fi
    sleep 0.1
  done
  DATABASE_URL=$url
  export DATABASE_URL
fi

# tap runs in the background so that a signal to this script is handled at
# once (the trap stops tap, then Postgres) instead of after tap finishes.
run_tap() {
  node_modules/.bin/tap "$@" &
  tap_pid=$!
  set +e
  wait "$tap_pid"
  rc=$?
  set -e
  tap_pid=""
  return "$rc"
}
started=$(date +%s)
if [ "$#" -eq 0 ]; then
  # The whole suite: the unit tests (no I/O, a few seconds each) two at a time,
  # then the integration and end-to-end tests one at a time (they share Docker
  # and Postgres and measure timings). Both runs always go; either failing fails.
  code=0
  run_tap --jobs=2 tests/unit/*.test.ts || code=$?
  run_tap --jobs=1 tests/integration/*.test.ts tests/e2e/*.test.ts || { rc=$?; [ "$code" -ne 0 ] || code=$rc; }
else
  code=0
  run_tap "$@" || code=$?
fi
# The plain closing line ("N passed, N failed") that CI reads, counted from tap's results.
node --import tsx scripts/test-summary.ts "$started" || true
exit "$code"
