"""The configuration file (``dialtone.yaml``): sources, policies, parameters, limits.

Found at ``--config``, ``$DIALTONE_CONFIG`` or ``./dialtone.yaml``. Relative
paths are resolved against the config file's folder; the data directory
defaults to ``.dialtone/`` beside it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from . import access, dispute_settings, notify_settings, oidc_settings
from .completeness import SCHEMA as COMPLETENESS_SCHEMA
from .completeness import Completeness
from .errors import ConfigError, PolicyError, did_you_mean
from .freshness import DURATION_PATTERN, parse_duration
from .limits import EvaluationLimits as EvaluationLimits  # part of the configuration's API
from .policy.model import SEVERITIES
from .yamlio import load_yaml_file

CONFIG_ENV = "DIALTONE_CONFIG"
DEFAULT_NAME = "dialtone.yaml"

#: Source settings the engine reads itself; a collector never sees them.
ENGINE_SOURCE_SETTINGS = ("collector", "max_age", "completeness")
#: Besides ``id``, the fields by which a source may refer to each entity, and the defaults.
IDENTITY_KEY_CHOICES = {"people": ("employee_id", "email", "upn"), "lines": ("number",),
                        "devices": ("imei", "serial")}
DEFAULT_IDENTITY_KEYS = {"people": ("employee_id", "email", "upn"), "lines": ("number",),
                         "devices": ("imei", "serial")}
#: How late a scheduled run may start and still run (APScheduler's default is one second).
DEFAULT_MISFIRE_GRACE_SECONDS = 3600
#: A rate limit (Flask-Limiter's notation): "10 per minute", "100/hour", several split by ; or ,.
_RATE = r"\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?"
RATE_LIMIT_PATTERN = rf"^\s*{_RATE}(\s*[;,]\s*{_RATE})*\s*$"

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "data_dir": {"type": "string"},
        # The organisation's IANA time zone: the day a timestamp falls on (local_date).
        "timezone": {"type": "string", "minLength": 1},
        "sources": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z0-9_-]+$"},
            "additionalProperties": {
                "type": "object",
                "required": ["collector"],
                "properties": {
                    "collector": {"type": "string"},
                    # How old this source's data may be before policies reading it error.
                    "max_age": {"type": "string", "pattern": DURATION_PATTERN},
                    # When a source counts as whole (engine/completeness.py).
                    "completeness": COMPLETENESS_SCHEMA,
                },
            },
        },
        "identity": {  # keys by which sources may name people, lines and devices (docs/collectors.md)
            "type": "object",
            "additionalProperties": False,
            "properties": {
                entity: {"type": "array", "items": {"enum": list(keys)}, "uniqueItems": True}
                for entity, keys in IDENTITY_KEY_CHOICES.items()
            },
        },
        "schedule": {  # dialtone scheduler (docs/runs.md)
            "type": "object",
            "additionalProperties": False,
            "required": ["cron"],
            "properties": {
                "cron": {"type": "string", "minLength": 9},
                "misfire_grace_seconds": {"type": "integer", "minimum": 1},
                "jitter_seconds": {"type": "integer", "minimum": 0},
            },
        },
        "policies": {"type": "array", "items": {"type": "string"}},
        "params": {
            "type": "object",
            "additionalProperties": {"type": "object"},
            "description": "policy id → {parameter: value}",
        },
        # A registered backend (engine/backends); its own section, named after it, is checked
        # against the backend's settings schema (spark: docs/scale-out.md).
        "engine": {"type": "string", "minLength": 1},
        "store": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"url": {"type": "string", "minLength": 1}},
        },
        "findings": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"sla_days": {"$ref": "#/$defs/days_by_severity"}},
        },
        "evidence": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"signing_key": {"type": "string", "minLength": 1}},
        },
        "exceptions": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string"},
                "max_days": {"$ref": "#/$defs/days_by_severity"},
            },
        },
        "collect": {  # the collect's own DuckDB (engine/collect.py, docs/configuration.md)
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "memory_limit": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*[KMGT]i?B$"},
                "temp_directory": {"type": "string", "minLength": 1},
            },
        },
        "evaluation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
                "memory_limit": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*[KMGT]i?B$"},
                "threads": {"type": "integer", "minimum": 1},
                # Policies evaluated at the same time (DuckDB; Spark runs one at a time).
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 16},
            },
        },
        # Routing findings to people: targets and rules (docs/notifications.md).
        "notifications": notify_settings.SCHEMA,
        "disputes": dispute_settings.SCHEMA,
        "web": {  # dialtone serve (docs/web.md)
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # The address of the TLS-terminating proxy whose X-Forwarded-For/-Proto are believed,
                # or "*" (any peer: only where nothing but the proxy can reach Dialtone).
                "trusted_proxy": {"type": "string", "minLength": 1},
                "trusted_proxy_count": {"type": "integer", "minimum": 1},
                "sign_in_limit_per_address": {"type": "string", "pattern": RATE_LIMIT_PATTERN},
                "sign_in_limit_per_account": {"type": "string", "pattern": RATE_LIMIT_PATTERN},
                "rate_limit_storage": {"type": "string", "minLength": 1},
                "token_lifetime": {"type": "string", "pattern": DURATION_PATTERN},
                # A page session ends this long after sign-in, or after this long without a request.
                "session_lifetime": {"type": "string", "pattern": DURATION_PATTERN},
                "idle_timeout": {"type": "string", "pattern": DURATION_PATTERN},
            },
        },
        "ops": {  # health, readiness, metrics and request logs (docs/operations.md)
            "type": "object",
            "additionalProperties": False,
            "properties": {
                # json: one JSON line per request, and the server's other messages as JSON.
                "log_format": {"enum": ["text", "json"]},
                # /readyz fails when the last completed run is older than this (unset: not checked).
                "max_run_age": {"type": "string", "pattern": DURATION_PATTERN},
                # A file holding the bearer token /metrics requires ($DIALTONE_METRICS_TOKEN wins).
                "metrics_token_file": {"type": "string", "minLength": 1},
            },
        },
        # Signing in through an OpenID Connect provider (docs/sign-in.md).
        "oidc": oidc_settings.SCHEMA,
        # Scoped access: named sets of legal entities, cost centres, frameworks (docs/access.md).
        "access": access.SCHEMA,
    },
    "$defs": {
        "days_by_severity": {
            "type": "object",
            "propertyNames": {"enum": list(SEVERITIES)},
            "additionalProperties": {"type": "integer", "minimum": 1},
        },
    },
}

#: Days to remediate a finding, from when it opened, by severity.
DEFAULT_SLA_DAYS = {"critical": 7, "high": 30, "medium": 90, "low": 180, "info": 365}
#: The furthest an exception may expire from the day it is approved, by severity.
DEFAULT_EXCEPTION_MAX_DAYS = {"critical": 30, "high": 90, "medium": 180, "low": 365, "info": 365}
#: Overrides ``store.url`` (keeps a password out of the config file).
DATABASE_URL_ENV = "DIALTONE_DATABASE_URL"
#: The bearer token /metrics requires; overrides ``ops.metrics_token_file``.
METRICS_TOKEN_ENV = "DIALTONE_METRICS_TOKEN"
#: In ``policies:``, the built-in packs (alongside an organisation's own folders).
BUILTIN = "builtin"


@dataclass(frozen=True)
class SourceConfig:
    name: str
    collector: str
    settings: dict  # what the collector reads: the engine's own keys left out
    max_age: dt.timedelta | None = None
    completeness: Completeness = field(default_factory=Completeness)


@dataclass(frozen=True)
class Schedule:
    cron: str
    misfire_grace_seconds: int = DEFAULT_MISFIRE_GRACE_SECONDS
    jitter_seconds: int = 0


@dataclass(frozen=True)
class WebSettings:
    """``web:``: the web application behind a proxy, its sign-in rate limits, API token lifetime,
    how long a page session lasts and may sit idle."""
    trusted_proxy: str | None = None
    trusted_proxy_count: int = 1
    sign_in_limit_per_address: str = "30 per minute; 300 per hour"
    sign_in_limit_per_account: str = "10 per minute; 100 per hour"
    rate_limit_storage: str = "memory://"
    token_lifetime: dt.timedelta = dt.timedelta(days=90)
    session_lifetime: dt.timedelta = dt.timedelta(hours=8)
    idle_timeout: dt.timedelta = dt.timedelta(hours=1)


@dataclass(frozen=True)
class OpsSettings:
    """``ops:``: request logs, what /readyz checks and who may scrape /metrics (docs/operations.md)."""
    log_format: str = "text"
    max_run_age: dt.timedelta | None = None
    metrics_token_file: Path | None = None

    def metrics_token(self) -> str | None:
        """The token /metrics requires, or None when it is public. Read on each call, so a
        rotated file is used without a restart; an unreadable file is a ConfigError, never
        an open endpoint."""
        if os.environ.get(METRICS_TOKEN_ENV):
            return os.environ[METRICS_TOKEN_ENV].strip()
        if self.metrics_token_file is None:
            return None
        try:
            token = self.metrics_token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"ops.metrics_token_file: cannot read {self.metrics_token_file}: "
                              f"{exc.strerror}") from None
        if not token:
            raise ConfigError(f"ops.metrics_token_file: {self.metrics_token_file} is empty")
        return token


@dataclass(frozen=True)
class CollectSettings:
    #: What the collect's DuckDB may hold in memory before it spills to ``temp_directory``.
    memory_limit: str = "512MB"
    #: Where it spills; None: a folder in the collect's working folder (in the data directory).
    temp_directory: Path | None = None


@dataclass(frozen=True)
class StoreSettings:
    url: str | None = None  # None: a SQLite file in the data directory
    sla_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA_DAYS))
    exception_max_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_EXCEPTION_MAX_DAYS))


def default_url(data_dir: Path) -> str:
    """The findings store when the configuration names none: a SQLite file in the data folder."""
    return f"sqlite:///{Path(data_dir) / 'dialtone.db'}"


@dataclass(frozen=True)
class Config:
    path: Path | None
    base_dir: Path
    data_dir: Path
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    policy_paths: tuple[Path, ...] | None = None
    params: dict[str, dict] = field(default_factory=dict)
    engine: str = "duckdb"
    #: Backend name → its own section of the file (``spark:``), checked against its schema.
    backend_settings: dict[str, dict] = field(default_factory=dict)
    limits: EvaluationLimits = field(default_factory=EvaluationLimits)
    collect: CollectSettings = field(default_factory=CollectSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    exceptions_dir: Path | None = None  # repository exceptions (exceptions/*.yaml)
    signing_key: Path | None = None     # Ed25519 private key (PEM) that signs evidence packages
    identity_keys: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_IDENTITY_KEYS))
    schedule: Schedule | None = None
    timezone: str = "UTC"
    web: WebSettings = field(default_factory=WebSettings)
    ops: OpsSettings = field(default_factory=OpsSettings)
    notifications: notify_settings.NotifySettings = field(
        default_factory=notify_settings.NotifySettings)
    disputes: dispute_settings.DisputeSettings = field(
        default_factory=dispute_settings.DisputeSettings)
    oidc: oidc_settings.OidcSettings | None = None
    #: ``access.scopes``: scope name → Scope (docs/access.md).
    scopes: dict[str, access.Scope] = field(default_factory=dict)

    @property
    def store_url(self) -> str:
        return os.environ.get(DATABASE_URL_ENV) or self.store.url or default_url(self.data_dir)

    @property
    def spark(self) -> dict:
        """The ``spark:`` section (engine: spark, docs/scale-out.md)."""
        return self.backend_settings.get("spark", {})

    def engine_settings(self, engine: str | None = None) -> dict | None:
        """The section of ``engine`` (default: the configured one), or None when it has none."""
        return self.backend_settings.get(engine or self.engine) or None

    @property
    def compile_cache_dir(self) -> Path:
        """Where compiled policies are kept between runs (engine/compiler/cache.py)."""
        return self.data_dir / "cache" / "compiled"


def find_config(explicit: str | os.PathLike | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path.cwd() / DEFAULT_NAME
    return local if local.exists() else None


def load_config(explicit: str | os.PathLike | None = None, *, required: bool = False) -> Config:
    """Load the configuration; with no file, built-in defaults in the current folder."""
    path = find_config(explicit)
    if path is None:
        if required:
            raise ConfigError(
                f"No configuration: pass --config, set ${CONFIG_ENV} or create ./{DEFAULT_NAME}.")
        return Config(path=None, base_dir=Path.cwd(), data_dir=Path.cwd() / ".dialtone",
                      exceptions_dir=_existing(Path.cwd() / "exceptions"))
    if not path.exists():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        # Within the YAML limits of every file Dialtone reads (yamlio: size, nesting, aliases,
        # keys given twice), each reported with the file and line.
        doc = load_yaml_file(path, str(path))
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    data = doc.data or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a YAML mapping")
    backend_names = _backend_names()
    schema = {**SCHEMA, "properties": {**SCHEMA["properties"],
                                       **{name: {"type": "object"} for name in backend_names}}}
    err = best_match(Draft202012Validator(schema).iter_errors(data))
    if err is not None:
        line, _ = doc.position(list(err.absolute_path))
        where = ".".join(str(p) for p in err.absolute_path) or "config"
        raise ConfigError(f"{path}:{line}: {where}: {err.message}")
    base = path.resolve().parent
    sources = {
        name: SourceConfig(
            name, spec["collector"],
            {k: v for k, v in spec.items() if k not in ENGINE_SOURCE_SETTINGS},
            max_age=parse_duration(spec["max_age"], f"{path}: sources.{name}.max_age")
            if "max_age" in spec else None,
            completeness=Completeness.from_setting(spec.get("completeness"),
                                                   f"{path}: sources.{name}.completeness"))
        for name, spec in (data.get("sources") or {}).items()
    }
    _check_sources(sources, doc, path)
    backend_settings = _check_backends(data, backend_names, doc, path)
    timezone = data.get("timezone", "UTC")
    _check_timezone(timezone, doc, path)
    schedule = data.get("schedule")
    ev = data.get("evaluation") or {}
    store = data.get("store") or {}
    exc = data.get("exceptions") or {}
    url = store.get("url")
    if url and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{(base / url[len('sqlite:///'):]).resolve()}"  # relative to the config
    return Config(
        path=path,
        base_dir=base,
        data_dir=(base / data.get("data_dir", ".dialtone")).resolve(),
        sources=sources,
        policy_paths=tuple(_policy_path(base, p) for p in data["policies"]) if "policies" in data else None,
        params=data.get("params") or {},
        engine=data.get("engine", "duckdb"),
        backend_settings=backend_settings,
        limits=EvaluationLimits(
            timeout_seconds=float(ev.get("timeout_seconds", 300)),
            memory_limit=ev.get("memory_limit"),
            threads=ev.get("threads"),
            concurrency=ev.get("concurrency", 2),
        ),
        collect=_collect_settings(data.get("collect") or {}, base, doc, path),
        store=StoreSettings(
            url=url,
            sla_days={**DEFAULT_SLA_DAYS, **((data.get("findings") or {}).get("sla_days") or {})},
            exception_max_days={**DEFAULT_EXCEPTION_MAX_DAYS, **(exc.get("max_days") or {})},
        ),
        exceptions_dir=(base / exc["path"]) if "path" in exc else _existing(base / "exceptions"),
        signing_key=(base / data["evidence"]["signing_key"])
        if (data.get("evidence") or {}).get("signing_key") else None,
        timezone=timezone,
        identity_keys={**DEFAULT_IDENTITY_KEYS,
                       **{k: tuple(v) for k, v in (data.get("identity") or {}).items()}},
        schedule=Schedule(
            cron=schedule["cron"],
            misfire_grace_seconds=schedule.get("misfire_grace_seconds",
                                               DEFAULT_MISFIRE_GRACE_SECONDS),
            jitter_seconds=schedule.get("jitter_seconds", 0)) if schedule else None,
        web=_web_settings(data.get("web") or {}, path),
        ops=_ops_settings(data.get("ops") or {}, base, path),
        notifications=notify_settings.parse(data.get("notifications"), doc, path),
        disputes=dispute_settings.parse(data.get("disputes")),
        oidc=_oidc_with_scopes(oidc_settings.parse(data.get("oidc"), base, str(path)),
                               access.parse(data.get("access")), path),
        scopes=access.parse(data.get("access")),
    )


def _oidc_with_scopes(oidc, scopes: dict, path) -> oidc_settings.OidcSettings | None:
    """An ``oidc.groups`` entry's ``scope`` must name an ``access.scopes`` entry."""
    if oidc is not None:
        for group, entry in oidc.groups.items():
            if entry.get("scope") is not None and entry["scope"] not in scopes:
                known = ", ".join(sorted(scopes)) or "none (no access.scopes)"
                raise ConfigError(f"{path}: oidc.groups.{group}.scope: unknown scope "
                                  f"{entry['scope']!r}; defined scopes: {known}")
    return oidc


_WEB_DURATIONS = ("token_lifetime", "session_lifetime", "idle_timeout")


def _web_settings(web: dict, path: Path) -> WebSettings:
    settings = {k: v for k, v in web.items() if k not in _WEB_DURATIONS}
    for key in _WEB_DURATIONS:
        if key in web:
            settings[key] = parse_duration(web[key], f"{path}: web.{key}")
    return WebSettings(**settings)


def _ops_settings(ops: dict, base: Path, path: Path) -> OpsSettings:
    return OpsSettings(
        log_format=ops.get("log_format", "text"),
        max_run_age=parse_duration(ops["max_run_age"], f"{path}: ops.max_run_age")
        if "max_run_age" in ops else None,
        metrics_token_file=(base / ops["metrics_token_file"]) if "metrics_token_file" in ops else None)


#: The least memory a collect may be given (DuckDB cannot validate a batch in less).
MIN_COLLECT_MEMORY = 64 * 1000 ** 2
#: … and the most (DuckDB refuses more than some petabytes).
MAX_COLLECT_MEMORY = 1000 ** 5
_UNITS = {"KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3, "TB": 1000 ** 4,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def _collect_settings(collect: dict, base: Path, doc, path: Path) -> CollectSettings:
    limit = collect.get("memory_limit", CollectSettings.memory_limit)
    number, unit = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B)", limit).groups()
    if not MIN_COLLECT_MEMORY <= float(number) * _UNITS[unit.upper()] <= MAX_COLLECT_MEMORY:
        line, _ = doc.position(["collect", "memory_limit"])
        raise ConfigError(f"{path}:{line}: collect.memory_limit: {limit} is outside what a collect "
                          "can run in (64MB to 1000TB)")
    temp = collect.get("temp_directory")
    return CollectSettings(memory_limit=limit, temp_directory=(base / temp).resolve() if temp else None)


def _check_sources(sources: dict[str, SourceConfig], doc, path: Path) -> None:
    """Each source's collector exists and its settings fit the collector's schema, checked when
    the configuration is read: a mistake is reported before anything runs, with its line."""
    from .collector_api import check_settings, collectors
    from .errors import RegistryError

    for name, src in sources.items():
        try:
            cls = collectors.get(src.collector)
        except RegistryError as exc:
            line, _ = doc.position(["sources", name, "collector"])
            raise ConfigError(f"{path}:{line}: sources.{name}.collector: {exc}") from None
        check_settings(cls, name, src.settings, lambda at: doc.position(at)[0], str(path))


def _backend_names() -> list[str]:
    from .backends import backends

    return backends.names()


def _check_backends(data: dict, names: list[str], doc, path: Path) -> dict[str, dict]:
    """``engine:`` names a registered backend, and each backend's own section fits the schema
    that backend declares (only the backends with a section are imported)."""
    from .backends import backends

    engine = data.get("engine", "duckdb")
    if engine not in names:
        line, _ = doc.position(["engine"])
        raise ConfigError(f"{path}:{line}: engine: unknown engine '{engine}'."
                          f"{did_you_mean(engine, names)} Registered: {', '.join(names)}.")
    sections = {name: data[name] for name in names if name in data}
    for name, settings in sections.items():
        schema = backends.get(name).settings_schema
        if schema is None:
            line, _ = doc.position([name])
            raise ConfigError(f"{path}:{line}: {name}: the {name} engine takes no settings of its "
                              f"own (its limits are under evaluation:)")
        err = best_match(Draft202012Validator(schema).iter_errors(settings))
        if err is not None:
            at = [name, *err.absolute_path]
            line, _ = doc.position(at)
            raise ConfigError(f"{path}:{line}: {'.'.join(str(p) for p in at)}: {err.message}")
    return sections


def _check_timezone(name: str, doc, path: Path) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        line, _ = doc.position(["timezone"])
        raise ConfigError(f"{path}:{line}: timezone: unknown time zone '{name}' (use an IANA "
                          "name such as America/Chicago or Europe/London)") from None


def _policy_path(base: Path, entry: str) -> Path:
    """A ``policies:`` entry: a folder or file, or ``builtin`` for the built-in packs."""
    if entry == BUILTIN:
        from dialtone.policies import builtin_policy_dir

        return builtin_policy_dir()
    return base / entry


def _existing(path: Path) -> Path | None:
    return path if path.is_dir() else None
