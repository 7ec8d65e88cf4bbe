"""Money per currency, one function for every figure (engine/store/claims.py ``savings_by_state``):
the dashboard, the savings page, its rows, CSV and drill-downs, the evaluation page, the CLI's
summaries (``demo``, ``evaluate``) and the findings CSV agree to the cent, and never add
currencies. Also the posture page's honest empty states, its requirements per framework, and
the evaluations, runs and snapshots pages' values (issue 17)."""

from __future__ import annotations

import csv
import datetime as dt
import html as htmllib
import io
import re
from types import SimpleNamespace

import pytest

from dialtone.engine.store.accounts import add_user, set_password
from tests.webkit import PASSWORD, login, opened_by_first_evaluation

AMOUNT = re.compile(r"\b([A-Z]{3}|\(unknown\)) (-?[\d,]+\.\d\d)\b")


def totals_in(text: str) -> dict[str, float]:
    """``EUR 2,612.49, GBP 3,587.59`` (or the same spread over tags) as ``{"EUR": 2612.49, ...}``."""
    plain = htmllib.unescape(re.sub(r"<[^>]+>", " ", text))
    out: dict[str, float] = {}
    for currency, amount in AMOUNT.findall(plain):
        assert currency not in out, f"{currency} shown twice in {plain!r}"
        out[currency] = float(amount.replace(",", ""))
    return out


def _demo(tmp_path, runner, cli) -> SimpleNamespace:
    """`dialtone demo --no-serve` (seed 7) as a user runs it; an auditor and an officer who can sign in."""
    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store
    from dialtone.web.app import create_app

    workdir = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--dir", str(workdir), "--no-serve"])
    assert result.exit_code == 0, result.output
    config = load_config(workdir / "dialtone.yaml")
    store = Store.from_config(config)
    for name in ("auditor", "officer", "officer2"):
        set_password(store, name, PASSWORD)
    app = create_app(config, store=store, testing=True, key="k", secure_cookies=False)
    client = app.test_client()
    assert login(client, "auditor").status_code == 302
    return SimpleNamespace(workdir=workdir, config=config, store=store, client=client, output=result.output)


@pytest.fixture
def demo(tmp_path, runner, cli):
    ws = _demo(tmp_path, runner, cli)
    yield ws
    ws.store.close()


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def dashboard_tiles(client) -> tuple[dict, dict]:
    cards = re.findall(r'<a class="card money"[^>]*>(.*?)</a>', page(client, "/"), re.S)
    assert len(cards) == 2 and "identified" in cards[0] and "realised" in cards[1]
    return totals_in(cards[0].split("identified")[0]), totals_in(cards[1].split("realised")[0])


def savings_row(html: str, label: str) -> dict[str, float]:
    """The top table of /savings: the row of one state, per currency."""
    table = re.search(r'<table class="money-totals[^"]*">(.*?)</table>', html, re.S).group(1)
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        head = re.search(r"<th scope=\"row\">(.*?)<small>", row, re.S)
        if head and head.group(1).strip() == label:
            return totals_in(row.split("</th>", 1)[1])
    raise AssertionError(f"no {label!r} row")


def cli_summary(output: str) -> tuple[dict, dict]:
    line = re.search(r"Savings a year after evaluation \d+: identified (.*?); realised (.*?) \(", output)
    assert line, output
    return totals_in(line.group(1)), totals_in(line.group(2))


def evaluation_savings(client, evaluation_id: int) -> tuple[dict, dict]:
    html = page(client, f"/evaluations/{evaluation_id}")
    found = re.search(r"<dt>Savings after it</dt><dd>identified (.*?); realised (.*?) \(", html, re.S)
    assert found, html
    return totals_in(found.group(1)), totals_in(found.group(2))


def test_the_dashboard_the_savings_page_the_evaluation_page_and_the_cli_summary_agree_per_currency(demo):
    identified, realised = cli_summary(demo.output)
    # The seed-7 demo claims money in three currencies, each kept apart.
    assert set(identified) == {"EUR", "GBP", "USD"} and realised == {}
    assert dashboard_tiles(demo.client) == (identified, realised)
    savings = page(demo.client, "/savings")
    assert savings_row(savings, "Identified") == identified
    assert savings_row(savings, "Not started") == identified    # nobody has started on any yet
    assert savings_row(savings, "Realised") == {} and savings_row(savings, "Excepted") == {}
    assert evaluation_savings(demo.client, 1) == (identified, realised)
    # The list of evaluations shows the same figure, with its units.
    assert totals_in(re.search(r"<td class=\"nowrap\">([^<]*[A-Z]{3} [^<]*)</td></tr>",
                               page(demo.client, "/evaluations")).group(1)) == identified


def test_the_dashboard_the_savings_page_the_cli_summary_and_the_findings_csv_agree_per_currency_on_the_demo(
        demo):
    """The findings CSV's ``savings_counted`` (yes: the finding carries its object's money in the
    totals) with its ``currency``: summed, the same figures (the CSV columns come from issue 17's
    triage work)."""
    identified, _ = cli_summary(demo.output)
    assert dashboard_tiles(demo.client)[0] == identified
    assert savings_row(page(demo.client, "/savings"), "Identified") == identified
    rows = list(csv.DictReader(io.StringIO(page(demo.client, "/findings?format=csv&all=1"))))
    assert rows and {"savings", "currency", "savings_counted"} <= set(rows[0]), list(rows[0])
    from_csv: dict[str, float] = {}
    for r in rows:
        if r["savings_counted"] == "yes" and r["status"].replace(" ", "_") in ("open", "in_progress"):
            from_csv[r["currency"]] = from_csv.get(r["currency"], 0.0) + float(r["savings"].replace(",", ""))
    assert {c: round(v, 2) for c, v in from_csv.items()} == identified


def _act_on_the_demo(store) -> dict[str, int]:
    """An officer's morning on the demo: one finding in progress, one resolved by hand, one
    excepted (approved by a second officer). Returns the finding ids, by what happened."""
    from sqlalchemy import text

    from dialtone.engine.store import workflow
    from dialtone.engine.store.exceptions import ExceptionSpec, decide, request

    with store.read() as conn:
        # Findings with money, each the only claim on its object, in three policies.
        picked = conn.execute(text("""
            SELECT min(f.id), f.policy_id FROM findings f
            WHERE f.savings > 0 AND (SELECT count(*) FROM findings g
                                     WHERE g.savings_key = f.savings_key) = 1
            GROUP BY f.policy_id ORDER BY f.policy_id LIMIT 3""")).all()
        resources = {fid: conn.execute(text("SELECT resource_id FROM findings WHERE id = :i"),
                                       {"i": fid}).scalar() for fid, _ in picked}
    (working, _), (fixed, _), (accepted, accepted_policy) = picked
    audit = workflow.audit_writer(store, "test")
    workflow.assign(store, working, "officer", "officer", audit)
    workflow.resolve_manual(store, fixed, "line cancelled with the carrier", "officer", audit)
    spec = ExceptionSpec(accepted_policy, "kept for the alarm panel", store.today() + dt.timedelta(days=30),
                         "officer", resources=(resources[accepted],))
    decide(store, request(store, spec, audit=audit), "approve", "officer2", None, audit=audit)
    with store.read() as conn:
        statuses = dict(conn.execute(text("SELECT id, status FROM findings WHERE id IN (:a, :b, :c)"),
                                     {"a": working, "b": fixed, "c": accepted}).all())
    assert statuses == {working: "in_progress", fixed: "resolved", accepted: "excepted"}
    return {"in_progress": working, "realised": fixed, "excepted": accepted}


def test_savings_are_split_by_state_and_every_row_cell_and_drill_down_adds_up(demo, runner, cli,
                                                                              monkeypatch):
    from sqlalchemy import text

    from dialtone.engine.store import claims
    from dialtone.engine.store.claims import carriers_among, savings_by_state

    acted = _act_on_the_demo(demo.store)
    with demo.store.read() as conn:
        money = savings_by_state(conn)
        every = [r[0] for r in conn.execute(text("SELECT id FROM findings"))]
        carriers = carriers_among(conn, every)
        # A whole download ranks every claim in one pass: the same carriers.
        monkeypatch.setattr(claims, "ONE_PASS_ABOVE", 10)
        assert carriers_among(conn, every) == carriers
        assert carriers_among(conn, every[:5]) == carriers & set(every[:5])
        carried = conn.execute(text("SELECT id, status, savings, currency FROM findings")).all()
    for state in ("in_progress", "excepted", "realised"):
        assert money[state], state
    # The carriers of the money, summed per state and currency, are the totals.
    state_of = {"open": "open", "in_progress": "in_progress", "resolved": "realised", "excepted": "excepted"}
    summed: dict[str, dict[str, float]] = {}
    for fid, status, amount, currency in carried:
        if fid in carriers:
            bucket = summed.setdefault(state_of[status], {})
            bucket[currency] = bucket.get(currency, 0.0) + amount
    for state in ("open", "in_progress", "excepted", "realised"):
        assert {c: round(v, 2) for c, v in summed.get(state, {}).items() if v} == money[state], state

    html = page(demo.client, "/savings")
    for label, state in (("Not started", "open"), ("In progress", "in_progress"),
                         ("Identified", "identified"), ("Excepted", "excepted"), ("Realised", "realised")):
        assert savings_row(html, label) == money[state], label
    assert dashboard_tiles(demo.client) == (money["identified"], money["realised"])
    assert "<strong>Realised</strong> means every finding on the object is resolved" in html

    # The CSV of the rows: per breakdown, its rows add up to the totals, state by state.
    rows = list(csv.DictReader(io.StringIO(page(demo.client, "/savings.csv"))))
    for breakdown in ("cost centre", "vendor", "policy"):
        for column, state in (("not_started", "open"), ("in_progress", "in_progress"),
                              ("excepted", "excepted"), ("realised", "realised"),
                              ("identified", "identified")):
            got: dict[str, float] = {}
            for r in rows:
                if r["breakdown"] == breakdown:
                    got[r["currency"]] = got.get(r["currency"], 0.0) + float(r[column])
            assert {c: round(v, 2) for c, v in got.items() if round(v, 2)} == money[state], (breakdown, state)

    # Each cell links to the findings behind it, whose savings add up to the cell.
    cells = re.findall(r'<a href="(/savings/findings\?by=cost_center[^"]*)">([A-Z]{3}) ([\d,]+\.\d\d)</a>',
                       html)
    assert len(cells) > 20
    for href, currency, amount in cells[:8] + cells[-4:]:
        listed = page(demo.client, htmllib.unescape(href))
        shown = re.findall(r'<td class="num nowrap">([A-Z]{3}) ([\d,]+\.\d\d)</td>', listed)
        assert shown and {c for c, _ in shown} == {currency}
        assert round(sum(float(a.replace(",", "")) for _, a in shown), 2) == float(amount.replace(",", ""))
        assert re.search(r'href="/findings/\d+"', listed)
    # The excepted finding is behind the excepted savings, and the resolved one behind the realised.
    for state, fid in acted.items():
        assert f'href="/findings/{fid}"' in page(demo.client, f"/savings/findings?state={state}"), state

    # A new evaluation recorded from the CLI prints what the store then holds: the same figures
    # as its evaluation page and the dashboard.
    result = runner.invoke(cli, ["--config", str(demo.workdir / "dialtone.yaml"), "evaluate",
                                 "--format", "json", "--output", str(demo.workdir / "again.json")])
    assert result.exit_code == 0, result.output
    said = re.search(r"savings a year after it: identified (.*?); excepted (.*?); realised (.*?) \(",
                     result.output)
    assert said, result.output
    identified, excepted, realised = (totals_in(g) for g in said.groups())
    assert evaluation_savings(demo.client, 2) == (identified, realised)
    assert dashboard_tiles(demo.client) == (identified, realised)
    assert excepted == savings_by_state_now(demo.store)["excepted"]


def savings_by_state_now(store) -> dict:
    from dialtone.engine.store.claims import savings_by_state

    with store.read() as conn:
        return savings_by_state(conn)


def test_the_savings_page_folds_old_spend_states_missing_commitments_and_refuses_unknown_rows(demo):
    html = page(demo.client, "/savings")
    assert "Savings by cost centre" in html and "Cost center" not in html
    # One row per cost centre, its currencies side by side.
    table = re.search(r'aria-label="Savings by cost centre".*?</table>', html, re.S).group(0)
    names = re.findall(r'<th scope="row">([^<]+)</th>', table)
    assert len(names) == len(set(names)) > 10 and names[-1] == "no cost centre"
    assert re.search(r'<th scope="col" class="num">EUR</th><th scope="col" class="num">GBP</th>'
                     r'<th scope="col" class="num">USD</th>', table)
    # Spend: the latest periods shown, the rest folded away.
    assert html.count("<details>") == 2 and "The other rows and earlier periods" in html
    # A contract with no commitment amount says so, never a bare currency.
    renewals = re.search(r'aria-label="Contract renewals".*?</table>', html, re.S).group(0)
    assert "not stated" in renewals and not re.search(r'<td class="num nowrap">\s*[A-Z]{3}\s*</td>', renewals)
    refused = demo.client.get("/savings/findings?by=team&name=x")
    assert refused.status_code == 400
    assert "Choose a row of the savings page" in refused.get_data(as_text=True)
    assert demo.client.get("/savings/findings?state=pending").status_code == 400
    # A row name or currency longer than any there can be is refused, not searched for.
    assert demo.client.get("/savings/findings?by=vendor&name=" + "x" * 5000).status_code == 400
    assert demo.client.get("/savings/findings?currency=" + "Y" * 50).status_code == 400
    csv_response = demo.client.get("/savings.csv")
    assert csv_response.mimetype == "text/csv"
    assert "savings.csv" in csv_response.headers["Content-Disposition"]


def test_posture_groups_requirements_per_framework_and_its_tiles_say_what_they_count(demo):
    html = page(demo.client, "/")
    # Open findings: the tile counts open and in-progress, and its link lists the same.
    tile = re.search(r'<a class="card" href="([^"]+)"><span class="big">([\d,]+)</span> open findings', html)
    assert tile and "status=open" in tile.group(1) and "status=in_progress" in tile.group(1)
    listed = page(demo.client, htmllib.unescape(tile.group(1)))
    assert tile.group(2) == f"{opened_by_first_evaluation(demo.store):,}" and listed
    # Requirements folded per framework, with titles and counts per state.
    groups = re.findall(r'<details class="framework">\s*<summary>(.*?)</summary>', html, re.S)
    assert len(groups) >= 10
    assert any("Investment Advisers Act Rule 204-2" in g and "advisers-204-2" in g for g in groups)
    assert all(re.search(r"\d+ (not satisfied|satisfied|out of scope|not evaluated|not covered|excepted)", g)
               for g in groups)
    # A trend of one evaluation draws its point and says a trend needs two.
    assert "<circle" in html and "a trend needs two evaluations" in html and "<polyline" not in html
    # Freshness: when collected, and the date the data is as of.
    assert re.search(r"collected [^<;]+ ago; data as of 2026-06-30", html)


def test_before_any_evaluation_the_posture_page_says_not_evaluated_yet(tmp_path):
    from dialtone.engine.config import load_config
    from dialtone.web.app import create_app
    from tests.storekit import Clock, make_store

    (tmp_path / "dialtone.yaml").write_text("sources: {}\n", encoding="utf-8")
    clock = Clock(dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC))
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", clock)
    add_user(store, "auditor", "auditor", PASSWORD)
    app = create_app(load_config(tmp_path / "dialtone.yaml"), store=store, testing=True, key="k",
                     secure_cookies=False)
    client = app.test_client()
    login(client, "auditor")
    html = page(client, "/")
    cards = re.search(r'<section class="cards".*?</section>', html, re.S).group(0)
    assert cards.count("not evaluated yet") == 2
    # No reassuring zeros for findings, overdue or savings.
    assert not re.search(r'<span class="big">0</span> (open findings|overdue)', cards) and "none" not in cards
    # Each requirement's state, and the counts per state of each framework.
    states = [re.sub(r"^[\d,]+ ", "", s)
              for s in re.findall(r'<span class="state s-[\w-]+">([^<]+)</span>', html)]
    assert states and set(states) <= {"not evaluated", "out of scope"} and "not evaluated" in states
    assert "Not evaluated yet" in html and "<svg" not in html
    evaluations = page(client, "/evaluations")
    assert "Not evaluated yet" in evaluations
    assert "No savings yet" in page(client, "/savings")
    store.close()


def test_evaluation_pages_show_people_values_and_link_policies_findings_and_runs(demo):
    listing = page(demo.client, "/evaluations")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", listing)
    opened = opened_by_first_evaluation(demo.store)
    assert f'href="/findings?opened_in=1&amp;all=1">{opened}</a>' in listing
    assert 'href="/runs/1"' in listing
    html = page(demo.client, "/evaluations/1")
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", html)                     # no microseconds
    assert re.search(r"<dt>Ran</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC to ", html)
    assert f'href="/findings?opened_in=1&amp;all=1">{opened} opened</a>' in html
    assert 'href="/runs/1">run 1</a>' in html
    assert 'href="/policies/cost.charge-above-contract-rate"' in html
    assert 'href="/findings?policy=cost.charge-above-contract-rate&amp;all=1"' in html
    assert ">2,205</td>" in html                                          # evaluated, with separators
    assert "37154" not in html and "savings identified" not in html        # never one mixed figure


def test_runs_and_snapshots_show_numbers_with_separators_and_times_to_the_second(demo):
    runs = page(demo.client, "/runs")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", runs)
    run = page(demo.client, "/runs/1")
    # Every row the demo wrote was collected (it rejects none): the count the pages show.
    written = re.search(r"canonical CSV files \(([\d,]+) rows\)", demo.output).group(1)
    assert "," in written and f">{written}</td>" in run and "usage 6,000" in run
    assert re.search(r"<dt>Started</dt><dd><time [^>]*>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time></dd>", run)
    snapshots = page(demo.client, "/snapshots")
    assert f">{written}</td>" in snapshots
