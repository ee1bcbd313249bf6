#!/usr/bin/env bash
# Installs everything Undertow and its tests need into ./.venv (idempotent, quick when done).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: Undertow needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# vPDQ (video hashing) builds against FFmpeg's development libraries: install them from Debian
# when we can (root with apt-get); without them Undertow still works, hashing videos exactly.
need_ffmpeg_dev() {
  ! pkg-config --exists libavcodec libavformat libswscale 2>/dev/null
}
if need_ffmpeg_dev && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing FFmpeg development packages for vPDQ (Debian)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      pkg-config libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
      libavdevice-dev libavfilter-dev >/dev/null) || echo "note: could not install FFmpeg development packages" >&2
fi
if [ ! -f .setup-stamp ] || [ pyproject.toml -nt .setup-stamp ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,video]'; then
    echo "note: vpdq could not be built; videos get exact hashes only (see docs/user-guide.md)" >&2
  fi
  touch .setup-stamp
fi
