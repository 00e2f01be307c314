#!/usr/bin/env bash
# Installs what secretsd needs to build, run and test, and nothing that is
# already there. Runs `apt-get update` once, and only when something is missing.
set -euo pipefail

APT_PKGS=(
  build-essential pkg-config clang libclang-rt-14-dev
  libevent-dev libjansson-dev libssl-dev libcurl4-openssl-dev
  libdb5.3-dev db5.3-util libcmocka-dev libinih-dev
  libpq-dev libmariadb-dev postgresql mariadb-server
  curl openssl
  libxml2-dev
)
PIP_PKGS=(pytest:pytest requests:requests jwt:pyjwt cryptography:cryptography
          openapi_spec_validator:openapi-spec-validator yaml:pyyaml
          "moto.server:moto[server]" schemathesis:schemathesis)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
pipmissing=()
for pair in "${PIP_PKGS[@]}"; do
  mod=${pair%%:*}; pkg=${pair#*:}
  "$PY" -c "import $mod" 2>/dev/null || pipmissing+=("$pkg")
done
if [ "${#pipmissing[@]}" -gt 0 ]; then
  echo "deps: pip installing ${pipmissing[*]}"
  "$PY" -m pip install -q --disable-pip-version-check "${pipmissing[@]}" 2>/dev/null \
    || "$PY" -m pip install -q --disable-pip-version-check --break-system-packages "${pipmissing[@]}"
fi
exit 0
