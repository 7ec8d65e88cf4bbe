"""Disputes on the pages and in the JSON API, over tests/billkit.py's estate: bill 1 overbills
line L1 (finding 1: 20.00 above the contract on charge C1, its description made hostile here: a
spreadsheet formula and a script tag) and charges a late fee (finding 2: 25.00).

Every new route checks the role (auditors read and download, officers and administrators act,
nobody signed out gets anything); forms without the CSRF token are refused; the confirmation
page shows the plan before anything is opened; a write-off is approved by someone else only;
the claim package's CSV has the carrier's columns and values, formula-safe, and its page is
escaped."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import shutil
import zipfile
from html import unescape
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from dialtone.engine.config import load_config
from dialtone.engine.disputes.package import COLUMNS
from dialtone.engine.store import Store
from dialtone.engine.store import disputes as sd
from dialtone.engine.store.accounts import add_user, create_token
from dialtone.web.app import create_app
from tests.billkit import write_estate
from tests.webkit import PASSWORD, csrf, login

ABOVE, LATE = "cost.charge-above-contract-rate", "cost.late-payment-fees"
FORMULA = "=HYPERLINK(\"http://evil.example\",\"fee\")"
SCRIPT = "<script>alert('fee')</script>"
#: Charge C1's description: CSV-quoted (its double quotes doubled).
HOSTILE = f"{FORMULA} {SCRIPT}".replace('"', '""')
USERS = {"admin": "admin", "officer": "officer", "officer2": "officer", "auditor": "auditor"}
_template = None


def billed_workspace(tmp_path_factory, name: str):
    """A copy of a workspace with bill 1 collected and both billing policies evaluated (built
    once per session): finding 1 is the overcharge on C1, finding 2 the late fee C3."""
    global _template
    if _template is None:
        from dialtone.web.cli import cli

        root = tmp_path_factory.mktemp("billed-template")
        est = write_estate(root)
        charges = (est / "charges.csv").read_text(encoding="utf-8")
        hostile = charges.replace('C1,I1,L1,PLAN,recurring,Plan,', f'C1,I1,L1,PLAN,recurring,"{HOSTILE}",')
        assert hostile != charges
        (est / "charges.csv").write_text(hostile, encoding="utf-8")
        runner = CliRunner()
        with contextlib.chdir(root):
            assert runner.invoke(cli, ["collect", "--as-of", "2026-05-10"]).exit_code == 0
            result = runner.invoke(cli, ["evaluate", "--policy", ABOVE, "--policy", LATE])
            assert result.exit_code == 0, result.output
        _template = root
    workdir = tmp_path_factory.mktemp(name)
    shutil.copytree(_template, workdir, dirs_exist_ok=True)
    config = load_config(workdir / "dialtone.yaml")
    store = Store.from_config(config)
    for username, role in USERS.items():
        add_user(store, username, role, PASSWORD)
    return config, store


@pytest.fixture
def site(tmp_path_factory):
    config, store = billed_workspace(tmp_path_factory, "disputes-web")
    app = create_app(config, store=store, testing=True, key="test-secret", secure_cookies=False)
    tokens = {u: create_token(store, u) for u in USERS}
    yield SimpleNamespace(app=app, store=store, config=config, tokens=tokens)
    store.close()


def client(site, username: str | None):
    c = site.app.test_client()
    if username:
        assert login(c, username).status_code == 302
    return c


def token_of(c, path: str = "/disputes") -> str:
    return csrf(c.get(path).get_data(as_text=True))


def text(response) -> str:
    """The page's main content as words (tags out, spaces collapsed)."""
    html = response.get_data(as_text=True)
    main = html.split('<main id="main">', 1)[-1]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


def open_one(site, username: str = "officer", findings=("1",)) -> str:
    c = client(site, username)
    response = c.post("/disputes", data={"csrf_token": token_of(c), "finding": list(findings),
                                         "confirm": "1"})
    assert response.status_code == 302, text(response)
    return response.headers["Location"].rsplit("/", 1)[-1]


def act(c, ref: str, action: str, **data):
    return c.post(f"/disputes/{ref}/{action}", data={"csrf_token": token_of(c, f"/disputes/{ref}"), **data})


# -- roles and CSRF ----------------------------------------------------------------------------

READ_PATHS = ["/disputes", "/disputes/DSP-000001", "/disputes/DSP-000001/package/zip",
              "/disputes/DSP-000001/package/csv", "/disputes/DSP-000001/package/html"]


@pytest.mark.parametrize("username", [None, "admin", "officer", "auditor"])
def test_every_dispute_page_and_download_checks_the_role(site, username):
    open_one(site)
    c = client(site, username)
    for path in READ_PATHS:
        response = c.get(path)
        if username is None:
            assert response.status_code == 302 and "/login?next=" in response.headers["Location"], path
        else:
            assert response.status_code == 200, path


def test_auditors_read_but_cannot_open_or_act_and_see_no_buttons(site):
    ref = open_one(site)
    auditor = client(site, "auditor")
    token = token_of(auditor)
    assert auditor.post("/disputes", data={"csrf_token": token, "finding": "2"}).status_code == 403
    for action in ("file", "acknowledge", "reference", "withdraw", "deny", "accept", "approve", "reject"):
        form = {"csrf_token": token, "note": "n", "carrier_reference": "R"}
        assert auditor.post(f"/disputes/{ref}/{action}", data=form).status_code == 403
    page = auditor.get(f"/disputes/{ref}").get_data(as_text=True)
    assert "Record as filed" not in page and "Withdraw" not in page
    finding = auditor.get("/findings/2").get_data(as_text=True)
    assert ">Dispute<" not in finding
    assert "Dispute these findings" not in auditor.get(f"/findings?policy={LATE}").get_data(as_text=True)
    assert sd.get(site.store, 1)["status"] == "draft"


def test_signed_out_posts_go_to_the_login_page(site):
    anonymous = client(site, None)
    token = token_of(anonymous, "/login")
    for path in ("/disputes", "/disputes/DSP-000001/file"):
        response = anonymous.post(path, data={"csrf_token": token, "finding": "1"})
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_forms_without_the_csrf_token_are_refused(site):
    ref = open_one(site)
    officer = client(site, "officer")
    assert officer.post("/disputes", data={"finding": "2", "confirm": "1"}).status_code == 400
    assert officer.post(f"/disputes/{ref}/file", data={}).status_code == 400
    assert [d["reference"] for d in sd.list_disputes(site.store)] == [ref]
    assert sd.get(site.store, 1)["status"] == "draft"


# -- opening -----------------------------------------------------------------------------------

def test_the_confirmation_page_shows_the_plan_and_opens_nothing(site):
    officer = client(site, "officer")
    response = officer.post("/disputes", data={"csrf_token": token_of(officer), "finding": ["1", "2"]})
    assert response.status_code == 200
    page = text(response)
    assert "1 draft dispute will be opened from 2 findings" in page
    assert "Account A1 (Verizon): USD 45.00" in page
    # Verizon's window is 120 days (billkit's settings) from the bill of 2026-04-05.
    assert "File by 2026-08-03 (120-day dispute window" in page
    assert "INV-1 2026-04-05 C1 PLAN =HYPERLINK" in page and "60.00 40.00 20.00" in page
    assert "C3 LATE Late payment charge 25.00 — 25.00" in page
    assert sd.list_disputes(site.store) == []
    html = response.get_data(as_text=True)
    assert SCRIPT not in html and "&lt;script&gt;" in html


def test_confirming_opens_a_draft_and_the_finding_page_shows_it(site):
    officer = client(site, "officer")
    assert ">Dispute<" in officer.get("/findings/1").get_data(as_text=True)
    response = officer.post("/disputes", data={"csrf_token": token_of(officer), "finding": ["1", "2"],
                                               "confirm": "1", "note": "bill 1 errors"})
    assert response.headers["Location"].endswith("/disputes/DSP-000001")
    d = sd.get(site.store, 1)
    assert (d["status"], d["claimed_total"], d["created_by"], d["note"]) == ("draft", 45.0, "officer",
                                                                             "bill 1 errors")
    finding = officer.get("/findings/1")
    assert "DSP-000001 : draft, claims USD 20.00 on this finding" in text(finding)
    assert ">Dispute<" not in finding.get_data(as_text=True)     # claimed in a live dispute
    listing = text(officer.get("/disputes"))
    assert "USD 1 45.00 0.00" in listing and "DSP-000001 draft A1 Verizon USD 45.00 USD 0.00" in listing


def test_a_finding_already_disputed_is_left_out_with_a_word(site):
    open_one(site, findings=("1",))
    officer = client(site, "officer")
    response = officer.post("/disputes", data={"csrf_token": token_of(officer), "finding": ["1", "2"]})
    page = text(response)
    assert "Finding 1 is already disputed in DSP-000001: left out." in page
    assert "from 1 finding" in page and "USD 25.00" in page
    only = officer.post("/disputes", data={"csrf_token": token_of(officer), "finding": ["1"]})
    assert only.status_code == 400 and "None of these findings can be disputed now" in text(only)


def _second_finding_on_c1(site) -> int:
    """Another policy's finding on charge C1 (as a duplicate-charge finding on the overbilled
    charge would be): a copy of finding 1's row under ``cost.duplicate-charges``."""
    from sqlalchemy import insert, select

    from dialtone.engine.store.tables import findings

    with site.store.write() as conn:
        row = dict(conn.execute(select(findings).where(findings.c.id == 1)).mappings().one())
        row.pop("id")
        return conn.execute(insert(findings).values(**{**row, "policy_id": "cost.duplicate-charges"})
                            ).inserted_primary_key[0]


def test_a_finding_whose_charge_another_findings_dispute_claims_offers_no_dispute(site):
    """Findings 1 and ``other`` are on charge C1: disputing both claims C1 once, for finding 1,
    with ``other`` merged into it. ``other``'s charge is then claimed: its page does not offer
    "Dispute" (the store would refuse it) and names the dispute; its plan page leaves it out."""
    other = _second_finding_on_c1(site)
    ref = open_one(site, findings=("1", str(other)))
    assert [i["finding_id"] for i in sd.get(site.store, 1)["items"]] == [1]   # merged: not an item
    officer = client(site, "officer")
    page = officer.get(f"/findings/{other}")
    assert ">Dispute<" not in page.get_data(as_text=True)
    assert (f"This finding's charge is already disputed in {ref}: it cannot be disputed again."
            in unescape(text(page)))
    plan = officer.post("/disputes", data={"csrf_token": token_of(officer), "finding": [str(other)]})
    assert plan.status_code == 400
    assert f"Finding {other} is already disputed in {ref}: left out." in text(plan)


def test_a_finding_that_is_not_a_billing_error_is_refused_with_the_reason(site):
    from dialtone.engine.store import workflow

    workflow.resolve_manual(site.store, 2, "waived", "officer", workflow.audit_writer(site.store, "t"))
    officer = client(site, "officer")
    response = officer.post("/disputes", data={"csrf_token": token_of(officer), "finding": ["2"],
                                               "confirm": "1"})
    assert response.status_code == 400
    assert "Finding 2 is resolved: only open or in-progress findings are disputed." in text(response)
    missing = officer.post("/disputes", data={"csrf_token": token_of(officer), "finding": ["99"]})
    assert missing.status_code == 400 and "There is no finding 99" in text(missing)


def test_dispute_these_findings_takes_the_filter_and_is_offered_only_on_a_filtered_list(site):
    officer = client(site, "officer")
    assert "Dispute these findings" not in officer.get("/findings").get_data(as_text=True)
    page = officer.get("/findings?policy=cost.&severity=low&severity=high").get_data(as_text=True)
    assert "Dispute these findings" in page
    query = re.search(r'name="filter" value="([^"]*)"', page).group(1).replace("&amp;", "&")
    assert query == "policy=cost.&severity=low&severity=high"
    response = officer.post("/disputes", data={"csrf_token": csrf(page), "filter": query})
    assert "1 draft dispute will be opened from 2 findings" in text(response)
    narrow = officer.post("/disputes", data={"csrf_token": csrf(page), "filter": f"policy={LATE}"})
    assert "from 1 finding" in text(narrow) and "C3 LATE" in text(narrow)
    opened = officer.post("/disputes", data={"csrf_token": csrf(page), "finding": ["1", "2"], "confirm": "1"})
    assert opened.status_code == 302


def test_a_filter_with_too_many_findings_is_refused_with_a_clear_message(site, monkeypatch):
    from dialtone.web.views.pages import disputes as page_module

    monkeypatch.setattr(page_module, "MAX_FINDINGS", 1)
    officer = client(site, "officer")
    response = officer.post("/disputes", data={"csrf_token": token_of(officer), "filter": "policy=cost."})
    assert response.status_code == 400
    assert "The filter has more than 1 findings that could be disputed; narrow it" in text(response)
    assert sd.list_disputes(site.store) == []


# -- acting ------------------------------------------------------------------------------------

def test_filing_late_acknowledging_and_the_reference(site):
    ref = open_one(site)
    officer = client(site, "officer")
    page = officer.get(f"/disputes/{ref}").get_data(as_text=True)
    assert "Record as filed" in page and "Record as acknowledged" not in page
    filed = act(officer, ref, "file", carrier_reference="VZ-77")
    assert filed.status_code == 302
    # The store's today is past 2026-08-03: filed, and told it is late.
    assert "filed after its deadline (2026-08-03)" in text(officer.get(f"/disputes/{ref}"))
    refused = act(officer, ref, "file")
    assert refused.status_code == 400 and "it can be filed only when draft" in text(refused)
    act(officer, ref, "acknowledge")
    act(officer, ref, "reference", carrier_reference="VZ-78")
    d = sd.get(site.store, 1)
    assert (d["status"], d["carrier_reference"]) == ("acknowledged", "VZ-78")
    kinds = [e["kind"] for e in sd.history(site.store, 1)]
    assert kinds == ["dispute_opened", "dispute_filed", "dispute_acknowledged", "dispute_reference_set"]


def test_a_write_off_is_approved_by_someone_else_and_hidden_from_its_requester(site):
    ref = open_one(site)
    officer, officer2 = client(site, "officer"), client(site, "officer2")
    act(officer, ref, "file")
    empty = act(officer, ref, "deny", note="  ")
    assert empty.status_code == 400 and "Say why" in text(empty)
    assert act(officer, ref, "deny", note="carrier says the rate was agreed").status_code == 302
    mine = officer.get(f"/disputes/{ref}").get_data(as_text=True)
    assert "Approve the write-off" not in mine and "You asked for this write-off" in mine
    own = act(officer, ref, "approve")
    assert own.status_code == 400 and "someone other than who asked" in text(own)
    theirs = officer2.get(f"/disputes/{ref}").get_data(as_text=True)
    assert "Approve the write-off" in theirs and "carrier says the rate was agreed" in theirs
    assert act(officer2, ref, "approve", note="agreed").status_code == 302
    d = sd.get(site.store, 1)
    assert (d["status"], d["writeoff_approved_by"]) == ("denied", "officer2")
    assert "Approve the write-off" not in officer2.get(f"/disputes/{ref}").get_data(as_text=True)


def test_a_draft_is_withdrawn_at_once_and_unknown_actions_or_disputes_are_not_found(site):
    ref = open_one(site)
    officer = client(site, "officer")
    assert act(officer, ref, "withdraw", note="opened by mistake").status_code == 302
    assert sd.get(site.store, 1)["status"] == "withdrawn"
    token = token_of(officer)
    assert officer.post(f"/disputes/{ref}/explode", data={"csrf_token": token}).status_code == 404
    assert officer.get("/disputes/DSP-000099").status_code == 404
    assert officer.get("/disputes/DSP-99999999999999999999999").status_code == 404
    assert officer.get("/disputes/nonsense").status_code == 404
    assert officer.get(f"/disputes/{ref}/package/pdf").status_code == 404


def test_the_list_filters_by_status_and_account(site):
    open_one(site, findings=("1",))
    open_one(site, findings=("2",))
    officer = client(site, "officer")
    act(officer, "DSP-000002", "file")
    filed = text(officer.get("/disputes?status=filed"))
    assert "DSP-000002" in filed and "DSP-000001" not in filed and "USD 1 25.00 0.00" in filed
    assert "No disputes match" in text(officer.get("/disputes?account=nobody"))
    bad = officer.get("/disputes?status=lost")
    assert bad.status_code == 400 and "Status “lost” is not one of" in text(bad)


# -- the claim package -------------------------------------------------------------------------

def test_the_claim_csv_has_the_carriers_columns_and_values_formula_safe(site):
    ref = open_one(site, findings=("1", "2"))
    officer = client(site, "officer")
    act(officer, ref, "file", carrier_reference="VZ-77")
    response = client(site, "auditor").get(f"/disputes/{ref}/package/csv")
    assert response.headers["Content-Disposition"] == f"attachment; filename=claim-{ref}.csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == COLUMNS
    plan, fee = rows
    assert {k: plan[k] for k in ("dispute_reference", "carrier_reference", "account_number", "bill_date",
                                 "invoice_number", "charge_code", "line", "billed_amount",
                                 "contracted_amount", "claimed_amount", "currency", "finding_id",
                                 "policy_id")} == {
        "dispute_reference": ref, "carrier_reference": "VZ-77", "account_number": "111-222",
        "bill_date": "2026-04-05", "invoice_number": "INV-1", "charge_code": "PLAN", "line": "L1",
        "billed_amount": "60.0", "contracted_amount": "40.0", "claimed_amount": "20.0", "currency": "USD",
        "finding_id": "1", "policy_id": ABOVE}
    # The line's number starts with "+", which a spreadsheet would read as a formula: quoted.
    assert plan["number"] == "'+15550000001"
    assert plan["reason"].startswith("billed 60.0 per unit for PLAN against the contracted 40.0")
    assert plan["description"] == f"'{FORMULA} {SCRIPT}"
    assert fee["description"] == "Late payment charge"
    assert (fee["claimed_amount"], fee["contracted_amount"]) == ("25.0", "")


def test_the_printable_page_is_escaped_and_loads_nothing(site):
    ref = open_one(site, findings=("1", "2"))
    response = client(site, "auditor").get(f"/disputes/{ref}/package/html")
    html = response.get_data(as_text=True)
    assert SCRIPT not in html and "&lt;script&gt;alert(&#39;fee&#39;)&lt;/script&gt;" in html
    assert "<script" not in html
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; style-src 'sha256-") and "script-src" not in policy
    page = text(response)
    assert "Billing dispute DSP-000001" in page and "111-222 (A1)" in page
    assert "to be filed by 2026-08-03" in page and "Total claimed (USD) 45.00" in page
    assert "Findings: 1, 2" in page and f"Policies: {ABOVE}, {LATE}" in page


def test_the_zip_holds_both_files(site):
    ref = open_one(site)
    response = client(site, "admin").get(f"/disputes/{ref}/package/zip")
    assert response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as zf:
        assert sorted(zf.namelist()) == [f"claim-{ref}.csv", f"claim-{ref}.html"]
        assert zf.read(f"claim-{ref}.csv").startswith(b'"dispute_reference","carrier_reference"')


# -- the JSON API ------------------------------------------------------------------------------

def api(site, method: str, path: str, user: str | None = "officer", **kwargs):
    headers = {"Authorization": f"Bearer {site.tokens[user]}"} if user else {}
    return getattr(site.app.test_client(), method)(f"/api/v1{path}", headers=headers, **kwargs)


def test_the_api_opens_lists_shows_and_acts(site):
    assert api(site, "post", "/disputes", "auditor", json={"findings": [1]}).status_code == 403
    assert api(site, "post", "/disputes", None, json={"findings": [1]}).status_code == 401
    created = api(site, "post", "/disputes", json={"findings": [1, 2], "note": "from a script"})
    assert created.status_code == 201
    [d] = created.json["items"]
    assert (d["reference"], d["status"], d["claimed_total"], d["note"]) == ("DSP-000001", "draft", 45.0,
                                                                            "from a script")
    assert [i["charge_id"] for i in d["items"]] == ["C1", "C3"]
    assert d["history"][0]["kind"] == "dispute_opened"
    again = api(site, "post", "/disputes", json={"findings": [1]})
    assert again.status_code == 409 and "already disputed in DSP-000001" in again.json["error"]["message"]
    assert api(site, "post", "/disputes", json={"findings": [99]}).status_code == 404
    assert api(site, "post", "/disputes", json={"findings": []}).status_code == 400

    listed = api(site, "get", "/disputes?status=draft", "auditor").json
    assert [r["reference"] for r in listed["items"]] == ["DSP-000001"] and listed["next_after"] is None
    assert api(site, "get", "/disputes/DSP-000001", "auditor").json["account_id"] == "A1"
    assert api(site, "get", "/disputes/1", "auditor").json["reference"] == "DSP-000001"
    assert api(site, "get", "/disputes/DSP-000009", "auditor").status_code == 404
    # The findings carry their disputes' references.
    assert api(site, "get", "/findings", "auditor").json["items"][0]["disputes"] == ["DSP-000001"]
    assert api(site, "get", "/findings/2", "auditor").json["disputes"] == ["DSP-000001"]

    assert api(site, "post", "/disputes/DSP-000001/file", "auditor").status_code == 403
    filed = api(site, "post", "/disputes/DSP-000001/file", json={"carrier_reference": "VZ-9"})
    assert filed.status_code == 200 and filed.json["dispute"]["status"] == "filed"
    assert api(site, "post", "/disputes/DSP-000001/file").status_code == 409
    assert api(site, "post", "/disputes/DSP-000001/deny").status_code == 400      # no note
    assert api(site, "post", "/disputes/DSP-000001/deny", json={"note": "lost"}).status_code == 200
    own = api(site, "post", "/disputes/DSP-000001/approve")
    assert own.status_code == 409 and own.json["error"]["code"] == "conflict"
    approved = api(site, "post", "/disputes/DSP-000001/approve", "officer2", json={"note": "ok"})
    assert approved.json["dispute"]["status"] == "denied"
    assert api(site, "post", "/disputes/DSP-000001/explode").status_code == 404


def test_the_api_pages_disputes_newest_first(site):
    for finding in (1, 2):
        api(site, "post", "/disputes", json={"findings": [finding]})
    first = api(site, "get", "/disputes?limit=1").json
    assert [r["reference"] for r in first["items"]] == ["DSP-000002"] and first["next_after"] == 2
    second = api(site, "get", f"/disputes?limit=1&after={first['next_after']}").json
    assert [r["reference"] for r in second["items"]] == ["DSP-000001"] and second["next_after"] is None
    assert api(site, "get", "/disputes?status=lost").status_code == 400
