#!/bin/sh
# Make sure node_modules matches package-lock.json.
#
# Runs `npm ci` when node_modules is missing, or when the sha256 of
# package-lock.json differs from the stamp written after the last successful
# `npm ci` (node_modules/.deployer-lock-sha). A missing stamp counts as a
# difference, so a node_modules of unknown origin gets reinstalled once.
#
# Usage: sh scripts/ensure-deps.sh   (from anywhere; it works in the repo root)
set -eu

cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1; then
  echo "ensure-deps: node is not on PATH (deployer needs Node >= 20)" >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "ensure-deps: npm is not on PATH" >&2
  exit 1
fi
if [ ! -f package-lock.json ]; then
  echo "ensure-deps: package-lock.json is missing in $(pwd)" >&2
  exit 1
fi

lock_sha() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum package-lock.json | cut -d' ' -f1
  else
    node -e 'process.stdout.write(require("node:crypto").createHash("sha256").update(require("node:fs").readFileSync("package-lock.json")).digest("hex"))'
  fi
}

stamp=node_modules/.deployer-lock-sha
want=$(lock_sha)

if [ -d node_modules ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if [ ! -d node_modules ]; then
  echo "ensure-deps: node_modules is missing; running npm ci" >&2
elif [ ! -f "$stamp" ]; then
  echo "ensure-deps: no install stamp in node_modules; running npm ci" >&2
else
  echo "ensure-deps: package-lock.json changed since the last install; running npm ci" >&2
fi

# npm's own output goes to stderr so that callers' stdout stays clean.
if ! npm ci --no-audit --no-fund 1>&2; then
  echo "ensure-deps: npm ci failed" >&2
  exit 1
fi

# tap compiles its Test class from the plugin list in package.json ("tap"
# key; we drop @tapjs/typescript and run TypeScript through tsx). A fresh
# install has the default build, and tap only rebuilds it in the middle of a
# run, too late for that run's own test processes, so build it now.
if ! node_modules/.bin/tap build 1>&2; then
  echo "ensure-deps: tap build failed" >&2
  exit 1
fi

printf '%s\n' "$want" > "$stamp"
