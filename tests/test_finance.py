"""Savings by cost centre, vendor and policy; spend per period; renewals and notice deadlines."""

from __future__ import annotations

import datetime as dt

import pytest

from dialtone.engine.config import load_config
from dialtone.engine.finance import finance_report
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.store import Store
from dialtone.engine.store.accounts import add_user
from tests.conftest import write_csv
from tests.webkit import PASSWORD, login


@pytest.fixture
def finance_ws(runner, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dialtone.yaml").write_text("sources:\n  estate: {collector: csv, path: ./estate}\n")
    est = tmp_path / "estate"
    write_csv(est, "lines", ["id", "kind", "status", "number", "vendor", "monthly_cost", "currency",
                             "cost_center", "activated_on"],
              [["L1", "mobile", "active", "+15550000001", "Verizon", "40", "USD", "CC-1", "2024-01-01"],
               ["L2", "mobile", "active", "+15550000002", "Vodafone", "30", "EUR", "CC-2", "2024-01-01"]])
    # The carriers measured both lines every month: L1 last used in January, L2 never.
    months = [f"2026-{m:02d}" for m in range(1, 7)]
    write_csv(est, "usage",
              ["line_id", "period", "voice_minutes", "data_mb", "sms_count", "last_activity_on"],
              [["L1", "2026-01", "5", "40", "0", "2026-01-10"]]
              + [["L1", m, "0", "0", "0", ""] for m in months[1:]]
              + [["L2", m, "0", "0", "0", ""] for m in months])
    write_csv(est, "accounts", ["id", "vendor", "account_number"], [["A1", "Verizon", "111"]])
    write_csv(est, "invoices", ["id", "account_id", "invoice_number", "period", "total", "currency"],
              [["I1", "A1", "111-1", "2026-05", "100", "USD"], ["I2", "A1", "111-2", "2026-06", "80", "USD"]])
    write_csv(est, "charges", ["id", "invoice_id", "line_id", "amount", "currency", "period_start"],
              [["C1", "I1", "L1", "60", "USD", "2026-05-01"], ["C2", "I1", "", "40", "USD", "2026-05-01"]])
    write_csv(est, "contracts", ["id", "vendor", "started_on", "ends_on", "auto_renew", "notice_days"],
              [["K1", "Verizon", "2024-01-01", "2026-08-15", "true", "60"],
               ["K2", "Vodafone", "2024-01-01", "2026-12-31", "false", "30"],
               ["K3", "AT&T", "2020-01-01", "2026-01-31", "false", "30"]])
    assert runner.invoke(cli, ["collect", "--as-of", "2026-06-30"]).exit_code == 0
    assert runner.invoke(cli, ["evaluate", "--policy", "cost.zero-usage-lines"]).exit_code == 0
    return tmp_path


def test_savings_spend_and_renewals(finance_ws):
    config = load_config(finance_ws / "dialtone.yaml")
    store = Store.from_config(config)
    snapshot = SnapshotStore(config.data_dir).get(None)
    report = finance_report(store, snapshot, dt.date(2026, 6, 30))
    by_cc = {(r["name"], r["currency"]): r for r in report.savings_by["cost_center"]}
    # L2 measured nothing all year and L1 nothing since January: both idle lines, each in its currency.
    assert by_cc[("CC-1", "USD")]["identified"] == pytest.approx(480.0)
    assert by_cc[("CC-2", "EUR")]["identified"] == pytest.approx(360.0)
    assert {r["name"] for r in report.savings_by["vendor"]} == {"Verizon", "Vodafone"}
    spend = [(r["period"], r["total"]) for r in report.spend_by_vendor]
    assert spend == [("2026-06", 80.0), ("2026-05", 100.0)]
    assert {(r["cost_center"], r["total"]) for r in report.spend_by_cost_center} == {
        ("CC-1", 60.0), ("(unallocated)", 40.0)}
    assert [(r["id"], str(r["notice_deadline"]), r["state"]) for r in report.renewals] == [
        ("K1", "2026-06-16", "notice deadline passed"), ("K2", "2026-12-01", "upcoming")]
    store.close()


def test_the_savings_page_renders_for_every_role(finance_ws, monkeypatch):
    from dialtone.web.app import create_app

    config = load_config(finance_ws / "dialtone.yaml")
    store = Store.from_config(config)
    add_user(store, "auditor", "auditor", PASSWORD)
    app = create_app(config, store=store, testing=True, key="k", secure_cookies=False)
    client = app.test_client()
    assert client.get("/savings").status_code == 302
    assert login(client, "auditor").status_code == 302
    html = client.get("/savings").get_data(as_text=True)
    assert "Savings by cost centre" in html and "CC-1" in html and "notice deadline passed" in html
    store.close()
