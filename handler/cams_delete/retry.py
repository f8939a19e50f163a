"""Retries within the invocation's deadline: exponential backoff with full jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from cams_delete.results import DeletionResult, failed

# Below this, an attempt cannot connect, sign and read an answer: do not start one.
MIN_ATTEMPT_S = 0.25


@dataclass(frozen=True)
class Deadline:
    """When the function must have answered: FC's timeout minus a safety margin."""

    expires_at: float  # time.monotonic() value
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - self.clock())


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay_s: float
    max_delay_s: float
    connect_timeout_s: float
    read_timeout_s: float

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^n)] (spreads retrying clients)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry_number - 1))
        return ceiling * rand()


Attempt = Callable[[float, float], DeletionResult]
"""One call: (connect_timeout_s, read_timeout_s) -> classified result."""


def with_retries(
    attempt: Attempt,
    instance_id: str,
    policy: RetryPolicy,
    deadline: Deadline,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[DeletionResult, int, float], None] | None = None,
) -> DeletionResult:
    """Call until success, a permanent failure, MAX_ATTEMPTS, or the deadline."""
    last: DeletionResult | None = None
    attempts = 0
    while True:
        remaining = deadline.remaining()
        if remaining < MIN_ATTEMPT_S:
            return deadline_exceeded(instance_id, last, attempts)
        attempts += 1
        last = attempt(*attempt_timeouts(policy, remaining)).with_attempts(attempts)
        if not last.retryable or last.retry_later or attempts >= policy.max_attempts:
            return last
        retry_after = last.retry_after_s or 0.0
        delay = max(policy.backoff(attempts), retry_after)
        spare = deadline.remaining() - MIN_ATTEMPT_S
        if delay > spare:
            if not retry_after:
                return deadline_exceeded(instance_id, last, attempts)
            if retry_after > spare:
                # CAMS said when to come back, and it is after the deadline: its answer
                # (a 429 or 503 with Retry-After) tells the caller more than a timeout.
                return last
            delay = retry_after  # CAMS's wait fits where the jitter did not
        if on_retry is not None:
            on_retry(last, attempts, delay)
        sleep(delay)


def attempt_timeouts(policy: RetryPolicy, remaining_s: float) -> tuple[float, float]:
    """(connect, read) timeouts whose sum fits in the time left: the read timeout starts
    only once connected, so capping each at the time left could double it. A third of the
    time left is plenty for a connect, which normally takes milliseconds."""
    connect = min(policy.connect_timeout_s, remaining_s / 3)
    return connect, min(policy.read_timeout_s, remaining_s - connect)


def deadline_exceeded(
    instance_id: str, last: DeletionResult | None, attempts: int
) -> DeletionResult:
    after = f" after {attempts} attempt(s); last: {last.code}" if last is not None else ""
    result = failed(
        instance_id,
        "DeadlineExceeded",
        f"The invocation's time ran out before CAMS confirmed the deletion{after}. "
        "Retrying is safe: a deletion that did happen is reported as already_deleted",
        504,
        retryable=True,
        request_id=last.request_id if last is not None else None,
    )
    return replace(result, attempts=attempts)
