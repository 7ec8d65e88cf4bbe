"""Helpers for web tests: an app over a small store with one user per role."""

from __future__ import annotations

import datetime as dt
import re

from dialtone.engine.config import load_config
from dialtone.engine.store.accounts import add_user, create_token
from dialtone.engine.store.sync import record_evaluation
from dialtone.web.app import create_app
from tests.storekit import PROVENANCE, Clock, evaluation, make_store, outcome, policy_set, snapshot

PASSWORD = "a long enough passphrase"
ROLES = ("admin", "officer", "auditor")
HOSTILE = "<script>alert('x')</script>"
ZERO = "cost.zero-usage-lines"
ORPHAN = "cost.orphan-lines"


def build(tmp_path):
    (tmp_path / "dialtone.yaml").write_text("sources: {}\n", encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    clock = Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC))
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", clock)
    snap = snapshot(tmp_path, "S1", store.today())
    outs = [outcome(ZERO, ["L1", "L2", HOSTILE], reason=f"idle; named {HOSTILE}"), outcome(ORPHAN, ["L9"])]
    record_evaluation(store, evaluation(snap, outs), policy_set(ZERO, ORPHAN), provenance=PROVENANCE)
    for role in ROLES:
        add_user(store, role, role, PASSWORD)
    add_user(store, "officer2", "officer", PASSWORD)
    tokens = {role: create_token(store, role) for role in ROLES}
    app = create_app(config, store=store, testing=True, key="test-secret", secure_cookies=False)
    return app, store, tokens


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf(page.get_data(as_text=True))})
