#!/usr/bin/env bash
# `make run`: start secretsd in dev mode on 127.0.0.1:8420 with ./data and the
# example providers of ./plugins.conf. The admin token is printed once the
# server listens, and kept in data/admin.token.
set -euo pipefail
BIN=${1:-build/secretsd}
DATA=${SECRETSD_DATA:-./data}
LISTEN=${SECRETSD_LISTEN:-127.0.0.1:8420}
args=(dev --data-dir "$DATA" --listen "$LISTEN")
if [ -f plugins.conf ] && [ "${SECRETSD_PLUGINS:-1}" != 0 ]; then args+=(--plugins plugins.conf); fi
exec "$BIN" "${args[@]}"
