"""``dialtone init DIR``: the policy repository an organisation keeps in git."""

from __future__ import annotations

from pathlib import Path

from .errors import DialtoneError

FILES: dict[str, str] = {
    "dialtone.yaml": """\
# Dialtone configuration (docs/configuration.md).
sources:
  estate:
    collector: csv
    path: ./estate          # one <entity>.csv per entity; `dialtone schema` lists the fields
policies:
  - builtin                 # the built-in packs, versioned with the Dialtone release
  - ./policies              # this organisation's pack and overrides, versioned in git
""",
    ".gitignore": """\
# Snapshots, the findings store and keys stay out of git.
.dialtone/
*.pem
""",
    "policies/org/high-cost-lines.yaml": """\
id: org.high-cost-lines
title: Active lines costing more than the approved monthly maximum
description: |
  Lines whose recorded monthly cost is above what the organisation approves
  for one line. Replace this example with the rules only your organisation has.
category: cost
severity: medium
resource: lines
where: |
  status = 'active' AND monthly_cost > :max_monthly_cost
params:
  max_monthly_cost:
    default: 150
    description: The most one line may cost a month, in its billing currency
evidence: [number, plan, monthly_cost, currency, owner.name, cost_center]
reason: "costs {monthly_cost} a month, above the approved {:max_monthly_cost}"
savings: (monthly_cost - :max_monthly_cost) * 12
frameworks:
  tem-practice: [over-provisioned-plan]
remediation: Move the line to an approved plan, or record why it needs this one.
""",
    "policies/org/high-cost-lines.test.yaml": """\
snapshot_date: "2026-06-30"
estate:
  lines:
    - {id: L1, kind: mobile, status: active, monthly_cost: 180}
    - {id: L2, kind: mobile, status: active, monthly_cost: 150}
    - {id: L3, kind: mobile, status: suspended, monthly_cost: 400}
cases:
  - name: above the maximum is found; at the maximum is not
    found: [L1]
    not_found: [L2]
  - name: only active lines count
    not_found: [L3]
  - name: a lower maximum catches more
    params: {max_monthly_cost: 100}
    found: [L1, L2]
""",
    "policies/overrides/zero-usage-lines.yaml": """\
# Adjust a built-in policy without forking it. `disabled: true` (with a reason)
# turns one off. Overrides are versioned with this repository.
override: cost.zero-usage-lines
reason: Lines idle for two months are reviewed here, not three.
params:
  idle_days: 60
""",
    "exceptions/README.md": """\
Repository exceptions: YAML files here, reviewed by pull request
(docs/findings.md, "Exceptions"). `dialtone policy validate` checks them.
""",
    "estate/README.md": """\
Put one CSV file per estate entity here (lines.csv, people.csv, usage.csv, …)
with the estate model's field names as headers (`dialtone schema`), or point
the sources in dialtone.yaml at your exports (docs/collectors.md).
""",
    ".github/workflows/policies.yml": """\
# Validate and test the policies on every pull request, and comment what a
# change would open or close on the latest snapshot when one is available.
name: policies
on: [pull_request]
jobs:
  policies:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {fetch-depth: 0}
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      - run: pip install dialtone
      - run: dialtone policy validate
      - run: dialtone policy test
      - name: impact of the change
        if: hashFiles('estate/*.csv') != ''
        run: |
          dialtone collect
          base="origin/${{ github.base_ref }}"
          dialtone policy diff --base "$base" --format markdown >> "$GITHUB_STEP_SUMMARY"
""",
}


def scaffold(directory: Path) -> list[Path]:
    """Write the starter repository into ``directory``; refuses to overwrite anything."""
    directory = Path(directory)
    clashes = [name for name in FILES if (directory / name).exists()]
    if clashes:
        raise DialtoneError(f"{directory}: {clashes[0]} already exists; init writes only into a new "
                            "or empty folder")
    written = []
    for name, text in FILES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
