#!/usr/bin/env bash
# Runs the whole test suite against SQLite and a throwaway PostgreSQL server that this script
# starts (initdb + pg_ctl in a temporary folder) and stops again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

find_pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return 0
  return 1
}
PG_BIN=$(find_pg_bin || true)
if [ -z "$PG_BIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "PostgreSQL server not found; installing Debian's postgresql package" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  PG_BIN=$(find_pg_bin)
fi
if [ -z "$PG_BIN" ]; then
  echo "error: no PostgreSQL server binaries (initdb, pg_ctl) found; install PostgreSQL" >&2
  exit 1
fi

# The web app's browser tests drive Debian's Chromium (test tools may not download browsers).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Chromium not found; installing Debian's chromium package for the browser tests" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
    || echo "warning: could not install chromium; the browser tests will be skipped" >&2
fi

PG_DIR=$(mktemp -d /tmp/undertow-pg.XXXXXX)
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root: run the server as the unprivileged postgres user.
  id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$PG_DIR"
  RUN_AS=(runuser -u postgres --)
fi
PG_PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap cleanup EXIT
"${RUN_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
"${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
export UNDERTOW_TEST_PG="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') running on port $PG_PORT for the tests" >&2

.venv/bin/python -m pytest -n 2 "$@"
