"""The one way an evaluation is run and recorded from the configuration.

`dialtone evaluate`, `dialtone run` (and so the scheduler), `evidence replay` and
`policy diff` all evaluate through :func:`evaluate_configured` and record through
:func:`record_configured`, so the engine, its settings (`spark:`), the limits, the
parameter overrides, the compiled-policy cache, the repository exceptions and the
provenance are taken from the configuration in one place, the same way for each.
"""

from __future__ import annotations

import logging
import typing as t
from dataclasses import dataclass, field

from .config import Config
from .errors import DialtoneError, did_you_mean
from .evaluation import Evaluation, evaluate
from .policy.loader import LoadedPolicies
from .snapshots import Snapshot

log = logging.getLogger(__name__)

if t.TYPE_CHECKING:
    from .store import Store
    from .store.sync import RecordSummary


def unknown_param_warnings(config: Config, loaded: LoadedPolicies) -> list[str]:
    """One warning per `params:` entry naming no loaded policy (a typo would silently keep the
    policy's defaults)."""
    known = loaded.by_id()
    return [f"params.{policy_id}: no such policy.{did_you_mean(policy_id, known)}"
            for policy_id in sorted(set(config.params) - set(known))]


def evaluate_configured(
    config: Config,
    snapshot: Snapshot,
    loaded: LoadedPolicies,
    *,
    policy_ids: list[str] | None = None,
    overrides: dict[str, dict] | None = None,
    engine: str | None = None,
    progress: t.Callable[[int, str], None] | None = None,
    trust_cache: bool = True,
) -> Evaluation:
    """Evaluate ``loaded`` on ``snapshot`` as the configuration says: its engine (or
    ``engine``) with that engine's settings, its limits, its parameter overrides (or
    ``overrides``, e.g. those recorded with an evaluation being replayed), and its
    compiled-policy cache unless ``trust_cache`` is false (a replay compiles from the text)."""
    engine = engine or config.engine
    return evaluate(
        snapshot, loaded,
        overrides=loaded.overrides(config.params) if overrides is None else overrides,
        engine=engine, limits=config.limits, policy_ids=policy_ids,
        engine_settings=config.engine_settings(engine), progress=progress,
        compile_cache=config.compile_cache_dir if trust_cache else None)


def _router(config: Config, store: Store, snapshot):
    """The notifications an evaluation's events call for, routed in its transaction (none
    when no rule is configured)."""
    if not config.notifications.enabled:
        return None
    from .notify import routing

    def route(conn, evaluation_id: int):
        # In a savepoint: a routing failure must not lose the evaluation. Its events stay
        # unrouted (the cursor did not move) and the next send routes them, or says why not.
        routing.start_cursor(conn, evaluation_id)
        try:
            with conn.begin_nested():
                return routing.route_events(conn, config.notifications, now=store.now_text(),
                                            snapshot=snapshot, evaluation_id=evaluation_id)
        except Exception:
            log.warning("notifications: routing evaluation %s failed; `dialtone notify send` "
                        "routes its events again", evaluation_id, exc_info=True)
            return None
    return route


@dataclass
class Recorded:
    summary: RecordSummary
    #: Invalid repository exception files: none of the files is synced while any is invalid.
    exception_problems: list = field(default_factory=list)


class OlderSnapshotError(DialtoneError):
    """Recording this snapshot would take the findings back to an older state of the estate."""


def check_not_older(config: Config, store: Store, snapshot: Snapshot) -> None:
    """OlderSnapshotError when the last recorded evaluation is of a newer snapshot than
    ``snapshot``: recording an older one would resolve the findings that appeared since (and
    reopen the ones fixed since), as if the estate had gone back. Newer means later in the
    snapshot store's order (what "latest" means), or, for a snapshot no longer there, a later
    as-of date."""
    from sqlalchemy import select

    from .snapshots import SnapshotStore
    from .store.tables import evaluations

    with store.read() as conn:
        last = conn.execute(select(evaluations.c.id, evaluations.c.snapshot_id,
                                   evaluations.c.snapshot_as_of)
                            .order_by(evaluations.c.id.desc()).limit(1)).first()
    if last is None or last.snapshot_id == snapshot.id:
        return
    ids = SnapshotStore(config.data_dir).ids()
    if last.snapshot_id in ids and snapshot.id in ids:
        newer = ids.index(last.snapshot_id) > ids.index(snapshot.id)
    else:
        newer = (last.snapshot_as_of or "") > snapshot.as_of.isoformat()
    if newer:
        raise OlderSnapshotError(
            f"snapshot {snapshot.id} is older than snapshot {last.snapshot_id}, which evaluation "
            f"{last.id} recorded: recording it would resolve and reopen findings as they stood "
            "then. Evaluate it with --dry-run, or evaluate the latest snapshot.")


def record_configured(config: Config, store: Store, evaluation: Evaluation,
                      loaded: LoadedPolicies, *, actor: str,
                      provenance: dict | None = None) -> Recorded:
    """Record ``evaluation`` in ``store`` with the repository exceptions of the configuration
    and the policies' provenance (their git version, unless ``provenance`` says otherwise)."""
    from .policy.exceptions_file import load_exceptions
    from .provenance import policy_set_version
    from .store.sync import record_evaluation

    check_not_older(config, store, evaluation.snapshot)
    specs, problems = load_exceptions(config.exceptions_dir, loaded.by_id(),
                                      config.store.exception_max_days)
    summary = record_evaluation(
        store, evaluation, loaded,
        provenance=provenance or policy_set_version(config.policy_paths, loaded),
        actor=actor, repository=None if problems else specs,
        route=_router(config, store, evaluation.snapshot))
    return Recorded(summary, list(problems))
