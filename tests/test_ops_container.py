"""The container image's files, checked where no container engine runs (docs/operations.md):
compose.yaml against the Compose Specification's official JSON Schema (the copy check-jsonschema
ships and keeps up to date), the Dockerfile's shape, and docker/entrypoint.sh run as a plain
script against a temporary workspace, its `web` command serving a real waitress server.

Building and starting the image itself needs a container engine: docker/smoke.sh does it where
one runs (not in CI, where a skip would fail the build)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

import pytest
import yaml
from jsonschema.validators import validator_for

from dialtone.engine.store import Store
from dialtone.engine.store.backup import upgrade_to
from dialtone.engine.store.db import head_revision
from tests.test_ops_web import previous_revision

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
SCHEMA = json.loads((resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json")
                    .read_text(encoding="utf-8"))
Validator = validator_for(SCHEMA)


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


# -- compose.yaml ---------------------------------------------------------------------------------
def test_compose_file_validates_against_the_compose_specification_schema():
    Validator.check_schema(SCHEMA)
    errors = sorted(Validator(SCHEMA).iter_errors(compose()), key=lambda e: list(e.absolute_path))
    assert [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


def test_the_schema_is_live_a_wrong_compose_file_fails_it():
    broken = compose()
    broken["services"]["web"]["healthcheck"]["tets"] = ["CMD", "true"]          # a typo
    broken["services"]["web"]["depends_on"]["upgrade"]["condition"] = "service_finished"
    messages = [e.message for e in Validator(SCHEMA).iter_errors(broken)]
    assert messages, "the schema accepted a wrong compose file"


def test_compose_runs_postgresql_a_one_shot_upgrade_the_web_and_the_scheduler():
    services = compose()["services"]
    assert set(services) == {"db", "upgrade", "web", "scheduler"}
    assert services["db"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["upgrade"]["command"] == ["upgrade"] and services["upgrade"]["restart"] == "no"
    for name in ("web", "scheduler"):
        depends = services[name]["depends_on"]
        assert depends["upgrade"] == {"condition": "service_completed_successfully"}
        assert depends["db"] == {"condition": "service_healthy"}
        assert "data:/var/lib/dialtone" in services[name]["volumes"]
        # Secrets from files, never a password in the file.
        assert "postgres_password" in services[name]["secrets"]
        assert "password" not in services[name]["environment"]["DIALTONE_DATABASE_URL"]
        assert services[name]["environment"]["DIALTONE_DATABASE_PASSWORD_FILE"] == \
            "/run/secrets/postgres_password"
    assert services["scheduler"]["command"] == ["scheduler"]
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert compose()["secrets"]["postgres_password"] == {"file": "./secrets/postgres_password"}


def test_compose_closes_metrics_with_a_token_secret_and_publishes_on_loopback_only():
    services = compose()["services"]
    web = services["web"]
    assert web["secrets"] == ["postgres_password", "metrics_token"]
    assert web["environment"]["DIALTONE_METRICS_TOKEN_FILE"] == "/run/secrets/metrics_token"
    assert compose()["secrets"]["metrics_token"] == {"file": "./secrets/metrics_token"}
    # Only the web serves /metrics: the others do not get the token.
    for name in ("scheduler", "upgrade"):
        assert services[name]["secrets"] == ["postgres_password"]
        assert "DIALTONE_METRICS_TOKEN_FILE" not in services[name]["environment"]
    assert web["ports"] == ["127.0.0.1:8080:8080"]


def test_no_service_inherits_an_http_health_check_it_cannot_answer():
    """The image's one HEALTHCHECK is the entrypoint's, which knows the command; only `web`
    answers HTTP, so only the web's own check may poll a URL; the one-off upgrade has none."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    checks = re.findall(r"^HEALTHCHECK .*\n\s+CMD (.+)$", dockerfile, flags=re.M)
    assert checks == ['["dialtone-entrypoint", "healthcheck"]']
    services = compose()["services"]
    for name in ("scheduler", "upgrade"):
        test = " ".join(services[name].get("healthcheck", {}).get("test", []))
        assert "http" not in test and "healthz" not in test
    assert services["upgrade"]["healthcheck"] == {"disable": True}
    assert "healthcheck" not in services["scheduler"]      # the image's: its process


# -- Dockerfile -----------------------------------------------------------------------------------
def test_dockerfile_is_multi_stage_and_runs_slim_and_not_as_root():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert [s.splitlines()[0].split()[-1] for s in stages] == ["builder", "runtime"]
    runtime = stages[-1]
    assert "COPY --from=builder /opt/dialtone /opt/dialtone" in runtime
    user = re.findall(r"^USER (\S+)", runtime, flags=re.M)
    assert user and not user[-1].startswith(("0", "root"))
    # No compiler or package installation in the image that runs.
    assert not re.search(r"apt-get|apk add|gcc|build-essential|pip install", runtime)
    assert 'ENTRYPOINT ["dialtone-entrypoint"]' in runtime and 'CMD ["web"]' in runtime
    assert "docker/entrypoint.sh /usr/local/bin/dialtone-entrypoint" in runtime
    # The build context: everything excluded, then only the package's sources let back in.
    rules = [line for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    assert rules[0] == "*" and {"!engine/", "!web/", "!docker/", "!pyproject.toml"} <= set(rules)
    assert not any(rule.startswith(("!.git", "!tests", "!.venv", "!secrets")) for rule in rules)


# -- docker/entrypoint.sh outside a container ------------------------------------------------------
@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "dialtone.yaml").write_text(
        "data_dir: data\nsources: {}\nschedule: {cron: '0 2 * * *'}\nops: {log_format: json}\n",
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALTONE_")}
    env.update(DIALTONE_CONFIG=str(tmp_path / "dialtone.yaml"), DIALTONE_PYTHON=sys.executable,
               DIALTONE_HEALTH_FILE=str(tmp_path / "health"),
               DIALTONE_BIN=f"{sys.executable} -m dialtone.web.cli", PYTHONUNBUFFERED="1")
    return tmp_path, env


def entrypoint(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ENTRYPOINT), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_entrypoint_upgrade_creates_the_store_and_run_help_reaches_dialtone_run(workspace):
    tmp_path, env = workspace
    done = entrypoint(env, "upgrade")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"store schema: empty -> {head_revision()}"
    assert (tmp_path / "data" / "dialtone.db").exists()
    again = entrypoint(env, "upgrade")
    assert again.stdout.strip() == f"store schema already at {head_revision()}"

    shown = entrypoint(env, "run", "--help")
    assert shown.returncode == 0 and shown.stdout.startswith("Usage: dialtone run ")
    assert entrypoint(env, "scheduler", "--help").stdout.startswith("Usage: dialtone scheduler ")
    # Anything else goes to dialtone itself.
    status = entrypoint(env, "db", "status")
    assert status.returncode == 0 and f"schema: {head_revision()}" in status.stdout


def test_entrypoint_reads_secrets_from_files(workspace):
    tmp_path, env = workspace
    url_file = tmp_path / "db_url"
    url_file.write_text(f"sqlite:///{tmp_path / 'from-secret.db'}\n", encoding="utf-8")
    done = entrypoint({**env, "DIALTONE_DATABASE_URL_FILE": str(url_file)}, "upgrade")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-secret.db").exists()

    missing = entrypoint({**env, "DIALTONE_SECRET_KEY_FILE": str(tmp_path / "nope")}, "upgrade")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: DIALTONE_SECRET_KEY_FILE: cannot read {tmp_path / 'nope'}"


def test_entrypoint_puts_the_password_file_into_the_database_url(workspace):
    """PostgreSQL and Dialtone share one secret: its characters are URL-encoded into the URL."""
    tmp_path, env = workspace
    show = tmp_path / "show-url"
    show.write_text('#!/bin/sh\nprintf "%s" "$DIALTONE_DATABASE_URL"\n', encoding="utf-8")
    show.chmod(0o755)
    password = tmp_path / "postgres_password"
    password.write_text("p@ss/w:rd%\n", encoding="utf-8")
    done = entrypoint({**env, "DIALTONE_BIN": str(show),
                       "DIALTONE_DATABASE_URL": "postgresql+psycopg://dialtone@db:5432/dialtone",
                       "DIALTONE_DATABASE_PASSWORD_FILE": str(password)}, "anything")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "postgresql+psycopg://dialtone:p%40ss%2Fw%3Ard%25@db:5432/dialtone"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_entrypoint_web_serves_readyz_503_until_upgrade_then_200(workspace):
    """The image's web command against a store one migration behind: /healthz answers, /readyz
    says why it is not ready until `upgrade` runs beside it; then ready, without a restart."""
    tmp_path, env = workspace
    old = Store(f"sqlite:///{tmp_path / 'data' / 'dialtone.db'}", check=False)
    upgrade_to(old.writer, previous_revision())
    old.close()
    port = free_port()
    server = subprocess.Popen(["sh", str(ENTRYPOINT), "web"], env={**env, "DIALTONE_HOST": "127.0.0.1",
                                                                   "DIALTONE_PORT": str(port)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # waitress logs "Serving on ..." (as JSON: ops.log_format) once its socket listens.
        logged = []
        for line in server.stderr:
            logged.append(line)
            if "Serving on" in line:
                break
        assert server.poll() is None, "".join(logged)
        assert json.loads(logged[-1])["logger"] == "waitress"
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/healthz") == (200, {"status": "ok"})
        status, body = get(f"{base}/readyz")
        assert status == 503 and body["failed"] == ["schema"]

        # The image's health check for this container: /healthz, on loopback (it listens on the
        # address given); a command exec'd beside it (`upgrade` here) leaves its record alone.
        upgraded = entrypoint(env, "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        status, body = get(f"{base}/readyz")
        assert (status, body["status"]) == (200, "ready")
        health = entrypoint(env, "healthcheck")
        assert (health.returncode, health.stdout.strip()) == \
            (0, f"healthy: web answers 200 on http://127.0.0.1:{port}/healthz")
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
    health = entrypoint(env, "healthcheck")
    assert health.returncode == 1
    assert health.stdout.strip() == f"unhealthy: web (pid {server.pid}) is not running"


def test_entrypoint_healthcheck_of_a_web_that_does_not_answer_is_unhealthy(workspace):
    """A web process that runs but does not answer /healthz: the check says what it tried."""
    tmp_path, env = workspace
    port = free_port()                                  # nothing listens there
    stand_in = tmp_path / "stand-in"
    stand_in.write_text("#!/bin/sh\nexec sleep 600\n", encoding="utf-8")   # a process, not a server
    stand_in.chmod(0o755)
    process = subprocess.Popen(["sh", str(ENTRYPOINT), "web"],
                               env={**env, "DIALTONE_BIN": str(stand_in), "DIALTONE_PORT": str(port)})
    try:
        health = entrypoint(env, "healthcheck")
        while health.stdout.startswith("unhealthy: no command"):     # the record is written before exec
            health = entrypoint(env, "healthcheck")
        assert health.returncode == 1
        assert health.stdout.startswith(f"unhealthy: web: http://127.0.0.1:{port}/healthz: ")
        assert "Connection refused" in health.stdout
    finally:
        process.kill()
        process.wait(timeout=30)


def test_entrypoint_healthcheck_of_the_scheduler_is_its_process_not_http(workspace):
    """The scheduler answers no HTTP: healthy while `dialtone scheduler` runs, unhealthy once it
    has stopped; never a poll of :8080 that could only fail."""
    tmp_path, env = workspace
    assert entrypoint(env, "upgrade").returncode == 0
    missing = entrypoint({**env, "DIALTONE_HEALTH_FILE": str(tmp_path / "none")}, "healthcheck")
    assert (missing.returncode, missing.stdout.strip()) == \
        (1, f"unhealthy: no command started by this entrypoint ({tmp_path / 'none'} missing)")

    scheduler = subprocess.Popen(["sh", str(ENTRYPOINT), "scheduler"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # The scheduler says so once it has started (with its next run).
        logged = []
        for line in scheduler.stderr:
            logged.append(line)
            if "scheduler started" in line:
                break
        assert scheduler.poll() is None, "".join(logged)
        health = entrypoint(env, "healthcheck")
        assert (health.returncode, health.stdout.strip()) == \
            (0, f"healthy: scheduler (pid {scheduler.pid}) is running")
        # A one-off command exec'd in the same container does not take the record over.
        assert entrypoint(env, "db", "status").returncode == 0
        assert entrypoint(env, "healthcheck").stdout.startswith("healthy: scheduler")
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
        scheduler.stderr.close()
    health = entrypoint(env, "healthcheck")
    assert (health.returncode, health.stdout.strip()) == \
        (1, f"unhealthy: scheduler (pid {scheduler.pid}) is not running")
