"""The generated policy catalogue in ``docs/policies/``: one page per pack, plus
the frameworks with the policies that cover each requirement.

Regenerate with ``python -m dialtone.engine.policy_docs docs/policies``
(``make docs``); a test fails when the pages are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .compiler import compile_policy, render
from .frameworks import Catalogue, load_catalogue
from .policy.loader import LoadedPolicies, load_policies
from .policy.model import CATEGORIES, Policy

#: The demo's seed (engine/demo.py's default).
DEMO_SEED = 7
NOTE = ("<!-- Generated from policies/ by `python -m dialtone.engine.policy_docs "
        "docs/policies`. Do not edit by hand: a test fails when this page is stale. -->")


def collector_coverage(needed: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(collector, "full" | "partial: …" | "none") for the fields a policy needs, from what each
    installed collector declares it fills (``fills``; ``"*"`` for every field of an entity)."""
    from .collector_api import collectors

    out = []
    for name in collectors.names():
        try:
            fills = getattr(collectors.get(name), "fills", None)
        except Exception:  # noqa: BLE001 - a broken plugin is left out of the table
            continue
        if fills is None:
            continue
        have = {(e, f) for e, fields in needed.items() for f in fields
                if "*" in fills.get(e, ()) or f in fills.get(e, ())}
        want = {(e, f) for e, fields in needed.items() for f in fields}
        if have == want:
            out.append((name, "full"))
        elif have:
            lacking = sorted(f"{e}.{f}" for e, f in want - have)
            out.append((name, "partial: lacks " + ", ".join(lacking)))
        else:
            out.append((name, "none"))
    return out


def _needs(policy: Policy, compiled) -> list[str]:
    needed = compiled.required_fields()
    out = ["**Needs** (what decides a finding): " + "; ".join(
        f"`{entity}`: " + ", ".join(f"`{f}`" for f in sorted(fields))
        for entity, fields in sorted(needed.items())) + "."]
    if policy.optional:
        out.append("**Optional** (read as empty when no source provides it): "
                   + ", ".join(f"`{e}`" for e in policy.optional) + ".")
    if policy.undecidable is not None:
        out.append("**Undecidable** (in scope, but the data to decide is missing: counted, never "
                   f"found): `{' '.join(policy.undecidable.text.split())}`.")
    elif compiled.inline_undecidable:
        out.append("**Undecidable** (in scope, but the data to decide is missing: counted, never "
                   "found): the rows its query flags in its `undecidable` column (see the "
                   "description and the SQL).")
    else:
        out.append("**Undecidable**: none declared; a resource lacking a needed field is not in "
                   "scope.")
    coverage = collector_coverage(needed)
    if coverage:
        out.append("**Fed by**: " + "; ".join(f"`{c}` {how}" for c, how in coverage) + ".")
    if policy.savings is not None:
        key = policy.savings_key.text if policy.savings_key else f"'{policy.resource}:' || id"
        out.append(f"**Savings** claim `{' '.join(key.split())}` (one object's money is counted "
                   "once across policies)" + (f", in `{policy.currency.text}`" if policy.currency
                                              else "") + ".")
    return ["", *[line + "\n" for line in out]]


def _policy_section(policy: Policy) -> str:
    compiled = compile_policy(policy)
    out = [f"## `{policy.id}`", "", f"**{policy.title}** — severity **{policy.severity}**, "
           f"resource `{policy.resource}`, reads {', '.join(f'`{t}`' for t in compiled.tables)}.",
           ""]
    if policy.description:
        out += [policy.description, ""]
    out += _needs(policy, compiled)
    if policy.params:
        out += ["| parameter | default | meaning |", "|---|---|---|"]
        out += [f"| `{p.name}` | `{p.default!r}` | {p.description} |" for p in policy.params]
        out.append("")
    if policy.frameworks:
        refs = "; ".join(f"{fid}: {', '.join(rids)}" for fid, rids in policy.frameworks.items())
        out += [f"Frameworks: {refs}.", ""]
    if policy.remediation:
        out += [f"Remediation: {policy.remediation}", ""]
    out += ["```sql", render(compiled.select, "duckdb", pretty=True), "```", ""]
    return "\n".join(out)


def pack_page(category: str, policies: list[Policy]) -> str:
    head = [f"# The `{category}` pack", "", NOTE, "",
            f"{len(policies)} policies. See [the language](../policies.md) for how to read them.",
            "", "| policy | severity | title |", "|---|---|---|"]
    head += [f"| [`{p.id}`](#{p.id.replace('.', '')}) | {p.severity} | {p.title} |"
             for p in policies]
    return "\n".join(head) + "\n\n" + "\n".join(_policy_section(p) for p in policies)


def frameworks_page(catalogue: Catalogue, policies: list[Policy]) -> str:
    cover = catalogue.coverage(policies)
    out = ["# Frameworks and coverage", "", NOTE, "",
           "Each requirement with the built-in policies that check it. *Uncovered* means no "
           "policy maps to it yet; *out of scope* means an estate snapshot cannot show it, "
           "with the reason.", ""]
    for fw in catalogue.frameworks.values():
        out += [f"## {fw.title}", "", f"`{fw.id}` — {fw.authority}; {fw.citation}.", "",
                "| requirement | citation | obligation | policies |", "|---|---|---|---|"]
        for r in fw.requirements:
            figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in r.figures.items()
                                if k != "states")
            summary = r.summary + (f" ({figures})" if figures else "")
            ids = cover[fw.id, r.id]
            status = (", ".join(f"`{i}`" for i in ids) if ids
                      else f"out of scope: {r.out_of_scope}" if r.out_of_scope else "**uncovered**")
            out.append(f"| `{r.id}` {r.title} | {r.citation} | {summary} | {status} |")
        out.append("")
    return "\n".join(out)


def coverage_page(policies: LoadedPolicies) -> str:
    """What the built-in policies could and could not decide on the demo's estate: per policy,
    resources evaluated, found, undecidable (the data to decide was missing), entities read as
    empty, or why it did not run."""
    import datetime as dt
    import tempfile

    from .demo import DEMO_LINES
    from .evaluation import evaluate
    from .snapshots import SnapshotStore
    from .synthetic import generate_estate

    estate = generate_estate(DEMO_LINES, seed=DEMO_SEED)
    with tempfile.TemporaryDirectory(prefix="dialtone-coverage-") as tmp:
        snapshot = SnapshotStore(Path(tmp)).write(
            estate.tables, as_of=estate.as_of, sources={},
            now=dt.datetime.combine(estate.as_of, dt.time(), tzinfo=dt.UTC))
        result = evaluate(snapshot, policies)
    out = ["# What the policies can decide on the demo estate", "", NOTE, "",
           f"The demo's estate (`dialtone demo`: {DEMO_LINES} lines, seed {DEMO_SEED}), evaluated with "
           "every built-in policy. *Undecidable* resources are in a policy's scope but lack the "
           "data to decide (never counted as findings, never as passing); *read as empty* are "
           "optional inputs no source provides. On your estate, `dialtone evaluate` prints the "
           "same columns and the evaluation's page lists them.", "",
           "| policy | status | evaluated | found | undecidable | read as empty |",
           "|---|---|---|---|---|---|"]
    for o in result.outcomes:
        out.append(f"| `{o.policy_id}` | {o.status} | {o.evaluated:,} | {o.finding_count:,} | "
                   f"{o.undecidable_count:,} | {', '.join(o.read_as_empty) or ''} |")
    return "\n".join(out) + "\n"


def pages() -> dict[str, str]:
    loaded = load_policies()
    catalogue = load_catalogue().resolve(loaded.policies)
    result = {}
    index = ["# Built-in policies", "", NOTE, "",
             f"{len(loaded.policies)} policies in {len({p.category for p in loaded.policies})} "
             "packs; `dialtone policy list` prints the same list.", "",
             "| pack | policies |", "|---|---|"]
    for category in CATEGORIES:
        policies = [p for p in loaded.policies if p.category == category]
        if not policies:
            continue
        result[f"{category}.md"] = pack_page(category, policies)
        index.append(f"| [{category}]({category}.md) | {len(policies)} |")
    index += ["", "[Frameworks and coverage](frameworks.md)", "",
              "[What the policies can decide on the demo estate](coverage.md)", ""]
    result["README.md"] = "\n".join(index)
    result["coverage.md"] = coverage_page(loaded)
    result["frameworks.md"] = frameworks_page(catalogue, list(loaded.policies))
    return result


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    wanted = pages()
    for stale in folder.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        (folder / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/policies"))
