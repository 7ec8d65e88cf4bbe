"""docs/operations.md stays true: its settings example loads, its links lead somewhere, and the
metrics it lists are the ones /metrics serves."""

from __future__ import annotations

import re
from pathlib import Path

from dialtone.engine.config import load_config

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "operations.md"


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for a page's headings."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_settings_example_is_a_valid_configuration(tmp_path):
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
                if b.startswith("sources:")]
    (tmp_path / "dialtone.yaml").write_text(block, encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    assert config.ops.log_format == "json" and config.ops.max_run_age.total_seconds() == 36 * 3600
    assert config.ops.metrics_token_file == tmp_path / "secrets" / "metrics_token"


def test_links_lead_to_files_and_headings_that_exist():
    text = DOC.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith("http"):
            continue
        page, _, anchor = target.partition("#")
        path = (DOC.parent / page) if page else DOC
        assert path.exists(), target
        if anchor:
            assert anchor in anchors(path), target


def test_every_metric_served_is_documented(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    from tests.webkit import build

    app, store, _tokens = build(tmp_path)
    app.test_client().get("/healthz")
    text = app.test_client().get("/metrics").get_data(as_text=True)
    store.close()
    # The client's own companion of a histogram (when it was created) is not ours to document.
    served = {f.name for f in text_string_to_metric_families(text) if not f.name.endswith("_created")}
    documented = set(re.findall(r"^\| `(dialtone_\w+)`", DOC.read_text(encoding="utf-8"), re.M))
    # The client names a counter's family without _total; the table names the series.
    assert {n + "_total" if n == "dialtone_runs" else n for n in served} == documented
