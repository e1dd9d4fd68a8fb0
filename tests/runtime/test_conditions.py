"""Flux condition rules: transitions, polarity and the Ready summary."""

from __future__ import annotations

from sluice.api.meta import FALSE, READY, RECONCILING, STALLED, TRUE, UNKNOWN
from sluice.api.source import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    FETCH_FAILED,
    GitRepositoryStatus,
)
from sluice.runtime import conditions

ORDER = (FETCH_FAILED, ARTIFACT_OUTDATED, ARTIFACT_IN_STORAGE)
NEGATIVE = {FETCH_FAILED, ARTIFACT_OUTDATED}
STORED = "stored artifact for revision 'main@sha1:" + "a" * 40 + "'"


def test_transition_time_moves_only_when_status_changes() -> None:
    st = GitRepositoryStatus()
    first = conditions.mark_true(st, ARTIFACT_IN_STORAGE, "Succeeded", "one", 1)
    first.last_transition_time = "2020-01-01T00:00:00Z"
    again = conditions.mark_true(st, ARTIFACT_IN_STORAGE, "Other", "two", 2)
    assert again.last_transition_time == "2020-01-01T00:00:00Z"
    assert (again.reason, again.message, again.observed_generation) == ("Other", "two", 2)
    flipped = conditions.mark_false(st, ARTIFACT_IN_STORAGE, "Gone", "three", 2)
    assert flipped.last_transition_time != "2020-01-01T00:00:00Z"
    assert len(st.conditions or []) == 1


def test_ready_is_listed_first_then_by_type() -> None:
    st = GitRepositoryStatus()
    conditions.mark_true(st, FETCH_FAILED, "GitOperationFailed", "x")
    conditions.mark_true(st, ARTIFACT_IN_STORAGE, "Succeeded", "y")
    conditions.mark_false(st, READY, "GitOperationFailed", "x")
    assert [c.type for c in st.conditions or []] == [READY, ARTIFACT_IN_STORAGE, FETCH_FAILED]


def test_summary_copies_the_healthy_condition_when_nothing_fails() -> None:
    st = GitRepositoryStatus()
    conditions.mark_true(st, ARTIFACT_IN_STORAGE, "Succeeded", STORED, 3)
    ready = conditions.summarize(st, ORDER, NEGATIVE, 3)
    assert ready is not None
    assert (ready.status, ready.reason, ready.message, ready.observed_generation) == (
        TRUE, "Succeeded", STORED, 3)


def test_a_failing_negative_condition_wins_over_a_kept_artifact() -> None:
    st = GitRepositoryStatus()
    conditions.mark_true(st, ARTIFACT_IN_STORAGE, "Succeeded", STORED)
    conditions.mark_true(st, FETCH_FAILED, "AuthenticationFailed", "bad key")
    conditions.mark_true(st, ARTIFACT_OUTDATED, "NewRevision", "new upstream revision")
    ready = conditions.summarize(st, ORDER, NEGATIVE)
    assert ready is not None
    assert (ready.status, ready.reason, ready.message) == (FALSE, "AuthenticationFailed",
                                                           "bad key")
    # The artifact we still serve stays advertised.
    assert conditions.is_true(st, ARTIFACT_IN_STORAGE)


def test_stalled_comes_before_everything() -> None:
    st = GitRepositoryStatus()
    conditions.mark_true(st, FETCH_FAILED, "GitOperationFailed", "fetch")
    conditions.mark_stalled(st, "URLInvalid", "bad url")
    ready = conditions.summarize(st, ORDER, NEGATIVE)
    assert ready is not None and (ready.status, ready.reason) == (FALSE, "URLInvalid")


def test_unknown_when_nothing_fails_but_something_is_undecided() -> None:
    st = GitRepositoryStatus()
    conditions.mark_unknown(st, ARTIFACT_IN_STORAGE, "Progressing", "building")
    ready = conditions.summarize(st, ORDER, NEGATIVE)
    assert ready is not None and ready.status == UNKNOWN


def test_negative_false_is_healthy_and_absent_conditions_leave_ready_alone() -> None:
    st = GitRepositoryStatus()
    assert conditions.summarize(st, ORDER, NEGATIVE) is None
    assert conditions.find(st, READY) is None
    conditions.mark_false(st, FETCH_FAILED, "Succeeded", "fetched")
    ready = conditions.summarize(st, ORDER, NEGATIVE)
    assert ready is not None and ready.status == TRUE


def test_progressing_keeps_a_previous_failure_visible_unless_overwritten() -> None:
    st = GitRepositoryStatus()
    conditions.mark_false(st, READY, "GitOperationFailed", "missing branch")
    conditions.mark_progressing(st, "Progressing", "building artifact")
    assert conditions.is_true(st, RECONCILING)
    ready = conditions.find(st, READY)
    assert ready is not None and ready.reason == "GitOperationFailed"
    conditions.mark_progressing(st, "Progressing", "building artifact", overwrite_ready=True)
    ready = conditions.find(st, READY)
    assert ready is not None and (ready.status, ready.message) == (UNKNOWN, "building artifact")


def test_retrying_and_stalled_exclude_each_other() -> None:
    st = GitRepositoryStatus()
    conditions.mark_reconciling(st, "NewGeneration", "reconciling new object generation (2)", 2)
    conditions.mark_retrying(st)
    cond = conditions.find(st, RECONCILING)
    assert cond is not None and cond.reason == "ProgressingWithRetry"
    assert cond.message == "reconciling new object generation (2)"
    conditions.mark_stalled(st, "URLInvalid", "bad")
    assert conditions.find(st, RECONCILING) is None and conditions.is_true(st, STALLED)
    conditions.mark_reconciling(st, "Progressing", "again")
    assert conditions.find(st, STALLED) is None
    conditions.delete(st, RECONCILING)
    assert st.conditions is None
