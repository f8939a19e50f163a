"""The retry loop on its own: backoff bounds, what stops it, and time.

The only suite with fakes: a scripted attempt, a fake clock and a sleep that advances it.
It tests the loop's decisions, not the SDK (the other suites do that over real HTTP).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cams_delete.results import DeletionResult, Outcome, failed
from cams_delete.retry import MIN_ATTEMPT_S, Deadline, RetryPolicy, with_retries

ALMOST_ONE = 1.0 - 2.0**-53  # the largest value random.random() can return


@dataclass
class FakeClock:
    """Monotonic time that moves only when told to."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class ScriptedAttempt:
    """Answers with the next scripted result (the last one repeats), taking `duration_s` of
    fake time per call, but never longer than the read timeout it was given (as a real
    call that honours its timeout)."""

    clock: FakeClock
    script: Sequence[DeletionResult]
    duration_s: float = 0.0
    calls: list[tuple[float, float, float]] = field(default_factory=list)  # (at, connect, read)

    def __call__(self, connect_timeout_s: float, read_timeout_s: float) -> DeletionResult:
        self.calls.append((self.clock.now, connect_timeout_s, read_timeout_s))
        self.clock.now += min(self.duration_s, read_timeout_s)
        return self.script[min(len(self.calls), len(self.script)) - 1]


def ok() -> DeletionResult:
    return DeletionResult("i-1", Outcome.DELETED, "OK", None, 200, "REQ-OK")


def transient(
    code: str = "ServiceUnavailable", retry_after_s: float | None = None
) -> DeletionResult:
    return failed(
        "i-1", code, "try later", 503, retryable=True, request_id=f"REQ-{code}",
        retry_after_s=retry_after_s,
    )  # fmt: skip


def permanent(code: str = "UnsupportedOperation") -> DeletionResult:
    return failed("i-1", code, "no", 502, retryable=False, request_id="REQ-PERM")


def policy(**overrides: float) -> RetryPolicy:
    values: dict[str, float] = {
        "max_attempts": 4,
        "base_delay_s": 0.1,
        "max_delay_s": 2.0,
        "connect_timeout_s": 5.0,
        "read_timeout_s": 10.0,
        **overrides,
    }
    return RetryPolicy(
        max_attempts=int(values["max_attempts"]),
        base_delay_s=values["base_delay_s"],
        max_delay_s=values["max_delay_s"],
        connect_timeout_s=values["connect_timeout_s"],
        read_timeout_s=values["read_timeout_s"],
    )


@dataclass(frozen=True)
class FixedJitterPolicy(RetryPolicy):
    """The real backoff formula with the random draw pinned, so sleeps are exact."""

    draw: float = ALMOST_ONE

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        return super().backoff(retry_number, rand=lambda: self.draw)


def pinned(draw: float, **overrides: float) -> FixedJitterPolicy:
    base = policy(**overrides)
    return FixedJitterPolicy(
        base.max_attempts, base.base_delay_s, base.max_delay_s,
        base.connect_timeout_s, base.read_timeout_s, draw=draw,
    )  # fmt: skip


def run(
    attempt: ScriptedAttempt,
    retry_policy: RetryPolicy,
    deadline_s: float = 30.0,
    on_retry: Callable[[DeletionResult, int, float], None] | None = None,
) -> DeletionResult:
    clock = attempt.clock
    return with_retries(
        attempt,
        "i-1",
        retry_policy,
        Deadline.after(deadline_s, clock),
        sleep=clock.sleep,
        on_retry=on_retry,
    )


# -- Deadline --------------------------------------------------------------------------------


def test_deadline_counts_down_and_stops_at_zero():
    """GIVEN a deadline 5 s from now on a fake clock
    WHEN time passes
    THEN remaining() counts down and never goes below zero."""
    clock = FakeClock()
    deadline = Deadline.after(5.0, clock)

    assert deadline.expires_at == clock.now + 5.0
    assert deadline.remaining() == 5.0
    clock.now += 3.5
    assert deadline.remaining() == pytest.approx(1.5)
    clock.now += 10
    assert deadline.remaining() == 0.0


# -- backoff ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_number", "ceiling"),
    [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.6), (6, 2.0), (7, 2.0), (30, 2.0)],
)
def test_backoff_full_jitter_bounds(retry_number: int, ceiling: float):
    """GIVEN base 100 ms and cap 2 s
    WHEN the n-th retry's delay is drawn with the lowest and the highest random value
    THEN it spans [0, min(cap, base * 2^(n-1))]: full jitter, exponential, capped."""
    retry_policy = policy(base_delay_s=0.1, max_delay_s=2.0)

    assert retry_policy.backoff(retry_number, rand=lambda: 0.0) == 0.0
    highest = retry_policy.backoff(retry_number, rand=lambda: ALMOST_ONE)
    assert highest == pytest.approx(ceiling)
    assert highest <= ceiling


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    retry_number=st.integers(1, 64),
    base_ms=st.integers(1, 60_000),
    cap_ms=st.integers(1, 300_000),
    draw=st.floats(0.0, ALMOST_ONE),
)
def test_backoff_never_leaves_its_window(retry_number: int, base_ms: int, cap_ms: int, draw: float):
    """GIVEN any configured base and cap and any random draw
    WHEN a delay is computed
    THEN it is within [0, min(cap, base * 2^(n-1))] and grows with the draw."""
    retry_policy = policy(base_delay_s=base_ms / 1000, max_delay_s=max(base_ms, cap_ms) / 1000)
    ceiling = min(retry_policy.max_delay_s, retry_policy.base_delay_s * 2.0 ** (retry_number - 1))

    delay = retry_policy.backoff(retry_number, rand=lambda: draw)

    assert 0.0 <= delay <= ceiling
    assert delay == pytest.approx(ceiling * draw)


def test_backoff_spreads_delays_over_the_whole_window():
    """GIVEN the real random source (seeded)
    WHEN many third-retry delays are drawn
    THEN they cover the window [0, 400 ms] (full jitter, not equal jitter or a fixed delay)."""
    retry_policy = policy(base_delay_s=0.1, max_delay_s=2.0)
    source = random.Random(20261127)

    delays = [retry_policy.backoff(3, rand=source.random) for _ in range(2_000)]

    assert all(0.0 <= delay <= 0.4 for delay in delays)
    assert min(delays) < 0.02
    assert max(delays) > 0.38
    assert sum(delays) / len(delays) == pytest.approx(0.2, abs=0.02)


# -- what stops the loop ---------------------------------------------------------------------


def test_success_on_the_first_attempt_does_not_sleep():
    """GIVEN CAMS deletes at once
    WHEN the loop runs
    THEN one attempt, no sleep, and the result says 1 attempt."""
    attempt = ScriptedAttempt(FakeClock(), [ok()])

    result = run(attempt, policy())

    assert result.outcome is Outcome.DELETED
    assert result.attempts == 1
    assert len(attempt.calls) == 1
    assert attempt.clock.sleeps == []


@pytest.mark.parametrize(
    "code", ["UnsupportedOperation", "Forbidden.RAM", "InvalidParameter", "SignatureDoesNotMatch"]
)
def test_a_permanent_error_is_never_retried(code: str):
    """GIVEN an answer classified as permanent (business, auth, validation)
    WHEN the loop runs
    THEN it returns after one attempt, without sleeping."""
    attempt = ScriptedAttempt(FakeClock(), [permanent(code), ok()])

    result = run(attempt, policy())

    assert result.code == code
    assert result.retryable is False
    assert result.attempts == 1
    assert len(attempt.calls) == 1
    assert attempt.clock.sleeps == []


def test_a_failure_only_a_later_invocation_gets_past_is_returned_at_once():
    """GIVEN an answer that is retryable, but not by this invocation (a busy instance, an
    expired token), after a transient failure
    WHEN the loop runs
    THEN it returns that answer at attempt 2, still retryable, though attempts remain."""
    later = failed("i-1", "InstanceStatus.Locked", "busy", 409, retryable=True, retry_later=True)
    attempt = ScriptedAttempt(FakeClock(), [transient(), later, ok()])

    result = run(attempt, policy(max_attempts=5))

    assert (result.code, result.retryable, result.attempts) == ("InstanceStatus.Locked", True, 2)
    assert len(attempt.calls) == 2
    assert len(attempt.clock.sleeps) == 1


def test_a_permanent_error_after_transient_ones_stops_the_loop():
    """GIVEN a transient failure, then a permanent one
    WHEN the loop runs
    THEN it stops at the permanent one (attempt 2) even though attempts remain."""
    attempt = ScriptedAttempt(FakeClock(), [transient(), permanent(), ok()])

    result = run(attempt, policy(max_attempts=5))

    assert result.code == "UnsupportedOperation"
    assert result.attempts == 2
    assert len(attempt.calls) == 2
    assert len(attempt.clock.sleeps) == 1


def test_transient_failures_are_retried_until_success_and_counted():
    """GIVEN two transient failures, then success
    WHEN the loop runs
    THEN 3 attempts, 2 sleeps, on_retry told of each retry with its number and delay,
    and the result reports 3 attempts."""
    attempt = ScriptedAttempt(FakeClock(), [transient("Throttling.User"), transient(), ok()])
    retries: list[tuple[str, int, float]] = []

    result = run(
        attempt,
        pinned(0.5, base_delay_s=0.1),
        on_retry=lambda failed_result, number, delay: retries.append(
            (failed_result.code, number, delay)
        ),
    )

    assert result.outcome is Outcome.DELETED
    assert result.attempts == 3
    assert len(attempt.calls) == 3
    assert retries == [("Throttling.User", 1, 0.05), ("ServiceUnavailable", 2, 0.1)]
    assert attempt.clock.sleeps == [0.05, 0.1]


@pytest.mark.parametrize("max_attempts", [1, 2, 4, 10])
def test_max_attempts_is_respected(max_attempts: int):
    """GIVEN CAMS fails transiently forever
    WHEN the loop runs with MAX_ATTEMPTS = n
    THEN exactly n attempts and n - 1 sleeps; the last failure is returned, still retryable,
    with Attempts n."""
    attempt = ScriptedAttempt(FakeClock(), [transient()])

    result = run(attempt, policy(max_attempts=max_attempts))

    assert len(attempt.calls) == max_attempts
    assert len(attempt.clock.sleeps) == max_attempts - 1
    assert result.code == "ServiceUnavailable"
    assert result.retryable is True
    assert result.attempts == max_attempts


def test_retry_after_is_a_lower_bound_of_the_sleep():
    """GIVEN a throttle answer with x-acs-retry-after of 1.5 s and a backoff window of 100 ms
    WHEN the loop retries
    THEN it sleeps at least 1.5 s (the server's word beats the jitter)."""
    attempt = ScriptedAttempt(FakeClock(), [transient("Throttling.User", retry_after_s=1.5), ok()])

    result = run(attempt, pinned(ALMOST_ONE, base_delay_s=0.1))

    assert result.outcome is Outcome.DELETED
    assert attempt.clock.sleeps == [1.5]


def test_backoff_longer_than_retry_after_wins():
    """GIVEN a retry-after of 10 ms and a backoff that draws 1.5 s
    WHEN the loop retries
    THEN it sleeps the longer of the two."""
    attempt = ScriptedAttempt(
        FakeClock(),
        [transient(), transient(), transient("Throttling", retry_after_s=0.01), ok()],
    )

    run(attempt, pinned(ALMOST_ONE, base_delay_s=0.5, max_delay_s=1.5))

    assert attempt.clock.sleeps == pytest.approx([0.5, 1.0, 1.5])


# -- the deadline ----------------------------------------------------------------------------


def test_no_attempt_starts_without_enough_time():
    """GIVEN less than MIN_ATTEMPT_S left before the deadline
    WHEN the loop starts
    THEN no call is made: DeadlineExceeded, 504, retryable, 0 attempts."""
    attempt = ScriptedAttempt(FakeClock(), [ok()])

    result = run(attempt, policy(), deadline_s=MIN_ATTEMPT_S / 2)

    assert attempt.calls == []
    assert result.code == "DeadlineExceeded"
    assert result.http_status == 504
    assert result.retryable is True
    assert result.attempts == 0
    assert result.request_id is None


def test_attempt_timeouts_are_cut_to_the_time_left():
    """GIVEN 3 s left and configured timeouts of 5 s (connect) and 10 s (read)
    WHEN the first attempt is made
    THEN connect and read together get at most the 3 s that remain (a read timeout starts
    after the connect, so each capped at 3 s could take 6)."""
    attempt = ScriptedAttempt(FakeClock(), [ok()])

    run(attempt, policy(connect_timeout_s=5.0, read_timeout_s=10.0), deadline_s=3.0)

    [(_, connect, read)] = attempt.calls
    assert connect == pytest.approx(1.0)
    assert read == pytest.approx(2.0)
    assert connect + read <= 3.0


def test_configured_timeouts_apply_when_time_is_plenty():
    """GIVEN 30 s left and timeouts of 5 s (connect) and 10 s (read)
    WHEN the first attempt is made
    THEN it gets exactly the configured timeouts."""
    attempt = ScriptedAttempt(FakeClock(), [ok()])

    run(attempt, policy(connect_timeout_s=5.0, read_timeout_s=10.0), deadline_s=30.0)

    [(_, connect, read)] = attempt.calls
    assert (connect, read) == (5.0, 10.0)


def test_a_retry_that_would_end_past_the_deadline_is_not_made():
    """GIVEN 2 s left and a failure whose backoff draws 1.9 s
    WHEN the first attempt fails
    THEN the loop does not sleep (the retry could not finish in time) and answers
    DeadlineExceeded carrying the attempt count and the last CAMS request id."""
    clock = FakeClock()
    attempt = ScriptedAttempt(clock, [transient("InternalError"), ok()])

    result = run(attempt, pinned(0.95, base_delay_s=2.0), deadline_s=2.0)

    assert len(attempt.calls) == 1
    assert clock.sleeps == []
    assert result.code == "DeadlineExceeded"
    assert result.retryable is True
    assert result.attempts == 1
    assert result.request_id == "REQ-InternalError"
    assert "InternalError" in (result.message or "")


def test_a_wait_cams_asks_for_that_fits_is_made_when_the_jitter_does_not_fit():
    """GIVEN 2 s left, a throttle asking to come back in 1 s, and a backoff drawing 1.9 s
    WHEN the first attempt fails
    THEN the loop waits the 1 s CAMS asked for and retries, rather than giving up with
    time left."""
    clock = FakeClock()
    attempt = ScriptedAttempt(clock, [transient("Throttling", retry_after_s=1.0), ok()])

    result = run(attempt, pinned(0.95, base_delay_s=2.0), deadline_s=2.0)

    assert clock.sleeps == [1.0]
    assert result.outcome is Outcome.DELETED
    assert result.attempts == 2


def test_a_wait_cams_asks_for_past_the_deadline_answers_with_its_own_answer():
    """GIVEN 2 s left and a throttle asking to come back in 1.9 s
    WHEN the first attempt fails
    THEN the loop does not sleep and answers with the throttle itself, which carries
    when to come back (a 429 with Retry-After), rather than a timeout."""
    clock = FakeClock()
    attempt = ScriptedAttempt(clock, [transient("Throttling.User", retry_after_s=1.9), ok()])

    result = run(attempt, policy(), deadline_s=2.0)

    assert len(attempt.calls) == 1
    assert clock.sleeps == []
    assert result.code == "Throttling.User"
    assert result.retryable is True
    assert result.retry_after_s == 1.9
    assert result.attempts == 1


def test_slow_attempts_use_up_the_deadline_and_end_as_deadline_exceeded():
    """GIVEN attempts that each hang until their read timeout (1 s) and 2.6 s left
    WHEN CAMS never answers in time
    THEN the third attempt gets only the time that is left, and the loop ends by the
    deadline with DeadlineExceeded after 3 attempts (of 4 allowed)."""
    clock = FakeClock()
    started = clock.now
    attempt = ScriptedAttempt(
        clock, [transient("UpstreamTimeout")], duration_s=60.0
    )  # capped by the read timeout

    result = run(attempt, pinned(ALMOST_ONE, read_timeout_s=1.0, base_delay_s=0.01), deadline_s=2.6)

    assert result.code == "DeadlineExceeded"
    assert result.attempts == len(attempt.calls) == 3
    # The third gets what is left, 0.57 s: a third for the connect, the rest to read.
    assert [read for _, _, read in attempt.calls] == pytest.approx([1.0, 1.0, 0.38])
    assert sum(attempt.calls[2][1:]) == pytest.approx(0.57)
    assert clock.now <= started + 2.6


@dataclass(frozen=True)
class Scenario:
    deadline_s: float
    max_attempts: int
    base_ms: int
    cap_ms: int
    read_timeout_s: float
    duration_s: float
    retry_after_s: float | None
    draw: float
    failures: int


SCENARIOS = st.builds(
    Scenario,
    deadline_s=st.floats(0.0, 20.0),
    max_attempts=st.integers(1, 10),
    base_ms=st.integers(1, 2_000),
    cap_ms=st.integers(1, 10_000),
    read_timeout_s=st.floats(0.05, 10.0),
    duration_s=st.floats(0.0, 12.0),
    retry_after_s=st.one_of(st.none(), st.floats(0.001, 30.0)),
    draw=st.floats(0.0, ALMOST_ONE),
    failures=st.integers(0, 12),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(SCENARIOS)
def test_the_loop_never_sleeps_past_the_deadline(scenario: Scenario):
    """GIVEN any deadline, policy, attempt duration, retry-after and number of failures
    WHEN the loop runs
    THEN it never sleeps into the last MIN_ATTEMPT_S, never gives an attempt more time
    than remains, never exceeds MAX_ATTEMPTS, ends by the deadline, and reports the attempts
    it made; a retryable result before MAX_ATTEMPTS is DeadlineExceeded, or CAMS's own
    answer when it asked for a wait that does not fit."""
    s = scenario
    clock = FakeClock()
    deadline = Deadline.after(s.deadline_s, clock)
    script = [transient("Throttling", retry_after_s=s.retry_after_s)] * s.failures + [ok()]
    attempt = ScriptedAttempt(clock, script, duration_s=s.duration_s)
    retry_policy = pinned(
        s.draw,
        max_attempts=s.max_attempts,
        base_delay_s=s.base_ms / 1000,
        max_delay_s=max(s.base_ms, s.cap_ms) / 1000,
        read_timeout_s=s.read_timeout_s,
    )
    wake_ups: list[float] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        wake_ups.append(deadline.expires_at - clock.now)

    result = with_retries(attempt, "i-1", retry_policy, deadline, sleep=sleep)

    assert all(left >= MIN_ATTEMPT_S - 1e-9 for left in wake_ups)
    for at, connect, read in attempt.calls:
        left = deadline.expires_at - at
        assert left >= MIN_ATTEMPT_S
        assert connect + read <= left + 1e-9
    assert clock.now <= deadline.expires_at + 1e-9
    assert len(attempt.calls) <= s.max_attempts
    assert result.attempts == len(attempt.calls)
    if s.retry_after_s is not None:
        assert all(slept >= s.retry_after_s for slept in clock.sleeps)
    if result.outcome is Outcome.DELETED:
        assert len(attempt.calls) == s.failures + 1
    elif result.retryable and result.attempts < s.max_attempts:
        # Out of time: a timeout, or CAMS's own answer when the wait it asked for does not
        # fit in the time left.
        assert deadline.remaining() < MIN_ATTEMPT_S + max(
            retry_policy.backoff(result.attempts, lambda: s.draw), s.retry_after_s or 0.0
        )
        if result.code != "DeadlineExceeded":
            assert result.code == "Throttling"
            assert s.retry_after_s is not None
            assert deadline.remaining() - s.retry_after_s < MIN_ATTEMPT_S
    else:
        assert result.attempts == s.max_attempts


def test_an_attempt_starts_with_exactly_the_minimum_left():
    from cams_delete.results import DeletionResult, Outcome
    from cams_delete.retry import MIN_ATTEMPT_S, Deadline, RetryPolicy, with_retries

    calls = []

    def attempt(connect: float, read: float) -> DeletionResult:
        calls.append((connect, read))
        return DeletionResult("i-1", Outcome.DELETED, "OK", None, 200)

    policy = RetryPolicy(4, 0.001, 0.005, 5.0, 10.0)
    result = with_retries(attempt, "i-1", policy, Deadline(MIN_ATTEMPT_S, clock=lambda: 0.0))

    assert result.code == "OK"
    assert len(calls) == 1
