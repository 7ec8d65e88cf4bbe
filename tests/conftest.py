"""Shared fixtures: policies from text, canonical estates on disk, the CLI runner."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from dialtone.engine.config import load_config
from dialtone.engine.policy.loader import parse_policy

AS_OF = dt.date(2026, 6, 30)


POLICY_HEAD = """\
id: test.policy
title: A test policy
category: cost
severity: medium
resource: {resource}
"""


def policy_text(where: str, resource: str = "lines", extra: str = "") -> str:
    body = POLICY_HEAD.format(resource=resource)
    body += "where: |\n" + textwrap.indent(textwrap.dedent(where).strip(), "  ") + "\n"
    return body + textwrap.dedent(extra)


@pytest.fixture
def make_policy():
    def make(where: str, resource: str = "lines", extra: str = "", file: str = "test.yaml"):
        return parse_policy(policy_text(where, resource, extra), file)

    return make


def write_csv(folder: Path, entity: str, header: list[str], rows: list[list[str]]) -> Path:
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entity}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


MINIMAL_CONFIG = """\
sources:
  estate:
    collector: csv
    path: ./estate      # a directory of canonical <entity>.csv files
"""


@pytest.fixture
def workspace(tmp_path: Path):
    """A workspace with the minimal config and a small canonical estate."""
    (tmp_path / "dialtone.yaml").write_text(MINIMAL_CONFIG, encoding="utf-8")
    estate = tmp_path / "estate"
    write_csv(estate, "lines", ["id", "kind", "status", "number", "monthly_cost", "activated_on",
                                "assigned_to", "purpose"], [
        ["L1", "mobile", "active", "+15551230001", "40", "2024-01-10", "P1", ""],
        ["L2", "mobile", "active", "+15551230002", "35", "2024-01-10", "P2", ""],
        ["L3", "iot", "active", "+15551230003", "5", "2024-01-10", "", "alarm"],
    ])
    # L1 was last used in January and the carrier reports it silent every month since (idle);
    # L2 was used two days before the snapshot.
    write_csv(estate, "usage", ["line_id", "period", "last_activity_on", "voice_minutes",
                                "data_mb", "sms_count"], [
        ["L1", "2026-01", "2026-01-15", "3", "10", "0"],
        *[["L1", f"2026-0{m}", "", "0", "0", "0"] for m in range(2, 7)],
        ["L2", "2026-06", "2026-06-28", "40", "900", "12"],
    ])
    write_csv(estate, "people", ["id", "name", "status"], [
        ["P1", "Ada Lovelace", "active"], ["P2", "Alan Turing", "active"]])
    return tmp_path


@pytest.fixture
def config(workspace: Path):
    return load_config(workspace / "dialtone.yaml")


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def cli():
    from dialtone.web.cli import cli as command

    return command
