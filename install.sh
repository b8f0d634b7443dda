#!/usr/bin/env bash
# Install everything turbodicom needs on a fresh Debian/Ubuntu machine: the system build tools and
# codec libraries, and a virtualenv (.venv) holding turbodicom with its test extras and the peers
# that `turbodicom bench` compares against.  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_PACKAGES=(build-essential pkg-config python3-dev python3-venv
              libopenjp2-7-dev libjpeg62-turbo-dev libcharls-dev zlib1g-dev clang
              libclang-rt-dev libopenjp2-tools)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q ".[test]"
.venv/bin/python -c "import turbodicom; print('turbodicom', turbodicom.__version__, 'installed in .venv')"
