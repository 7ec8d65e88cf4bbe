#!/usr/bin/env bash
# Start a throw-away PostgreSQL on loopback for the store tests and print its URL.
# Usage: eval "$(.ci/postgres.sh)"   (exports DIALTONE_TEST_DATABASE_URL)
set -euo pipefail
PORT="${PGPORT_TEST:-55432}"
DIR="${PGDATA_TEST:-/tmp/dialtone-ci-pg}"
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
RUN_AS=()
if [ "$(id -u)" = 0 ]; then RUN_AS=(runuser -u postgres --); fi
if ! "${RUN_AS[@]}" "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q 2>/dev/null; then
    rm -rf "$DIR" && mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    "${RUN_AS[@]}" "$BIN/initdb" -D "$DIR/data" -U dialtone --auth=trust -E UTF8 >/dev/null
    "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off" start >&2
    "${RUN_AS[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U dialtone dialtone_test
fi
echo "export DIALTONE_TEST_DATABASE_URL=postgresql+psycopg://dialtone@127.0.0.1:$PORT/dialtone_test"
