#!/usr/bin/env bash
# Install turbodicom on a fresh Debian/Ubuntu machine: the system build tools and codec
# libraries, and a virtualenv (.venv) holding turbodicom with its test extras and the peers
# that `turbodicom bench` compares against.  Safe to run again.
#
#   ./install.sh                what building, running and testing turbodicom need
#   ./install.sh --dev          also the fuzzing toolchain (clang, libclang-rt-dev: libFuzzer
#                               and the sanitizer runtimes; cmake, ninja-build: the builds
#                               of csrc/fuzz/run.py)
#   ./install.sh --system-only  only the Debian packages (with --dev: the toolchain too)
set -euo pipefail
cd "$(dirname "$0")"

DEV=0
SYSTEM_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    --system-only) SYSTEM_ONLY=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $arg (see ./install.sh --help)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
# Debian names libjpeg-turbo's headers libjpeg62-turbo-dev, Ubuntu libjpeg-turbo8-dev.
JPEG_DEV=libjpeg62-turbo-dev
if ! apt-cache show "$JPEG_DEV" >/dev/null 2>&1 && apt-cache show libjpeg-turbo8-dev \
    >/dev/null 2>&1; then
  JPEG_DEV=libjpeg-turbo8-dev
fi
APT_PACKAGES=(build-essential pkg-config python3-dev python3-venv
              libopenjp2-7-dev "$JPEG_DEV" libcharls-dev zlib1g-dev
              libopenjp2-tools)
if [ "$DEV" = 1 ]; then APT_PACKAGES+=(clang libclang-rt-dev cmake ninja-build); fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing system packages with apt: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
else
  echo "==> system packages: all present (${APT_PACKAGES[*]})"
fi
[ "$SYSTEM_ONLY" = 1 ] && exit 0

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating the virtualenv .venv ($("$PY" --version))"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "==> pip: turbodicom with its test extras and the peers bench compares against into .venv"
echo "    (downloads the peers on the first run; building turbodicom's C kernels takes about"
echo "    1-2 minutes, during which pip shows 'Building wheel for turbodicom ...')"
.venv/bin/python -m pip install --progress-bar on ".[test]"
.venv/bin/python -c "import turbodicom; print('==> turbodicom', turbodicom.__version__, 'installed in .venv')"
