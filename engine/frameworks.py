"""The frameworks catalogue: regulations and internal practices, their requirements,
and which policies cover them.

Each framework is one YAML file in a ``frameworks/`` folder of a policy
directory (the built-in one is ``policies/frameworks/``). Policies map to
requirements with ``frameworks: {framework-id: [requirement-id, …]}``; a
mapping to an unknown framework or requirement makes the policy invalid, and a
requirement that no policy maps to is *uncovered* unless the catalogue marks it
``out_of_scope`` with the reason.

A requirement's threshold is never written twice. It names where it comes from —
``obligation: <id>`` (the obligations catalogue, ``obligations.yaml``) or
``parameter: <policy-id>.<param>`` (the parameter of the policy that runs the
control) — and its summary says ``{value}`` where the threshold goes.
``Catalogue.resolve`` fills both in from the parameters in force, so the text an
auditor reads (docs, OSCAL, the web) states the control as it operates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from dialtone.policies import builtin_policy_dir

from .errors import PolicyError, Problem, did_you_mean
from .policy.model import Policy
from .yamlio import YamlDocument, load_yaml_file

FOLDER = "frameworks"
OBLIGATIONS_FILE = "obligations.yaml"

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "title", "authority", "citation", "requirements"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "title": {"type": "string"},
        "authority": {"type": "string"},
        "citation": {"type": "string"},
        "url": {"type": "string"},
        "description": {"type": "string"},
        "requirements": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "title", "citation", "summary"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                    "title": {"type": "string"},
                    "citation": {"type": "string"},
                    "summary": {"type": "string"},
                    "minimum_days": {"type": "integer", "minimum": 0},
                    "maximum_days": {"type": "integer", "minimum": 0},
                    "number": {"type": "number"},
                    "unit": {"type": "string"},
                    "states": {"type": "array", "items": {"type": "string"}},
                    "obligation": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                    # <policy-id>.<param>
                    "parameter": {"type": "string",
                                  "pattern": "^[a-z][a-z0-9]*(\\.[a-z0-9][a-z0-9-]*)+\\.[a-z][a-z0-9_]*$"},
                    "url": {"type": "string"},
                    "out_of_scope": {"type": "string", "minLength": 10},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    citation: str
    summary: str
    out_of_scope: str | None = None
    figures: dict = field(default_factory=dict)  # minimum_days, maximum_days, number+unit, states
    #: Where the threshold comes from: an obligation id, or "<policy-id>.<param>".
    obligation: str | None = None
    parameter: str | None = None


@dataclass(frozen=True)
class Framework:
    id: str
    title: str
    authority: str
    citation: str
    requirements: tuple[Requirement, ...]
    path: str
    url: str | None = None

    def requirement(self, rid: str) -> Requirement | None:
        return next((r for r in self.requirements if r.id == rid), None)


@dataclass(frozen=True)
class Catalogue:
    frameworks: dict[str, Framework]

    def check_policy(self, policy: Policy) -> list[Problem]:
        """Problems with a policy's framework mapping (unknown framework or requirement)."""
        problems = []
        for fid, rids in policy.frameworks.items():
            line, col = policy.framework_positions.get(fid, (None, None))
            fw = self.frameworks.get(fid)
            if fw is None:
                problems.append(Problem(
                    f"frameworks: unknown framework '{fid}'.{did_you_mean(fid, self.frameworks)}",
                    policy.path, line, col))
                continue
            known = [r.id for r in fw.requirements]
            for rid in rids:
                if rid not in known:
                    problems.append(Problem(
                        f"frameworks.{fid}: unknown requirement '{rid}'.{did_you_mean(rid, known)}"
                        f" Requirements of {fid}: {', '.join(known)}.", policy.path, line, col))
        return problems

    def coverage(self, policies: Iterable[Policy]) -> dict[tuple[str, str], list[str]]:
        """(framework, requirement) → ids of the policies that map to it."""
        cover: dict[tuple[str, str], list[str]] = {
            (f.id, r.id): [] for f in self.frameworks.values() for r in f.requirements}
        for p in policies:
            for fid, rids in p.frameworks.items():
                for rid in rids:
                    if (fid, rid) in cover:
                        cover[fid, rid].append(p.id)
        return {k: sorted(v) for k, v in cover.items()}

    def resolve(self, policies: Iterable[Policy], params: dict[str, dict] | None = None,
                obligations=None) -> Catalogue:
        """The catalogue with every ``obligation``/``parameter`` threshold filled in from the
        obligations catalogue and the parameters in force (defaults, then ``params``), and
        ``{value}`` in summaries replaced by it."""
        from dataclasses import replace

        from .obligations import load_obligations

        by_id = {p.id: p for p in policies}
        obligations = obligations or load_obligations()
        frameworks = {}
        for fw in self.frameworks.values():
            reqs = []
            for r in fw.requirements:
                figures, shown = dict(r.figures), None
                if r.obligation:
                    ob = obligations.get(r.obligation, f"{fw.path}: {r.id}.obligation")
                    if ob.minimum:
                        figures["minimum_days"] = ob.minimum_days
                    else:
                        figures["states"] = [code for code, _ in ob.jurisdictions]
                    shown = ob.describe()
                elif r.parameter:
                    pid, _, name = r.parameter.rpartition(".")
                    policy = by_id.get(pid)
                    if policy is None:   # a policy not loaded here: the figure stays unstated
                        reqs.append(replace(r, summary=r.summary.replace(
                            "{value}", f"the value of {r.parameter}")))
                        continue
                    if name not in policy.defaults():
                        raise PolicyError([Problem(
                            f"{r.id}.parameter: no policy parameter '{r.parameter}'", fw.path)])
                    value = {**policy.defaults(), **(params or {}).get(pid, {})}[name]
                    if isinstance(value, list):
                        figures["states"] = list(value)
                        shown = ", ".join(map(str, value))
                    else:
                        figures["number"] = value
                        shown = f"{value:g}" + (f" {figures['unit']}" if figures.get("unit") else "")
                summary = r.summary.replace("{value}", shown) if shown is not None else r.summary
                reqs.append(replace(r, figures=figures, summary=summary))
            frameworks[fw.id] = replace(fw, requirements=tuple(reqs))
        return Catalogue(frameworks)

    def uncovered(self, policies: Iterable[Policy]) -> list[tuple[Framework, Requirement]]:
        cover = self.coverage(policies)
        return [(f, r) for f in self.frameworks.values() for r in f.requirements
                if not cover[f.id, r.id] and not r.out_of_scope]


def _framework(doc: YamlDocument) -> Framework:
    data = doc.data
    err = best_match(Draft202012Validator(SCHEMA).iter_errors(data))
    if err is not None:
        line, col = doc.position(list(err.absolute_path))
        where = ".".join(str(p) for p in err.absolute_path) or "framework"
        raise PolicyError([Problem(f"{where}: {err.message}", doc.file, line, col)])
    ids = [r["id"] for r in data["requirements"]]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise PolicyError([Problem(f"duplicate requirement id(s): {', '.join(dups)}", doc.file)])
    figures = ("minimum_days", "maximum_days", "number", "unit", "states")
    return Framework(
        id=data["id"], title=data["title"], authority=data["authority"],
        citation=data["citation"], url=data.get("url"), path=doc.file or "",
        requirements=tuple(
            Requirement(r["id"], r["title"], r["citation"], r["summary"].strip(),
                        r.get("out_of_scope"), {k: r[k] for k in figures if k in r},
                        r.get("obligation"), r.get("parameter"))
            for r in data["requirements"]),
    )


def framework_dirs(policy_paths: Iterable[Path] | None) -> list[Path]:
    """The built-in catalogue plus a ``frameworks/`` folder in each policy directory."""
    dirs = [builtin_policy_dir() / FOLDER]
    for p in policy_paths or ():
        d = Path(p) / FOLDER
        if d.is_dir() and d.resolve() not in {x.resolve() for x in dirs}:
            dirs.append(d)
    return dirs


def load_catalogue(policy_paths: Iterable[Path] | None = None) -> Catalogue:
    """Load every framework; a broken file or a duplicate id raises PolicyError."""
    frameworks: dict[str, Framework] = {}
    problems: list[Problem] = []
    for folder in framework_dirs(policy_paths):
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob("*.yaml")):
            if f.name == OBLIGATIONS_FILE:   # the obligations catalogue (engine/obligations.py)
                continue
            shown = f"{folder.name}/{f.name}"
            try:
                fw = _framework(load_yaml_file(f, shown))
            except PolicyError as exc:
                problems += exc.problems
                continue
            if fw.id != f.stem:
                problems.append(Problem(f"id '{fw.id}' must match the file name", shown, 1, 1))
            elif fw.id in frameworks:
                problems.append(Problem(f"duplicate framework id '{fw.id}'", shown, 1, 1))
            else:
                frameworks[fw.id] = fw
    if problems:
        raise PolicyError(problems)
    return Catalogue(dict(sorted(frameworks.items())))
