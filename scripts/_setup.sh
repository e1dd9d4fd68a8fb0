#!/usr/bin/env bash
# Shared setup for scripts/up and scripts/test: Debian packages listed in deps/,
# then a virtualenv in .venv with Sluice installed (editable) and the given extras.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  local list="$1" pkgs missing=()
  pkgs=$(grep -v '^\s*#' "$list" | grep -v '^\s*$' || true)
  for p in $pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

venv_install() {
  local extras="$1"
  local py="${PYTHON:-python3}"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".${extras}"
}
