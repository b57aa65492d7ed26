"""The core's poll decisions (openai_sansio.Poller): what is finished per
kind of object, the interval (caller, server hint, default), the deadline."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_sansio import (
    BATCH_TERMINAL_STATUSES,
    RUN_TERMINAL_STATUSES,
    Headers,
    LocalProtocolError,
    PollDone,
    Poller,
    PollTimeoutError,
    PollWait,
    poll_after_ms,
)
from openai_sansio.types.assistants import RunObject

NO_HEADERS: dict[str, str] = {}


def test_run_statuses() -> None:
    poller = Poller("run", now=0)
    for status in ("queued", "in_progress", "cancelling", "something_new", None):
        assert poller.step({"status": status}, NO_HEADERS, 0) == PollWait(1.0)
    for status in RUN_TERMINAL_STATUSES:
        step = poller.step({"status": status}, NO_HEADERS, 0)
        assert isinstance(step, PollDone) and step.value == {"status": status}
    assert sorted(RUN_TERMINAL_STATUSES) == sorted(
        ["requires_action", "cancelled", "completed", "failed", "expired", "incomplete"]
    )


def test_models_and_mappings_alike() -> None:
    run = RunObject.from_dict({"id": "run_1", "status": "completed"})
    assert isinstance(Poller("run", now=0).step(run, NO_HEADERS, 0), PollDone)
    queued = RunObject.from_dict({"id": "run_1", "status": "queued"})
    assert isinstance(Poller("run", now=0).step(queued, NO_HEADERS, 0), PollWait)


def test_vector_store_files_wait_only_while_in_progress() -> None:
    poller = Poller("vector_store_file", now=0)
    assert isinstance(poller.step({"status": "in_progress"}, NO_HEADERS, 0), PollWait)
    for status in ("completed", "failed", "cancelled", "new"):
        assert isinstance(poller.step({"status": status}, NO_HEADERS, 0), PollDone)


def test_file_batches_wait_for_their_files() -> None:
    poller = Poller("vector_store_file_batch", now=0)
    pending = {"status": "in_progress", "file_counts": {"in_progress": 2, "completed": 1}}
    assert isinstance(poller.step(pending, NO_HEADERS, 0), PollWait)
    finished = {"status": "completed", "file_counts": {"in_progress": 0, "completed": 3}}
    assert isinstance(poller.step(finished, NO_HEADERS, 0), PollDone)
    # Without counts, the status decides.
    assert isinstance(poller.step({"status": "in_progress"}, NO_HEADERS, 0), PollWait)
    assert isinstance(poller.step({"status": "cancelled"}, NO_HEADERS, 0), PollDone)


def test_batches() -> None:
    poller = Poller("batch", now=0)
    for status in ("validating", "in_progress", "finalizing", "cancelling"):
        assert isinstance(poller.step({"status": status}, NO_HEADERS, 0), PollWait)
    for status in BATCH_TERMINAL_STATUSES:
        assert isinstance(poller.step({"status": status}, NO_HEADERS, 0), PollDone)


def test_the_interval() -> None:
    hinted = Headers([("OpenAI-Poll-After-Ms", "250")])
    assert Poller("run", now=0).step({}, hinted, 0) == PollWait(0.25)
    assert Poller("run", now=0).step({}, {"openai-poll-after-ms": "0"}, 0) == PollWait(0.0)
    assert Poller("run", now=0).step({}, {"Openai-Poll-After-Ms": "40"}, 0) == PollWait(0.04)
    # The caller's interval wins over the server's.
    assert Poller("run", now=0, poll_interval_ms=5).step({}, hinted, 0) == PollWait(0.005)
    # The latest hint counts, not the first.
    poller = Poller("run", now=0)
    assert poller.step({}, {"openai-poll-after-ms": "100"}, 0) == PollWait(0.1)
    assert poller.step({}, {"openai-poll-after-ms": "700"}, 0) == PollWait(0.7)
    assert poller.step({}, NO_HEADERS, 0) == PollWait(1.0)
    assert poller.polls == 3


@pytest.mark.parametrize("value", ["", "-5", "1.5", "ten", "1e3", "9" * 40])
def test_a_bad_hint_is_ignored(value: str) -> None:
    assert poll_after_ms({"openai-poll-after-ms": value}) is None
    assert Poller("run", now=0).step({}, {"openai-poll-after-ms": value}, 0) == PollWait(1.0)


def test_a_huge_hint_is_capped() -> None:
    assert poll_after_ms({"openai-poll-after-ms": "999999999999"}) == 600_000
    assert poll_after_ms({"openai-poll-after-ms": " 20 "}) == 20


def test_the_deadline() -> None:
    poller = Poller("run", now=100.0, max_wait_seconds=2.5)
    assert poller.deadline == 102.5
    poller.before_request(100.0)
    assert poller.step({"status": "queued"}, NO_HEADERS, 100.5) == PollWait(1.0)
    poller.before_request(101.5)
    # The last sleep is cut at the deadline ...
    assert poller.step({"status": "in_progress"}, NO_HEADERS, 102.0) == PollWait(0.5)
    # ... after which no retrieval starts.
    with pytest.raises(PollTimeoutError) as info:
        poller.before_request(102.5)
    assert info.value.last == {"status": "in_progress"}
    assert isinstance(info.value, TimeoutError)
    with pytest.raises(PollTimeoutError):
        poller.step({"status": "in_progress"}, NO_HEADERS, 103.0)
    # A finished object is returned even when it arrives late.
    assert isinstance(poller.step({"status": "completed"}, NO_HEADERS, 200.0), PollDone)


def test_zero_wait_makes_no_request() -> None:
    poller = Poller("vector_store_file", now=5.0, max_wait_seconds=0, what="vector store file 'f'")
    with pytest.raises(PollTimeoutError, match="vector store file 'f'") as info:
        poller.before_request(5.0)
    assert info.value.last is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"poll_interval_ms": -1},
        {"poll_interval_ms": 1.5},
        {"poll_interval_ms": True},
        {"max_wait_seconds": -1},
        {"max_wait_seconds": float("inf")},
        {"max_wait_seconds": float("nan")},
        {"max_wait_seconds": "5"},
    ],
)
def test_bad_arguments_are_local_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        Poller("run", now=0, **kwargs)


def test_an_unknown_kind_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        Poller("thing", now=0)  # type: ignore[arg-type]


@given(
    statuses=st.lists(st.sampled_from(["queued", "in_progress", "completed", "failed"]), max_size=20),
    hints=st.lists(st.one_of(st.none(), st.integers(0, 5000).map(str), st.text(max_size=5)), max_size=20),
    max_wait=st.one_of(st.none(), st.floats(0, 30)),
)
def test_sleeps_never_pass_the_deadline(statuses: list[str], hints: list[str | None], max_wait: float | None) -> None:
    now = 0.0
    poller = Poller("run", now=now, max_wait_seconds=max_wait)
    for status, hint in zip(statuses, hints, strict=False):
        try:
            poller.before_request(now)
            step = poller.step({"status": status}, {} if hint is None else {"openai-poll-after-ms": hint}, now)
        except PollTimeoutError:
            assert max_wait is not None and now >= max_wait
            return
        if isinstance(step, PollDone):
            assert status in RUN_TERMINAL_STATUSES
            return
        assert 0 <= step.seconds <= 600
        if max_wait is not None:
            assert now + step.seconds <= max_wait
        now += step.seconds
