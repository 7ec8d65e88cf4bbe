"""Delivery you can trust, end to end: `dialtone run` with a signed webhook whose receiver is down
for three runs, then up; a crash between recording and sending. The receiver is a real loopback
HTTP server that checks the signature with the documented receiver code."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import textwrap

import pytest
from click.testing import CliRunner
from werkzeug import Request, Response

from dialtone.engine.config import load_config
from dialtone.engine.runs import run_once
from tests.storekit import Clock, make_store

KEY = "hook-signing-key-0123456789"
PEOPLE = "id,name,email,employee_id,status,terminated_on\n" \
         "P1,Ada,ada@example.com,E001,active,\nP2,Bob,bob@example.com,E002,terminated,2025-01-01\n"
LINES = "id,kind,status,number,assigned_to,monthly_cost\n" + "".join(
    f"L{i},mobile,active,+1555123000{i},bob@example.com,40\n" for i in range(1, 4))


@pytest.fixture
def workspace(tmp_path, httpserver):
    for name, entity, body in (("hr", "people", PEOPLE), ("carrier", "lines", LINES)):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{entity}.csv").write_text(body, encoding="utf-8")
    (tmp_path / "hook-key").write_text(KEY, encoding="utf-8")
    (tmp_path / "dialtone.yaml").write_text(textwrap.dedent(f"""\
        sources:
          hr: {{collector: csv, path: ./hr}}
          carrier: {{collector: csv, path: ./carrier}}
        notifications:
          base_url: https://dialtone.test
          retry_seconds: 60
          targets:
            hook:
              type: webhook
              url: http://127.0.0.1:{httpserver.port}/hook
              secret_file: hook-key
          rules:
            - name: leavers
              match: {{policy: [cost.leaver-lines]}}
              when: [new]
              targets: [hook]
        """), encoding="utf-8")
    return tmp_path


class Receiver:
    """Answers 503 while ``down``; keeps every delivery it accepted, signature checked."""

    def __init__(self) -> None:
        self.down = True
        self.refused = 0
        self.accepted: list[dict] = []

    def __call__(self, request: Request) -> Response:
        if self.down:
            self.refused += 1
            return Response("maintenance", status=503)
        body = request.get_data()
        stamp = request.headers["X-Dialtone-Timestamp"]
        expected = "sha256=" + hmac.new(KEY.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, request.headers["X-Dialtone-Signature"])
        self.accepted.append({"delivery": int(request.headers["X-Dialtone-Delivery"]), **json.loads(body)})
        return Response(status=204)


def test_a_receiver_down_for_three_runs_gets_every_message_once_in_order(workspace, httpserver):
    receiver = Receiver()
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    config = load_config(workspace / "dialtone.yaml")
    clock = Clock(dt.datetime.now(dt.UTC))
    store = make_store(config.store_url, clock)
    try:
        for _ in range(3):
            outcome = run_once(config, store=store)
            assert outcome.notified.sent == 0 and outcome.notified.retrying == 1
            assert "HTTP 503" in outcome.notified.errors[0]
            clock.advance(hours=1)                   # past the backoff
        assert receiver.refused == 3                 # only the first message was tried, each run
        receiver.down = False
        outcome = run_once(config, store=store)
        assert outcome.notified.sent == 3
        clock.advance(hours=1)
        assert run_once(config, store=store).notified.sent == 0
    finally:
        store.close()
    deliveries = [m["delivery"] for m in receiver.accepted]
    assert deliveries == sorted(deliveries) and len(set(deliveries)) == 3
    assert [m["findings"][0]["resource"]["id"] for m in receiver.accepted] == ["L1", "L2", "L3"]
    assert all(m["kind"] == "new" and m["rule"] == "leavers" for m in receiver.accepted)


def test_a_crash_between_recording_and_sending_delivers_once_on_the_next_send(workspace, httpserver):
    receiver = Receiver()
    receiver.down = False
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    from dialtone.web.cli import cli

    runner = CliRunner()
    cfg = str(workspace / "dialtone.yaml")
    assert runner.invoke(cli, ["--config", cfg, "collect"]).exit_code == 0
    # `evaluate` records the findings and their messages, and sends nothing: as a run that died
    # right after recording.
    result = runner.invoke(cli, ["--config", cfg, "evaluate"])
    assert result.exit_code in (0, 1), result.output
    assert receiver.accepted == []
    listed = runner.invoke(cli, ["--config", cfg, "notify", "list", "--format", "json"])
    assert [r["status"] for r in json.loads(listed.stdout)] == ["pending"] * 3
    sent = runner.invoke(cli, ["--config", cfg, "notify", "send"])
    assert sent.exit_code == 0, sent.output
    assert "3 sent" in sent.stdout
    again = runner.invoke(cli, ["--config", cfg, "notify", "send"])
    assert "0 sent" in again.stdout
    assert len(receiver.accepted) == 3


def test_notify_test_sends_a_sample_and_names_unknown_targets(workspace, httpserver):
    receiver = Receiver()
    receiver.down = False
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    from dialtone.web.cli import cli

    runner = CliRunner()
    cfg = str(workspace / "dialtone.yaml")
    result = runner.invoke(cli, ["--config", cfg, "notify", "test", "hook"])
    assert result.exit_code == 0, result.output
    assert "hook: test message sent (HTTP 204)." in result.stdout
    [sample] = receiver.accepted
    assert sample["kind"] == "test" and sample["findings"] == []
    assert sample["subject"] == "[Dialtone] Test message"
    typo = runner.invoke(cli, ["--config", cfg, "notify", "test", "hok"])
    assert typo.exit_code == 2 and "No target named 'hok'. Did you mean 'hook'?" in typo.output
    receiver.down = True
    down = runner.invoke(cli, ["--config", cfg, "notify", "test", "hook"])
    assert down.exit_code == 2 and "HTTP 503" in down.output and KEY not in down.output
    log = runner.invoke(cli, ["--config", cfg, "audit", "log"])
    assert [line.split()[2] for line in log.stdout.splitlines()].count("notify_test") == 2


def test_a_dead_letter_is_retried_or_cancelled_from_the_command_line(workspace, httpserver):
    refusing = {"on": True}
    receiver = Receiver()
    receiver.down = False

    def handle(request: Request) -> Response:
        if refusing["on"]:
            return Response(json.dumps({"error": "unknown channel"}), status=404,
                            content_type="application/json")
        return receiver(request)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handle)
    from dialtone.web.cli import cli

    runner = CliRunner()
    cfg = str(workspace / "dialtone.yaml")
    assert runner.invoke(cli, ["--config", cfg, "collect"]).exit_code == 0
    runner.invoke(cli, ["--config", cfg, "evaluate"])
    sent = runner.invoke(cli, ["--config", cfg, "notify", "send"])
    assert sent.exit_code == 3 and "3 dead letters" in sent.stdout and "unknown channel" in sent.output
    dead = json.loads(runner.invoke(cli, ["--config", cfg, "notify", "list", "--status", "dead",
                                          "--format", "json"]).stdout)
    assert len(dead) == 3
    first, second, third = sorted(m["id"] for m in dead)
    refusing["on"] = False
    assert runner.invoke(cli, ["--config", cfg, "notify", "retry", str(first)]).exit_code == 0
    assert runner.invoke(cli, ["--config", cfg, "notify", "cancel", str(second)]).exit_code == 0
    assert "1 sent" in runner.invoke(cli, ["--config", cfg, "notify", "send"]).stdout
    assert [m["delivery"] for m in receiver.accepted] == [first]
    again = runner.invoke(cli, ["--config", cfg, "notify", "cancel", str(first)])
    assert again.exit_code == 1 and "sent already" in again.output
    statuses = {m["id"]: m["status"] for m in json.loads(
        runner.invoke(cli, ["--config", cfg, "notify", "list", "--format", "json"]).stdout)}
    assert statuses == {first: "sent", second: "cancelled", third: "dead"}


def test_a_routing_failure_never_loses_the_evaluation_and_the_next_send_routes_it(workspace, httpserver,
                                                                                   monkeypatch, caplog):
    receiver = Receiver()
    receiver.down = False
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    from dialtone.engine.notify import routing
    from dialtone.web.cli import cli

    real = routing.route_events

    def broken(*args, **kwargs):
        real(*args, **kwargs)                       # writes rows and moves the cursor...
        raise RuntimeError("routing bug")           # ... then fails: all of it must roll back

    monkeypatch.setattr(routing, "route_events", broken)
    runner = CliRunner()
    cfg = str(workspace / "dialtone.yaml")
    assert runner.invoke(cli, ["--config", cfg, "collect"]).exit_code == 0
    result = runner.invoke(cli, ["--config", cfg, "evaluate"])
    assert result.exit_code in (0, 1), result.output
    assert "routing evaluation 1 failed" in caplog.text
    listed = runner.invoke(cli, ["--config", cfg, "findings", "list", "--format", "json"])
    assert len([f for f in json.loads(listed.stdout) if f["policy_id"] == "cost.leaver-lines"]) == 3
    outbox = runner.invoke(cli, ["--config", cfg, "notify", "list", "--format", "json"])
    assert json.loads(outbox.stdout) == []
    monkeypatch.setattr(routing, "route_events", real)
    sent = runner.invoke(cli, ["--config", cfg, "notify", "send"])
    assert "3 sent" in sent.stdout, sent.output
    assert sorted(m["findings"][0]["resource"]["id"] for m in receiver.accepted) == ["L1", "L2", "L3"]
