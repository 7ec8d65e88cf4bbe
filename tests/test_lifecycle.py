"""The finding lifecycle is data (engine/store/lifecycle.py) that every reader of statuses uses."""

from __future__ import annotations

import pytest

from dialtone.engine.store import STATUSES, lifecycle, queries, workflow
from dialtone.engine.store.claims import PENDING
from dialtone.web.openapi import spec


def test_the_sets_partition_the_statuses():
    assert set(lifecycle.STANDING) | set(lifecycle.CLOSED) == set(STATUSES)
    assert not set(lifecycle.STANDING) & set(lifecycle.CLOSED)
    assert set(lifecycle.NEEDS_WORK) < set(lifecycle.STANDING)
    assert lifecycle.STANDING == lifecycle.NEEDS_WORK + lifecycle.EXCEPTED
    assert set(lifecycle.REOPENABLE) <= set(lifecycle.CLOSED)


@pytest.mark.parametrize("action", sorted(lifecycle.TRANSITIONS))
def test_every_transition_names_known_statuses(action):
    start, end = lifecycle.TRANSITIONS[action]
    assert start and end and set(start) <= set(STATUSES) and set(end) <= set(STATUSES)


def test_one_meaning_per_name_everywhere():
    # Awaiting work: overdue, the posture's open figures, savings still to be had.
    assert queries.OVERDUE_STATUSES == lifecycle.NEEDS_WORK
    assert PENDING == lifecycle.NEEDS_WORK
    assert workflow.REVIEW_OUTCOMES == lifecycle.REVIEW_OUTCOMES
    assert spec()["paths"]["/findings"]["get"]["parameters"][0]["schema"]["items"]["enum"] == list(STATUSES)


def test_released_and_assigned_statuses_stay_in_their_sets():
    assert lifecycle.released_status(None) in lifecycle.NEEDS_WORK
    assert lifecycle.released_status("ada") in lifecycle.NEEDS_WORK
    assert lifecycle.assigned_status("open") == "in_progress"
    assert lifecycle.assigned_status("excepted") == "excepted"


def test_sql_lists_take_known_statuses_only():
    assert lifecycle.sql_list(lifecycle.NEEDS_WORK) == "('open', 'in_progress')"
    with pytest.raises(ValueError):
        lifecycle.sql_list(("open'; DROP TABLE findings; --",))
