#!/bin/sh
# npm start: install dependencies if needed, make sure a Docker engine answers
# (scripts/ensure-docker.sh), then run the deployer server.
# server.ts reads HOST, PORT, DATABASE_URL and DEPLOYER_DATA_DIR from the
# environment.
set -eu

cd "$(dirname "$0")/.."

sh scripts/ensure-deps.sh
sh scripts/ensure-docker.sh

if [ ! -f server.ts ]; then
  echo "start: server.ts is missing in $(pwd)" >&2
  exit 1
fi

# start.mjs runs server.ts from a bundle of the sources (made again when one changes): about
# 1.5 s sooner up than through tsx; DEPLOYER_NO_BUNDLE=1 runs the sources through tsx
exec node start.mjs "$@"
