"""The `notifications:` section: read once with the configuration, every mistake reported with
its line before anything runs."""

from __future__ import annotations

import textwrap

import pytest

from dialtone.engine.config import load_config
from dialtone.engine.errors import ConfigError

TARGETS = """\
notifications:
  targets:
    hook: {type: webhook, url: "https://hooks.example.com/dialtone", secret_env: HOOK_KEY}
    mail: {type: email, host: smtp.example.com, from: dialtone@example.com, evidence: none}
"""


def load(tmp_path, text: str):
    path = tmp_path / "dialtone.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path)


def test_a_full_section_is_read(tmp_path):
    config = load(tmp_path, TARGETS + """\
  base_url: https://dialtone.example.com/
  cost_center_owners: {CC-1: finance@example.com}
  max_attempts: 3
  rules:
    - name: critical
      match: {severity: [critical], policy: ["regulatory.*"], framework: [FINRA]}
      when: [new, reopened, overdue]
      targets: [hook, mail]
      recipients: [owner, cost_center_owner, desk@example.com]
      fallback: telecom@example.com
    - {name: daily, when: [due_soon], targets: [mail], delivery: digest, period: week, due_in_days: 3}
""")
    n = config.notifications
    assert n.enabled and n.base_url == "https://dialtone.example.com" and n.max_attempts == 3
    assert n.targets["mail"].evidence == "none" and n.targets["hook"].evidence == "masked"
    assert n.targets["hook"].settings == {"url": "https://hooks.example.com/dialtone",
                                          "secret_env": "HOOK_KEY"}
    critical, daily = n.rules
    assert critical.match["severity"] == ("critical",) and critical.targets == ("hook", "mail")
    assert (daily.delivery, daily.period, daily.due_in_days) == ("digest", "week", 3)


@pytest.mark.parametrize(("rules", "message"), [
    ("    - {name: r, when: [new], targets: [jira]}\n",
     r"dialtone.yaml:6: notifications.rules\[0\].targets: no target named 'jira' \(targets: hook, mail\)"),
    ("    - {name: r, when: [yesterday], targets: [hook]}\n",
     r"dialtone.yaml:6: notifications.rules.0.when.0: 'yesterday' is not one of"),
    ("    - {name: r, when: [new], targets: [mail], recipients: [the owner]}\n",
     r"recipients: 'the owner' is neither an e-mail address nor one of owner, manager, cost_center_owner"),
    ("    - {name: r, when: [new], targets: [hook]}\n    - {name: r, when: [new], targets: [hook]}\n",
     r"dialtone.yaml:7: notifications.rules\[1\].name: a rule named 'r' is defined twice"),
    ("    - {name: r, when: [new], targets: [hook], match: {severity: [urgent]}}\n",
     r"notifications.rules.0.match.severity.0: 'urgent' is not one of"),
])
def test_rule_mistakes_are_named_with_their_line(tmp_path, rules, message):
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, TARGETS + "  rules:\n" + rules)


def test_a_target_of_an_unknown_type_gets_a_did_you_mean(tmp_path):
    with pytest.raises(ConfigError, match=r"dialtone.yaml:3: notifications.targets.x.type: Unknown "
                                          r"notification target 'webhok'. Did you mean 'webhook'\?"):
        load(tmp_path, "notifications:\n  targets:\n    x: {type: webhok, url: 'https://h.example'}\n")


def test_a_targets_own_settings_are_checked_against_its_schema(tmp_path):
    with pytest.raises(ConfigError, match=r"dialtone.yaml:3: notifications.targets.mail"):
        load(tmp_path, "notifications:\n  targets:\n    mail: {type: email, host: smtp.example.com}\n")


def test_a_secret_written_in_the_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"notifications.targets.hook: Additional properties are not "
                                          r"allowed \('secret' was unexpected\)"):
        load(tmp_path, "notifications:\n  targets:\n    hook: {type: webhook, url: "
                       "'https://h.example', secret: hunter2}\n")
