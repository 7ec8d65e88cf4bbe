"""The demo: canonical CSV through the real collector, built-in policies, a readable summary."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialtone.engine.demo import CONFIG_TEXT, DEMO_LINES, canonical_csv_table, run_demo
from dialtone.engine.estate.model import load_model
from dialtone.engine.policy.loader import load_policies
from dialtone.engine.snapshots import SOURCE_COLUMN, SnapshotStore
from dialtone.engine.synthetic import generate_estate


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    output = list(run_demo(workdir, scale=1, seed=7))
    return workdir, output


@pytest.fixture(scope="module")
def estate():
    return generate_estate(DEMO_LINES, seed=7)


def latest(workdir):
    return SnapshotStore(workdir / ".dialtone").latest()


def test_the_workspace_has_the_config_and_one_canonical_csv_per_entity(demo):
    workdir, _ = demo
    assert (workdir / "dialtone.yaml").read_text(encoding="utf-8") == CONFIG_TEXT
    assert CONFIG_TEXT == "sources:\n  estate:\n    collector: csv\n    path: ./estate\n"
    model = load_model()
    files = sorted(p.name for p in (workdir / "estate").iterdir())
    assert files == sorted(f"{name}.csv" for name in model.entities)
    for name, entity in model.entities.items():
        with (workdir / "estate" / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            assert next(csv.reader(fh)) == entity.field_names, name


def test_the_collector_accepts_every_row(demo, estate):
    workdir, _ = demo
    snapshot = latest(workdir)
    assert snapshot.manifest["rejects"] == 0
    assert snapshot.as_of == estate.as_of
    assert {n: e["rows"] for n, e in snapshot.entities.items()} == {
        n: t.num_rows for n, t in estate.tables.items()}


def test_csv_round_trips_to_exactly_the_generated_tables(demo, estate):
    workdir, _ = demo
    snapshot = latest(workdir)
    for name, table in estate.tables.items():
        collected = pq.read_table(snapshot.parquet(name)).drop_columns([SOURCE_COLUMN])
        assert collected.equals(table), name


def test_the_summary_is_readable(demo):
    workdir, output = demo
    text = "\n".join(output)
    snapshot = latest(workdir)
    assert all(isinstance(line, str) for line in output)
    assert f"Collected snapshot {snapshot.id} (as of 2026-06-30)" in text
    assert "0 rows rejected" in text
    assert "usage" in text and f"{12 * DEMO_LINES:,}" in text
    assert "Findings by category and severity:" in text
    for category in ("cost", "retention", "regulatory", "security"):
        assert f"\n  {category} " in text
    assert "Top policies by findings:" in text
    assert "Savings a year after evaluation 1: identified " in text
    assert f"dialtone --config {workdir / 'dialtone.yaml'} evaluate" in text
    assert "policy show " in text


def test_evaluation_json_holds_every_built_in_policy(demo):
    workdir, _ = demo
    doc = json.loads((workdir / "evaluation.json").read_text(encoding="utf-8"))
    assert doc["snapshot"]["id"] == latest(workdir).id
    ids = [r["policy_id"] for r in doc["results"]]
    assert ids == sorted(p.id for p in load_policies().policies)
    # The demo estate shows every built-in policy in alarm.
    assert [r["policy_id"] for r in doc["results"] if r["status"] != "alarm"] == []


def test_the_built_in_policies_find_exactly_the_planted_violations(demo, estate):
    workdir, _ = demo
    doc = json.loads((workdir / "evaluation.json").read_text(encoding="utf-8"))
    found = {r["policy_id"]: sorted(f["resource_id"] for f in r["findings"]) for r in doc["results"]}
    assert sorted(estate.planted) == sorted(found)
    wrong = [p for p in found if found[p] != estate.planted[p]]
    assert wrong == []


def test_running_again_overwrites_the_files_and_adds_a_snapshot(tmp_path):
    first = list(run_demo(tmp_path, seed=3))
    before = (tmp_path / "estate" / "lines.csv").read_bytes()
    second = list(run_demo(tmp_path, seed=4))
    ids = SnapshotStore(tmp_path / ".dialtone").ids()
    assert len(ids) == 2
    assert (tmp_path / "estate" / "lines.csv").read_bytes() != before
    assert not [p for p in (tmp_path / "estate").iterdir() if p.name.startswith(".")]
    assert first[0] != second[0]
    doc = json.loads((tmp_path / "evaluation.json").read_text(encoding="utf-8"))
    assert doc["snapshot"]["id"] == ids[-1]


def test_the_cli_demo_command_prints_the_summary(runner, cli, tmp_path):
    result = runner.invoke(cli, ["demo", "--dir", str(tmp_path / "d"), "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "Collected snapshot" in result.output
    assert "Savings a year after evaluation 1: identified " in result.output


def test_the_demo_writes_each_entity_as_soon_as_it_is_built(tmp_path, monkeypatch):
    """The generator never holds the whole estate: by the time billing (the last stage) runs,
    the big entities are already on disk."""
    from dialtone.engine.synthetic.builder import _Builder

    on_disk = []
    billing = _Builder.billing

    def spy(self):
        on_disk.extend(sorted(p.name for p in (tmp_path / "estate").glob("*.csv")))
        billing(self)

    monkeypatch.setattr(_Builder, "billing", spy)
    steps = run_demo(tmp_path, seed=7)
    next(steps)
    assert "wrote 19 canonical CSV files" in next(steps)
    steps.close()
    assert {"usage.csv", "calls.csv", "recordings.csv", "lines.csv", "people.csv"} <= set(on_disk)
    assert "charges.csv" not in on_disk
    assert len(list((tmp_path / "estate").glob("*.csv"))) == len(load_model().entities)


def test_canonical_csv_values():
    table = pa.table({
        "l": pa.array([["a", "b"], None], pa.list_(pa.string())),
        "t": pa.array([dt.datetime(2026, 6, 30, 9, 5, 7), None], pa.timestamp("us")),
        "d": pa.array([dt.date(2026, 6, 1), None], pa.date32()),
        "b": pa.array([True, False]),
    })
    out = canonical_csv_table(table)
    assert out.column("l").to_pylist() == ["a;b", None]
    assert out.column("t").to_pylist() == ["2026-06-30T09:05:07Z", None]
    assert out.column("d").to_pylist() == [dt.date(2026, 6, 1), None]  # prints as 2026-06-01


def test_the_demo_prints_one_working_account_per_role_and_a_secret_key(demo):
    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store
    from dialtone.engine.store.accounts import authenticate

    workdir, output = demo
    start = output.index("Web accounts (demo only; passwords are new on every run):")
    accounts = [line.split() for line in output[start + 1:start + 5]]
    assert sorted(role for _, role, _ in accounts) == ["admin", "auditor", "officer", "officer"]
    config = load_config(workdir / "dialtone.yaml")
    assert len((config.data_dir / "secret_key").read_text().strip()) == 64
    store = Store.from_config(config)
    try:
        for username, role, password in accounts:
            assert authenticate(store, username, password).role == role
    finally:
        store.close()
