"""Messages as rendered for a target: evidence masked as the target allows, HTML escaped."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from sqlalchemy import select

from dialtone.engine.evaluation import PolicyOutcome
from dialtone.engine.evidence.masking import Masker
from dialtone.engine.notifier_api import Target, notifiers
from dialtone.engine.notify.render import Renderer
from dialtone.engine.notify.routing import route_events
from dialtone.engine.notify_settings import NotifySettings, Rule, TargetSettings
from dialtone.engine.store.sync import record_evaluation
from dialtone.engine.store.tables import notify_outbox
from tests.storekit import POLICIES, PROVENANCE, Clock, evaluation, make_store, policy_set, snapshot

ZERO = "cost.zero-usage-lines"


class Quiet(Target):
    addressed = True


@pytest.fixture
def routed(tmp_path):
    notifiers.register("test-quiet", Quiet)
    clock = Clock(dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC))
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", clock)
    p = POLICIES[ZERO]
    out = PolicyOutcome(ZERO, p.title, p.category, p.severity, status="alarm", policy_hash=p.source_hash,
                        resource_type="lines", evidence_names=("owner.name", "owner.email", "number"),
                        sql="SELECT 1")
    reason = "<script>alert(1)</script> idle, call +1 555 123 4567"
    out.rows = pa.table({"resource_id": ["L1"], "reason": [reason],
                         "savings": [40.0], "savings_key": ["lines:L1"], "currency": ["USD"],
                         "owner.name": ["Liam Moreau"], "owner.email": ["liam@example.com"],
                         "number": ["+15551234567"]})
    out.evaluated = 1
    settings = NotifySettings(targets={"q": TargetSettings("q", "test-quiet", "masked", {})},
                              rules=(Rule(name="r", when=("new",), targets=("q",)),),
                              base_url="https://dialtone.test")
    snap = snapshot(tmp_path, "s1", store.today())
    record_evaluation(store, evaluation(snap, [out]), policy_set(ZERO), provenance=PROVENANCE,
                      route=lambda conn, eid: route_events(conn, settings, now=store.now_text(),
                                                           snapshot=snap, evaluation_id=eid))
    yield store, settings
    store.close()


def _render(store, settings, evidence: str):
    renderer = Renderer(settings, Masker(b"k" * 32))
    with store.read() as conn:
        row = conn.execute(select(notify_outbox)).one()
        return renderer.message(conn, row, TargetSettings("q", "test-quiet", evidence, {}))


def test_masked_evidence_shows_tokens_not_people(routed):
    store, settings = routed
    message = _render(store, settings, "masked")
    evidence = message.findings[0].evidence
    assert evidence["owner.name"].startswith("[name:") and evidence["owner.email"].startswith("[email:")
    assert evidence["number"].startswith("[phone:")
    for body in (message.text, message.html, str(message.payload)):
        assert "Liam" not in body and "liam@example.com" not in body and "555 123 4567" not in body


def test_full_and_none(routed):
    store, settings = routed
    assert _render(store, settings, "full").findings[0].evidence["owner.email"] == "liam@example.com"
    none = _render(store, settings, "none")
    assert none.findings[0].evidence == {} and "owner" not in none.text


def test_html_is_escaped_and_links_go_to_the_finding(routed):
    store, settings = routed
    message = _render(store, settings, "full")
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert "<script>alert(1)</script>" in message.text     # plain text is not HTML
    link = message.payload["findings"][0]["url"]
    assert link.startswith("https://dialtone.test/findings/") and f'href="{link}"' in message.html
    assert message.subject == f"[Dialtone] New {POLICIES[ZERO].severity} finding: {POLICIES[ZERO].title} — L1"
    assert message.payload["schema"] == "dialtone.notification/1" and message.payload["findings_total"] == 1
    assert [h["kind"] for h in message.payload["findings"][0]["history"]] == ["opened"]


def test_the_rendered_payload_is_the_documented_webhook_schema(routed):
    import json
    from pathlib import Path

    from jsonschema import Draft202012Validator

    store, settings = routed
    schema = json.loads((Path(__file__).resolve().parents[1] / "notifiers" / "schemas" /
                         "webhook-payload.json").read_text(encoding="utf-8"))
    for mode in ("masked", "full", "none"):
        payload = _render(store, settings, mode).payload
        Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(payload)
