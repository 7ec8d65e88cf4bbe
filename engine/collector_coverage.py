"""What each built-in collector feeds: the "What it feeds" sections of the collector pages.

Each collector declares the fields it can fill (``fills``: entity → field names, ``"*"`` for
every field of the entity); each built-in policy's decision reads some fields
(``CompiledPolicy.fields_read()``). Per collector, a policy is fed **fully** when the collector
fills every field the decision reads, **partially** when it fills some (the rest must come from
another source), and **not at all** otherwise — the same judgement the policy pages of
``docs/policies/`` print per policy (``engine.policy_docs.collector_coverage``).

The section's table sits between two markers in each page and is rewritten in place by
``python -m dialtone.engine.collector_coverage``; a test fails when one is stale. What the
markers enclose is generated; the words around them (what a field really holds) are not.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: The page of each built-in collector, relative to the repository, and the way from that page
#: to docs/policies/.
PAGES: dict[str, tuple[str, str]] = {
    "csv": ("docs/collectors.md", "policies"),
    "asterisk": ("docs/collectors/asterisk.md", "../policies"),
    "freeswitch": ("docs/collectors/freeswitch.md", "../policies"),
    "cucm": ("docs/collectors/cucm.md", "../policies"),
    "msgraph": ("docs/collectors/msgraph.md", "../policies"),
    "zoom": ("docs/collectors/zoom.md", "../policies"),
    "twilio": ("docs/collectors/twilio.md", "../policies"),
    "tmf678": ("docs/collectors/tmf678.md", "../policies"),
    "x12-811": ("docs/collectors/x12-811.md", "../policies"),
}
BEGIN = ("<!-- what-it-feeds: generated from the collector's `fills` and the built-in policies by "
         "`python -m dialtone.engine.collector_coverage`; do not edit by hand -->")
END = "<!-- /what-it-feeds -->"


@dataclass(frozen=True)
class Fed:
    """How one collector feeds one policy."""

    policy: str
    category: str
    how: str                    # "full", "partial" or "none"
    lacks: tuple[str, ...]      # entity.field the decision reads that the collector does not fill


@cache
def _needs() -> tuple[tuple[str, str, dict[str, set[str]]], ...]:
    """(policy id, category, the fields its decision reads) of every built-in policy, compiled
    once per process."""
    from .compiler import compile_policy
    from .policy.loader import load_policies

    return tuple((p.id, p.category, compile_policy(p).required_fields())
                 for p in sorted(load_policies().policies, key=lambda p: p.id))


def coverage(name: str) -> list[Fed]:
    """How the collector ``name`` feeds each built-in policy, in policy id order."""
    from .policy_docs import collector_coverage

    out = []
    for policy, category, needed in _needs():
        verdict = dict(collector_coverage(needed)).get(name)
        if verdict is None:
            raise LookupError(f"the collector '{name}' is not installed or declares no fills")
        how, _, lacking = verdict.partition(": lacks ")
        lacks = (tuple(lacking.split(", ")) if lacking
                 else tuple(sorted(f"{e}.{f}" for e, fs in needed.items() for f in fs)) if how == "none"
                 else ())
        out.append(Fed(policy, category, how, lacks))
    return out


def _fills(name: str) -> dict[str, tuple[str, ...]]:
    from .collector_api import collectors

    return dict(collectors.get(name).fills)


def block(name: str, to_policies: str) -> str:
    """The generated part of the collector's "What it feeds" section (markers included)."""
    fills = _fills(name)
    fed = coverage(name)

    def link(f: Fed) -> str:
        return f"[`{f.policy}`]({to_policies}/{f.category}.md#{f.policy.replace('.', '')})"

    full = [f for f in fed if f.how == "full"]
    partial = [f for f in fed if f.how == "partial"]
    none = [f for f in fed if f.how == "none"]
    out = [BEGIN, ""]
    if all(v == ("*",) for v in fills.values()):
        out.append(f"It fills every field of every entity it is given ({len(fills)} entities).")
    else:
        out += ["| entity | fields it fills |", "|---|---|"]
        out += [f"| `{entity}` | " + ", ".join(f"`{f}`" for f in fields) + " |"
                for entity, fields in sorted(fills.items())]
    out.append("")
    if len(full) == len(fed):
        out.append(f"It can feed all {len(fed)} built-in policies fully.")
    else:
        out.append(f"Of the {len(fed)} built-in policies it feeds **{len(full)} fully**, "
                   f"**{len(partial)} partially** (the fields it lacks must come from another source) "
                   f"and **{len(none)} not at all**.")
        if full or partial:
            out += ["", "| policy | fed | the fields it lacks |", "|---|---|---|"]
            out += [f"| {link(f)} | fully | |" for f in full]
            out += [f"| {link(f)} | partially | " + ", ".join(f"`{x}`" for x in f.lacks) + " |"
                    for f in partial]
        if none:
            out += ["", "Not at all: " + ", ".join(f"`{f.policy}`" for f in none) + "."]
    out += ["", END]
    return "\n".join(out)


def render(text: str, name: str, to_policies: str, page: str = "the page") -> str:
    """``text`` with its generated block replaced by the current one."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{page} has no '{BEGIN}' … '{END}' block to fill")
    return text[:start] + block(name, to_policies) + text[end + len(END):]


def pages(root: Path) -> dict[Path, str]:
    """Every collector page as it should read, by path."""
    out = {}
    for name, (page, to_policies) in PAGES.items():
        path = root / page
        out[path] = render(path.read_text(encoding="utf-8"), name, to_policies, page)
    return out


def write(root: Path) -> None:
    for path, text in pages(root).items():
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
