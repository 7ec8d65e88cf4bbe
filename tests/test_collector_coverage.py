"""What each collector declares it fills (``fills``), and the "What it feeds" sections generated from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dialtone.engine import collector_coverage
from dialtone.engine.collector_api import collectors
from dialtone.engine.estate.model import load_model

ROOT = Path(__file__).parents[1]
BUILT_IN = sorted(collector_coverage.PAGES)


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_collector_declares_fields_the_model_has(name):
    fills = collectors.get(name).fills
    model = load_model()
    assert fills, name
    for entity, fields in fills.items():
        known = {f.name for f in model.entity(entity).fields}
        assert fields == ("*",) or set(fields) <= known, (entity, set(fields) - known)
        assert len(set(fields)) == len(fields), f"{name}: {entity} names a field twice"


def test_the_csv_collector_fills_every_entity():
    assert collectors.get("csv").fills == {name: ("*",) for name in load_model().entities}


def test_the_collector_pages_are_generated_from_fills_and_the_policies():
    stale = [str(path.relative_to(ROOT)) for path, text in collector_coverage.pages(ROOT).items()
             if path.read_text(encoding="utf-8") != text]
    assert not stale, f"stale 'What it feeds' sections in {stale}: run `python -m " \
                      "dialtone.engine.collector_coverage`"


#: Three made-up policies, so that the judgement is tested whatever the packs hold today.
NEEDS = (
    ("cost.a-licence-rule", "cost", {"licenses": {"status", "last_active_on"}}),
    ("cost.a-line-rule", "cost", {"lines": {"status"}, "licenses": {"monthly_cost"}}),
    ("retention.a-store-rule", "retention", {"retention_policies": {"retention_days"}}),
)


@pytest.fixture
def made_up_policies(monkeypatch):
    monkeypatch.setattr(collector_coverage, "_needs", lambda: NEEDS)


def test_coverage_is_full_partial_or_none_with_what_is_lacking(made_up_policies):
    assert [(f.policy, f.how, f.lacks) for f in collector_coverage.coverage("zoom")] == [
        ("cost.a-licence-rule", "full", ()),
        ("cost.a-line-rule", "partial", ("lines.status",)),
        ("retention.a-store-rule", "none", ("retention_policies.retention_days",)),
    ]
    assert {f.how for f in collector_coverage.coverage("csv")} == {"full"}


def test_the_generated_block(made_up_policies):
    block = collector_coverage.block("zoom", "../policies")
    assert block.startswith(collector_coverage.BEGIN) and block.endswith(collector_coverage.END)
    assert ("| `licenses` | `id`, `product`, `sku`, `assigned_to`, `status`, `assigned_on`, "
            "`last_active_on`, `monthly_cost`, `currency` |") in block
    assert "Of the 3 built-in policies it feeds **1 fully**, **1 partially**" in block
    assert ("| [`cost.a-line-rule`](../policies/cost.md#costa-line-rule) | partially | `lines.status` |"
            in block)
    assert "Not at all: `retention.a-store-rule`." in block
    csv = collector_coverage.block("csv", "policies")
    assert "It fills every field of every entity it is given" in csv
    assert "It can feed all 3 built-in policies fully." in csv


def test_a_page_without_the_markers_is_an_error(tmp_path):
    page = tmp_path / "x.md"
    page.write_text("# A page\n", encoding="utf-8")
    with pytest.raises(ValueError, match="x.md has no .*what-it-feeds"):
        collector_coverage.render(page.read_text(), "zoom", "../policies", "x.md")


def test_writing_rewrites_only_the_generated_block(tmp_path, made_up_policies):
    for page, _ in collector_coverage.PAGES.values():
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / page, tmp_path / page)
    zoom = tmp_path / "docs" / "collectors" / "zoom.md"
    text = zoom.read_text(encoding="utf-8")
    before, after = text.split(collector_coverage.BEGIN)[0], text.split(collector_coverage.END)[1]
    zoom.write_text(before + collector_coverage.BEGIN + "\nsomething stale\n" + collector_coverage.END
                    + after, encoding="utf-8")
    collector_coverage.write(tmp_path)
    expected = before + collector_coverage.block("zoom", "../policies") + after
    assert zoom.read_text(encoding="utf-8") == expected


# -- the call detail record collectors write no column they do not declare ------------------------
def _emitted(data) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for batch in data.batches:
        for table in batch.tables():
            out.setdefault(batch.entity, set()).update(c for c in table.column_names if c != "__row")
    return out


def _declared(name: str) -> dict[str, set[str]]:
    return {e: set(f) for e, f in collectors.get(name).fills.items()}


def test_freeswitch_writes_only_what_it_declares(tmp_path):
    shutil.copy(ROOT / "tests" / "samples" / "freeswitch-cdr-csv-master-sample.csv", tmp_path / "Master.csv")
    collector = collectors.get("freeswitch")("pbx", {"path": "Master.csv", "timezone": "UTC",
                                                      "line_by": "source"}, tmp_path)
    emitted = _emitted(collector.collect())
    assert emitted["calls"] and emitted["calls"] <= _declared("freeswitch")["calls"]


def test_asterisk_writes_only_what_it_declares(tmp_path):
    from .test_collector_asterisk import ANSWERED, UNANSWERED

    (tmp_path / "Master.csv").write_text(ANSWERED + UNANSWERED, encoding="utf-8")
    cls = collectors.get("asterisk")
    collector = cls("pbx", {"path": "Master.csv", "timezone": "America/Chicago", "line_by": "source"},
                    tmp_path, state_dir=tmp_path / "state")
    emitted = _emitted(collector.collect())
    assert emitted["calls"] and emitted["calls"] <= _declared("asterisk")["calls"]


def test_cucm_writes_only_what_it_declares(tmp_path):
    from .test_collector_cucm import ANSWERED, cdr_file

    cdr_file(tmp_path / "cdr" / "cdr_StandAloneCluster_01_202407010915_1", [ANSWERED])
    collector = collectors.get("cucm")("cucm", {"path": "cdr", "line_by": "source"}, tmp_path)
    emitted = _emitted(collector.collect())
    assert emitted["calls"] and emitted["calls"] <= _declared("cucm")["calls"]
