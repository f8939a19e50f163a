"""The normalized result: one shape for every source, with CAMS's field names."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cams_delete.logs import shown, without_secrets

# CAMS sends the literal string "NULL" where it means no message.
_CAMS_NULL = "NULL"
# How much of an id (an InstanceId, a CloudEvent's, CAMS's request id) is echoed.
MAX_ID_SHOWN = 128
_MAX_MESSAGE = 1024
# The code of a result that a bug in the function cut short.
UNEXPECTED_ERROR = "UnexpectedError"


class Outcome(str, enum.Enum):
    """Read as `outcome._value_` on the hot path: `.value` is a descriptor written in
    Python, and hashing a member (a set or dict of members) calls Python code too."""

    DELETED = "deleted"
    ALREADY_DELETED = "already_deleted"
    DRY_RUN = "dry_run"
    REJECTED = "rejected"
    FAILED = "failed"


SUCCESSFUL_OUTCOMES = frozenset({Outcome.DELETED, Outcome.ALREADY_DELETED, Outcome.DRY_RUN})
_SUCCESSFUL_VALUES = frozenset(outcome._value_ for outcome in SUCCESSFUL_OUTCOMES)
# Iterating an enum runs Python code: the counts' keys, in order, computed once.
_OUTCOME_VALUES = tuple(outcome.value for outcome in Outcome)


@dataclass(frozen=True)
class DeletionResult:
    """What happened to one instance.

    `http_status` and `retry_after_s` are not part of the document: they tell the
    HTTP renderer how to answer and are derived from the same classification. Nor is
    `event_id`, the CloudEvent a refusal was about, for its log line.
    """

    instance_id: str | None
    outcome: Outcome
    code: str
    message: str | None
    http_status: int
    request_id: str | None = None
    access_denied_detail: dict[str, Any] | None = None
    retryable: bool = False
    attempts: int = 0
    retry_after_s: float | None = field(default=None, compare=False)
    # Retryable by a later invocation only: this one cannot get past it (its keys have
    # expired, the instance is busy), so it is returned at once for FC or the caller.
    retry_later: bool = field(default=False, compare=False)
    event_id: str | None = field(default=None, compare=False)

    @property
    def success(self) -> bool:
        return self.outcome._value_ in _SUCCESSFUL_VALUES

    def with_attempts(self, attempts: int) -> DeletionResult:
        # What dataclasses.replace does, without its walk over the fields and a second
        # __init__: it was 3 of the ~65 µs the handler spends around each call.
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__, attempts=attempts)
        return copied

    def to_document(self) -> dict[str, Any]:
        """The result as the caller reads it. The texts that come from outside (what the
        caller sent, what CAMS answered) lose the invocation's secrets, as a log line does:
        an answer may echo what it was sent, and a valid InstanceId can spell a key. CAMS's
        Code and RequestId too: the function checks their shape, not what they spell."""
        return {
            "Success": self.success,
            "Code": without_secrets(self.code),
            "Message": without_secrets(self.message),
            "RequestId": without_secrets(self.request_id),
            "AccessDeniedDetail": without_secrets(self.access_denied_detail),
            "InstanceId": without_secrets(self.instance_id),
            "Outcome": self.outcome._value_,
            "Retryable": self.retryable,
            "Attempts": self.attempts,
        }


def rejected(
    instance_id: object, code: str, message: str, http_status: int = 400
) -> DeletionResult:
    """Input refused before any call to CAMS."""
    return DeletionResult(
        instance_id=echoable_instance_id(instance_id),
        outcome=Outcome.REJECTED,
        code=code,
        message=message,
        http_status=http_status,
    )


def failed(
    instance_id: str | None,
    code: str,
    message: str | None,
    http_status: int,
    *,
    retryable: bool,
    request_id: str | None = None,
    access_denied_detail: dict[str, Any] | None = None,
    retry_after_s: float | None = None,
    retry_later: bool = False,
) -> DeletionResult:
    return DeletionResult(
        instance_id=instance_id,
        outcome=Outcome.FAILED,
        code=code,
        message=message,
        http_status=http_status,
        request_id=request_id,
        access_denied_detail=access_denied_detail,
        retryable=retryable,
        retry_after_s=retry_after_s,
        retry_later=retry_later,
    )


def echoable_instance_id(value: object) -> str | None:
    """The InstanceId as it may be echoed back: strings only, and not unbounded. Secrets
    go before it is cut, or the cut would keep the first part of one."""
    if not isinstance(value, str):
        return None
    text: str = without_secrets(value)
    if len(text) > MAX_ID_SHOWN:
        return text[:MAX_ID_SHOWN] + "…"
    return text


def cams_message(value: object) -> str | None:
    """CAMS's Message, cut to 1,024 characters (the secrets out first): a caller, a log line
    and FC's error text echo it."""
    if value is None or value == _CAMS_NULL:
        return None
    text = str(value)
    return text if len(text) <= _MAX_MESSAGE else shown(text, _MAX_MESSAGE, "…")


def batch_document(results: Sequence[DeletionResult]) -> dict[str, Any]:
    """The answer to an event-streaming batch: every item, in input order, plus counts."""
    counts = outcome_counts(results)
    all_succeeded = all(result.success for result in results)
    failures = len(results) - sum(1 for result in results if result.success)
    return {
        "Success": all_succeeded,
        "Code": "OK" if all_succeeded else "PartialFailure",
        "Message": None if all_succeeded else f"{failures} of {len(results)} items did not succeed",
        "Total": len(results),
        "Counts": counts,
        "Results": [result.to_document() for result in results],
    }


def rejected_batch_document(code: str, message: str, size: int) -> dict[str, Any]:
    """A batch refused as a whole: nothing in it was looked at or deleted."""
    return {
        "Success": False,
        "Code": code,
        "Message": message,
        "Total": size,
        "Counts": outcome_counts(()) | {Outcome.REJECTED.value: size},
        "Results": [],
    }


def outcome_counts(results: Iterable[DeletionResult]) -> dict[str, int]:
    counts = dict.fromkeys(_OUTCOME_VALUES, 0)
    for result in results:
        counts[result.outcome._value_] += 1
    return counts
