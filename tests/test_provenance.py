"""The policy set version an evaluation records: a git commit, or a content hash."""

from __future__ import annotations

import subprocess

from dialtone.engine.policy.loader import load_policies
from dialtone.engine.provenance import policy_set_version
from tests.conftest import policy_text


def _git(cwd, *args):
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def test_policies_in_git_are_versioned_by_commit_and_dirtiness(tmp_path):
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    (repo / "policies" / "p.yaml").write_text(policy_text("status = 'active'"), encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "policy")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    paths = (repo / "policies",)
    clean = policy_set_version(paths, load_policies(paths))
    assert clean["source"] == "git" and clean["version"] == head and clean["dirty"] is False
    (repo / "policies" / "p.yaml").write_text(policy_text("status = 'suspended'"), encoding="utf-8")
    dirty = policy_set_version(paths, load_policies(paths))
    assert dirty["version"] == head and dirty["dirty"] is True
    assert dirty["content"] != clean["content"]


def test_policies_outside_git_are_versioned_by_content(tmp_path):
    (tmp_path / "p.yaml").write_text(policy_text("status = 'active'"), encoding="utf-8")
    loaded = load_policies([tmp_path])
    version = policy_set_version((tmp_path,), loaded)
    assert version == {"source": "content", "version": loaded.version, "dirty": None,
                       "content": loaded.version}
