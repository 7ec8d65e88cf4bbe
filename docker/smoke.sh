#!/bin/sh
# Build the image and smoke-test it with Compose, where a container engine runs
# (docs/operations.md, "Testing the image"). CI has none: it validates compose.yaml against the
# Compose Specification's schema and runs docker/entrypoint.sh outside a container instead
# (tests/test_ops_container.py).
#
#   docker/smoke.sh            # from the repository's root; exit 0 when every check passed
#
# It builds `dialtone:smoke`, checks the image runs as a non-root user and answers `--help`,
# then starts compose.yaml under a throw-away project name on port $SMOKE_PORT (18080), waits
# for every service to be healthy (the web's healthcheck is /readyz, the scheduler's its process),
# checks /healthz, /readyz and /metrics (401 without the token, 200 with it), and removes the
# project and its volumes again.
set -eu
cd "$(dirname "$0")/.."
PORT=${SMOKE_PORT:-18080}
PROJECT=dialtone-smoke-$$

docker info >/dev/null 2>&1 || { echo "docker/smoke.sh: no container engine reachable (docker info failed)" >&2; exit 2; }

docker build -t dialtone:smoke .
user=$(docker run --rm --entrypoint id dialtone:smoke -u)
[ "$user" != 0 ] || { echo "FAIL: the image runs as root" >&2; exit 1; }
docker run --rm dialtone:smoke --help | grep -q "Usage: dialtone" || { echo "FAIL: dialtone --help" >&2; exit 1; }
docker run --rm dialtone:smoke run --help | grep -q "Usage: dialtone run" || { echo "FAIL: run --help" >&2; exit 1; }

work=$(mktemp -d)
cleanup() {
    docker compose -p "$PROJECT" -f "$work/compose.yaml" down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
cp compose.yaml "$work/compose.yaml"
mkdir -p "$work/secrets"
python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$work/secrets/postgres_password"
python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$work/secrets/metrics_token"
# The image just built, on a free port, without building again in the copy's folder.
sed -i -e "s#^  build: \.#  build: $(pwd)#" -e "s#image: dialtone:latest#image: dialtone:smoke#" \
    -e "s#\"127.0.0.1:8080:8080\"#\"127.0.0.1:$PORT:8080\"#" "$work/compose.yaml"

docker compose -p "$PROJECT" -f "$work/compose.yaml" up -d --wait --wait-timeout 180
curl -fsS "http://127.0.0.1:$PORT/healthz" | grep -q '"ok"' || { echo "FAIL: /healthz" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$PORT/readyz" | grep -q '"ready"' || { echo "FAIL: /readyz" >&2; exit 1; }
status=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics")
[ "$status" = 401 ] || { echo "FAIL: /metrics without the token answered $status, not 401" >&2; exit 1; }
curl -fsS -H "Authorization: Bearer $(cat "$work/secrets/metrics_token")" "http://127.0.0.1:$PORT/metrics" \
    | grep -q '^# TYPE dialtone_findings gauge' || { echo "FAIL: /metrics" >&2; exit 1; }
health=$(docker inspect -f '{{.State.Health.Status}}' "$(docker compose -p "$PROJECT" -f "$work/compose.yaml" ps -q scheduler)")
[ "$health" = healthy ] || { echo "FAIL: the scheduler is $health" >&2; exit 1; }
docker compose -p "$PROJECT" -f "$work/compose.yaml" run --rm upgrade | grep -q "already at" \
    || { echo "FAIL: a second upgrade" >&2; exit 1; }
echo "smoke test passed: image dialtone:smoke, compose project $PROJECT"
