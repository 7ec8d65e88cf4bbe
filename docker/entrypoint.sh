#!/bin/sh
# The Dialtone image's entrypoint (docs/operations.md, "Container image").
#
#   web        the web application under waitress, on $DIALTONE_HOST:$DIALTONE_PORT (0.0.0.0:8080);
#              it starts even while the store's schema is behind and answers 503 (but /healthz)
#              until `upgrade` has run: `dialtone serve --wait-for-upgrade`
#   scheduler  the configured schedule: `dialtone scheduler`
#   run        one run now: `dialtone run`
#   upgrade    create the store or bring its schema up to date: `dialtone db upgrade`
#   anything else is passed to `dialtone` (e.g. `db backup /var/lib/dialtone/b.jsonl.gz`, `users add`)
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

# shellcheck disable=SC2086  # DIALTONE_BIN is split on spaces on purpose
case "$command" in
    web) exec $DIALTONE_BIN serve --host "${DIALTONE_HOST:-0.0.0.0}" --port "${DIALTONE_PORT:-8080}" \
              --wait-for-upgrade "$@" ;;
    scheduler) exec $DIALTONE_BIN scheduler "$@" ;;
    run) exec $DIALTONE_BIN run "$@" ;;
    upgrade) exec $DIALTONE_BIN db upgrade "$@" ;;
    *) exec $DIALTONE_BIN "$command" "$@" ;;
esac
