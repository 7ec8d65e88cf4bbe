#!/bin/sh
# The Dialtone image's entrypoint (docs/operations.md, "Container image").
#
#   web        the web application under waitress, on $DIALTONE_HOST:$DIALTONE_PORT (0.0.0.0:8080);
#              it starts even while the store's schema is behind and answers 503 (but /healthz)
#              until `upgrade` has run: `dialtone serve --wait-for-upgrade`
#   scheduler  the configured schedule: `dialtone scheduler`
#   run        one run now: `dialtone run`
#   upgrade    create the store or bring its schema up to date: `dialtone db upgrade`
#   healthcheck  the image's HEALTHCHECK: whether the command this container runs is healthy
#              (below); exit 0 healthy, 1 not
#   anything else is passed to `dialtone` (e.g. `db backup /var/lib/dialtone/b.jsonl.gz`, `users add`)
#
# Health by command: every container of the image inherits its one HEALTHCHECK, but only `web`
# answers HTTP. So each command records what it runs (the command, its process id, and for `web`
# the address) in $DIALTONE_HEALTH_FILE (default /run/dialtone/health, a folder of the image only
# its user may write; per container, never in the shared data volume), and `healthcheck` reads it: `web` is healthy when /healthz answers 200,
# every other command while its process runs (a scheduler that stops ends the container anyway;
# a one-off `run` or `upgrade` is healthy until it exits). No record: unhealthy, saying why.
#
# Secrets from files (Compose and Kubernetes secrets): for each of DIALTONE_DATABASE_URL,
# DIALTONE_SECRET_KEY and DIALTONE_METRICS_TOKEN, a variable of the same name ending in _FILE
# names a file holding the value. DIALTONE_DATABASE_PASSWORD_FILE puts the password in that file
# into DIALTONE_DATABASE_URL (so PostgreSQL and Dialtone share one secret). DIALTONE_BIN (default
# `dialtone`) is the command run, split on spaces (the tests run `python -m dialtone.web.cli`), and
# DIALTONE_PYTHON (default `python3`, the image's) the Python that reads the password file.
set -eu

fail() {
    echo "error: $*" >&2
    exit 2
}

# The health check first: it needs no secret, and runs every 30 seconds.
HEALTH_FILE=${DIALTONE_HEALTH_FILE:-/run/dialtone/health}
PYTHON=${DIALTONE_PYTHON:-python3}

if [ "${1:-}" = healthcheck ]; then
    [ -r "$HEALTH_FILE" ] || { echo "unhealthy: no command started by this entrypoint ($HEALTH_FILE missing)"; exit 1; }
    # The record's lines: command, process id, host, port (written below, before exec).
    { read -r ran; read -r pid; read -r host; read -r port; } < "$HEALTH_FILE"
    kill -0 "$pid" 2>/dev/null || { echo "unhealthy: $ran (pid $pid) is not running"; exit 1; }
    if [ "$ran" = web ]; then
        # Any-address listeners are reached on loopback.
        case "$host" in 0.0.0.0|::|"") host=127.0.0.1 ;; esac
        case "$host" in *:*) host="[$host]" ;; esac
        exec "$PYTHON" -c '
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=4) as answer:
        print(f"healthy: web answers {answer.status} on {sys.argv[1]}")
except Exception as exc:
    sys.exit(f"unhealthy: web: {sys.argv[1]}: {exc}")
' "http://$host:$port/healthz" 2>&1
    fi
    echo "healthy: $ran (pid $pid) is running"
    exit 0
fi

for var in DIALTONE_DATABASE_URL DIALTONE_SECRET_KEY DIALTONE_METRICS_TOKEN; do
    eval "file=\${${var}_FILE:-}"
    if [ -n "$file" ]; then
        [ -r "$file" ] || fail "${var}_FILE: cannot read $file"
        value=$(cat "$file")
        [ -n "$value" ] || fail "${var}_FILE: $file is empty"
        export "$var=$value"
        unset "${var}_FILE"
    fi
done

DIALTONE_BIN=${DIALTONE_BIN:-dialtone}

if [ -n "${DIALTONE_DATABASE_PASSWORD_FILE:-}" ]; then
    [ -r "$DIALTONE_DATABASE_PASSWORD_FILE" ] || fail "DIALTONE_DATABASE_PASSWORD_FILE: cannot read $DIALTONE_DATABASE_PASSWORD_FILE"
    [ -n "${DIALTONE_DATABASE_URL:-}" ] || fail "DIALTONE_DATABASE_PASSWORD_FILE needs DIALTONE_DATABASE_URL (without the password)"
    # The password is URL-encoded into the URL by SQLAlchemy, whatever characters it holds.
    DIALTONE_DATABASE_URL=$("${DIALTONE_PYTHON:-python3}" -c '
import sys
from sqlalchemy.engine import make_url
password = open(sys.argv[1], encoding="utf-8").read().strip()
if not password:
    sys.exit(f"error: DIALTONE_DATABASE_PASSWORD_FILE: {sys.argv[1]} is empty")
print(make_url(sys.argv[2]).set(password=password).render_as_string(hide_password=False))
' "$DIALTONE_DATABASE_PASSWORD_FILE" "$DIALTONE_DATABASE_URL") || exit 2
    export DIALTONE_DATABASE_URL
    unset DIALTONE_DATABASE_PASSWORD_FILE
fi

command=${1:-web}
[ $# -gt 0 ] && shift
# Before exec, so the process id recorded is the command's own; not over the record of a command
# still running (`docker compose exec web dialtone-entrypoint users list` is not the container's
# command). Best effort: a container whose /run/dialtone is read-only still runs (mount a tmpfs
# there with a read-only root file system), and its health check then says why it cannot tell.
recorded=$(sed -n 2p "$HEALTH_FILE" 2>/dev/null || true)
if [ -z "$recorded" ] || [ "$recorded" = "$$" ] || ! kill -0 "$recorded" 2>/dev/null; then
    printf '%s\n%s\n%s\n%s\n' "$command" "$$" "${DIALTONE_HOST:-0.0.0.0}" "${DIALTONE_PORT:-8080}" \
    > "$HEALTH_FILE" 2>/dev/null || echo "warning: cannot write $HEALTH_FILE: the health check will fail" >&2
fi

# shellcheck disable=SC2086  # DIALTONE_BIN is split on spaces on purpose
case "$command" in
    web) exec $DIALTONE_BIN serve --host "${DIALTONE_HOST:-0.0.0.0}" --port "${DIALTONE_PORT:-8080}" \
              --wait-for-upgrade "$@" ;;
    scheduler) exec $DIALTONE_BIN scheduler "$@" ;;
    run) exec $DIALTONE_BIN run "$@" ;;
    upgrade) exec $DIALTONE_BIN db upgrade "$@" ;;
    *) exec $DIALTONE_BIN "$command" "$@" ;;
esac
