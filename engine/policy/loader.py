"""Load policies in tiers: YAML → JSON Schema → typed Policy.

Semantic checks of the SQL (allow-list, names, parameters) are the compiler's
job; this module guarantees the structure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import relevance

from dialtone.policies import builtin_policy_dir

from ..errors import PolicyError, Problem
from ..yamlio import YamlDocument, check_size, load_yaml, read_bounded
from .model import Fragment, Param, Policy
from .overrides import PolicyOverride, apply_overrides, is_override, parse_override

TEST_SUFFIX = ".test.yaml"


@cache
def policy_schema() -> dict:
    text = (resources.files(__package__) / "policy.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _validator() -> Draft202012Validator:
    return Draft202012Validator(policy_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _schema_problems(doc: YamlDocument) -> list[Problem]:
    errors = sorted(_validator().iter_errors(doc.data), key=relevance, reverse=True)
    problems = []
    seen = set()
    for err in errors:
        path = list(err.absolute_path)
        if err.validator == "oneOf" and not path:
            has = [k for k in ("where", "query") if k in doc.data]
            msg = ("a policy needs either 'where' or 'query', not both" if has
                   else "a policy needs a 'where' condition or a 'query'")
        elif err.validator == "additionalProperties" and not path:
            extra = sorted(set(doc.data) - set(policy_schema()["properties"]))
            for key in extra:
                node = doc.key_node(key)
                line = node.start_mark.line + 1 if node else None
                col = node.start_mark.column + 1 if node else None
                from ..errors import did_you_mean

                problems.append(Problem(
                    f"unknown key '{key}'.{did_you_mean(key, policy_schema()['properties'])}",
                    doc.file, line, col))
            continue
        else:
            where = ".".join(str(p) for p in path) or "policy"
            msg = f"{where}: {err.message}"
        if msg in seen:
            continue
        seen.add(msg)
        line, col = doc.position(path)
        problems.append(Problem(msg, doc.file, line, col))
    return problems


def _fragment(doc: YamlDocument, path: list, text: str) -> Fragment:
    line, col = doc.scalar_start(path)
    return Fragment(text=text, file=doc.file, line=line, column=col)


def parse_policy(text: str, file: str | None = None) -> Policy:
    """Build a Policy from YAML text, or raise PolicyError with positioned problems."""
    return policy_from_document(load_yaml(text, file), text)


def policy_from_document(doc: YamlDocument, text: str) -> Policy:
    """Build a Policy from its parsed YAML (``text`` is what it was parsed from, for its hash)."""
    file = doc.file
    if not isinstance(doc.data, dict):
        raise PolicyError([Problem("a policy file must be a YAML mapping", file, 1, 1)])
    problems = _schema_problems(doc)
    if problems:
        raise PolicyError(problems)
    data = doc.data
    params = tuple(
        Param(name, spec.get("default"), spec.get("description", ""), spec.get("obligation"))
        for name, spec in sorted((data.get("params") or {}).items())
    )
    return Policy(
        id=data["id"],
        title=data["title"],
        category=data["category"],
        severity=data["severity"],
        resource=data["resource"],
        path=file,
        source_hash="sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest(),
        description=data.get("description", "").strip(),
        where=_fragment(doc, ["where"], data["where"]) if "where" in data else None,
        query=_fragment(doc, ["query"], data["query"]) if "query" in data else None,
        params=params,
        evidence=tuple(
            _fragment(doc, ["evidence", i], e) for i, e in enumerate(data.get("evidence", []))
        ),
        reason=_fragment(doc, ["reason"], data["reason"]) if "reason" in data else None,
        savings=_fragment(doc, ["savings"], data["savings"]) if "savings" in data else None,
        savings_key=(_fragment(doc, ["savings_key"], data["savings_key"])
                     if "savings_key" in data else None),
        currency=_fragment(doc, ["currency"], data["currency"]) if "currency" in data else None,
        optional=tuple(data.get("optional", [])),
        undecidable=(_fragment(doc, ["undecidable"], data["undecidable"])
                     if "undecidable" in data else None),
        frameworks={k: tuple(v) for k, v in sorted((data.get("frameworks") or {}).items())},
        remediation=(data.get("remediation") or "").strip(),
        tags=tuple(data.get("tags", [])),
        framework_positions={k: doc.key_position(["frameworks", k]) for k in data.get("frameworks") or {}},
    )


def _policy_text(raw: bytes, shown: str) -> str:
    """The text of a policy file's bytes (from ``read_bounded``): too large or not UTF-8 is an error."""
    check_size(raw, shown)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([Problem(f"cannot read policy file: {exc}", shown)]) from None


def load_policy_file(path: Path, root: Path | None = None) -> Policy:
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        raw = read_bounded(path)
    except OSError as exc:
        raise PolicyError([Problem(f"cannot read policy file: {exc}", shown)]) from None
    text = _policy_text(raw, shown)
    return dataclasses.replace(parse_policy(text, shown), abspath=str(path.resolve()))


def policy_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Policy YAML files under ``paths`` (files or folders), sorted, tests excluded."""
    for path in paths:
        if path.is_dir():
            for f in sorted(path.rglob("*.yaml")):
                if not f.name.endswith(TEST_SUFFIX) and "frameworks" not in f.relative_to(path).parts:
                    yield f
        elif path.exists():
            yield path
        else:
            raise PolicyError([Problem("no such file or directory", str(path))])


@dataclass(frozen=True)
class LoadedPolicies:
    policies: tuple[Policy, ...]
    failures: tuple[tuple[str, PolicyError], ...]  # (file, error)
    version: str
    #: Parameter defaults changed by override files, by policy id.
    param_overrides: dict[str, dict] = field(default_factory=dict)
    #: Policies disabled by override files: id → (file, reason).
    disabled: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Files that are overrides, not policies (policy tests have nothing to run there).
    override_files: frozenset[str] = frozenset()

    def by_id(self) -> dict[str, Policy]:
        return {p.id: p for p in self.policies}

    def overrides(self, config_params: dict[str, dict] | None) -> dict[str, dict]:
        """Parameters to evaluate with: override files first, the configuration on top."""
        merged = {pid: dict(values) for pid, values in self.param_overrides.items()}
        for pid, values in (config_params or {}).items():
            merged.setdefault(pid, {}).update(values)
        return merged


def _load_one(path: Path, shown: str, digest, overrides: list[PolicyOverride]) -> Policy | None:
    """One file: a policy, or an override (appended to ``overrides``, None returned).

    Its bytes go into ``digest`` as read: a file too large to parse, only as far as it was read."""
    try:
        raw = read_bounded(path)
    except OSError as exc:
        raise PolicyError([Problem(f"cannot read policy file: {exc}", shown)]) from None
    digest.update(raw)
    text = _policy_text(raw, shown)
    doc = load_yaml(text, shown)
    if is_override(doc):
        overrides.append(parse_override(doc, shown))
        return None
    return dataclasses.replace(policy_from_document(doc, text), abspath=str(path.resolve()))


def _with_obligations(policies: list[Policy], roots: list[Path],
                      digest) -> tuple[list[Policy], list[tuple[str, PolicyError]]]:
    """Parameters that take their default from the obligations catalogue, resolved; a policy
    naming an unknown obligation fails. The catalogue's bytes go into the policy set's version."""
    from ..obligations import load_obligations, obligation_files

    if not any(p.obligation for policy in policies for p in policy.params):
        return policies, []
    for path in obligation_files(roots):
        digest.update(b"obligations\0" + read_bounded(path) + b"\0")
    try:
        obligations = load_obligations(roots)
    except PolicyError as exc:
        return [], [(p.path or p.id, exc) for p in policies]
    out, failures = [], []
    for policy in policies:
        try:
            params = tuple(
                dataclasses.replace(p, default=obligations.get(
                    p.obligation, f"params.{p.name}.obligation").value) if p.obligation else p
                for p in policy.params)
        except PolicyError as exc:
            failures.append((policy.path or policy.id, PolicyError(
                [dataclasses.replace(x, file=policy.path) for x in exc.problems])))
            continue
        out.append(dataclasses.replace(policy, params=params))
    return out, failures


def load_policies(paths: Iterable[Path] | None = None) -> LoadedPolicies:
    """Load every policy under ``paths`` (default: the built-in packs).

    A broken file does not stop the others; it is returned among ``failures`` (a file
    larger than ``yamlio.MAX_BYTES``, nested too deep or with aliases expanding too far is
    broken, see ``yamlio``).
    Duplicate ids are failures too. ``version`` is a content hash of every file.
    """
    roots = [Path(p) for p in paths] if paths else [builtin_policy_dir()]
    policies: list[Policy] = []
    failures: list[tuple[str, PolicyError]] = []
    digest = hashlib.sha256()
    seen: dict[str, str] = {}
    overrides: list[PolicyOverride] = []
    for root in roots:
        base = root if root.is_dir() else root.parent
        for f in policy_files([root]):
            shown = str(f.relative_to(base)) if f.is_relative_to(base) else str(f)
            digest.update(shown.encode() + b"\0")
            try:
                policy = _load_one(f, shown, digest, overrides)
            except PolicyError as exc:
                failures.append((shown, exc))
                continue
            except Exception as exc:  # noqa: BLE001 - one file must never stop the others
                failures.append((shown, PolicyError([Problem(
                    f"cannot load policy file ({type(exc).__name__}: {exc})", shown, 1, 1)])))
                continue
            finally:
                digest.update(b"\0")
            if policy is None:
                continue
            if policy.id in seen:
                failures.append((shown, PolicyError([Problem(
                    f"duplicate policy id '{policy.id}' (also in {seen[policy.id]})", shown, 1, 1)])))
                continue
            seen[policy.id] = shown
            policies.append(policy)
    policies.sort(key=lambda p: p.id)
    policies, obligation_failures = _with_obligations(policies, roots, digest)
    failures += obligation_failures
    enabled, params, override_failures = apply_overrides(policies, overrides)
    disabled = {o.policy_id: (o.file, o.reason) for o in overrides
                if o.disabled and o.policy_id not in {p.id for p in enabled}}
    return LoadedPolicies(tuple(enabled), tuple(failures + override_failures),
                          "sha256:" + digest.hexdigest(), params, disabled,
                          frozenset(o.file for o in overrides))
