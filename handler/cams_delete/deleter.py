"""From extracted requests to results: validate, apply policy, delete each instance once."""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, cast

from cams_delete import cams, logs
from cams_delete.config import Settings
from cams_delete.credentials import MissingCredentialsError, RoleCredentials, required
from cams_delete.extract import Extracted
from cams_delete.results import UNEXPECTED_ERROR, DeletionResult, Outcome, failed
from cams_delete.retry import Deadline, RetryPolicy, with_retries
from cams_delete.validation import check_instance_id, policy_result

_CLIENTS = cams.ClientCache()
# The code of a result for an instance that could not be tried: the function has no role.
MISSING_CREDENTIALS = "MissingCredentials"


class Plan(NamedTuple):
    """What one invocation may do: its settings, deadline and the role's keys, None when
    it has none (whoever finds them registers them for redaction; see entrypoints). A
    tuple: one is made for every invocation, and a frozen dataclass's __init__ sets each
    field through object.__setattr__."""

    settings: Settings
    deadline: Deadline
    role: RoleCredentials | None
    dry_run: bool
    # A synchronous HTTP caller reads why it was refused; an event's result is read by
    # nobody and never retried, so its refusals are logged as errors.
    caller_reads_results: bool = False


def process(
    extracted: Sequence[Extracted], plan: Plan, *, batch: bool = False
) -> list[DeletionResult]:
    """One result per extracted item, in input order; each distinct instance deleted once.
    A `batch`'s items decided without CAMS are logged with their place in it."""
    if len(extracted) == 1:
        return [_process_one(extracted[0], plan, batch_index=0 if batch else None)]
    results: list[DeletionResult | None] = [None] * len(extracted)
    positions: dict[str, list[int]] = {}
    for index, item in enumerate(extracted):
        decided = decide_without_cams(
            item, protected=plan.settings.protected_instance_ids, dry_run=plan.dry_run
        )
        if isinstance(decided, DeletionResult):
            results[index] = decided
            # Its place in the batch: a refused record may have no event id or InstanceId.
            log_result(
                decided,
                _event_ids([item]),
                caller_reads=plan.caller_reads_results,
                batch_index=index,
            )
        else:
            positions.setdefault(decided, []).append(index)
    # The events that asked for each instance, so that its one deletion line names them all.
    asked_by = {
        instance_id: _event_ids([extracted[index] for index in indexes])
        for instance_id, indexes in positions.items()
    }
    for instance_id, result in _delete_all(asked_by, plan).items():
        for index in positions[instance_id]:
            results[index] = result
    # Every position was filled: by a decision above, or by its instance's deletion.
    return cast("list[DeletionResult]", results)


def _process_one(item: Extracted, plan: Plan, batch_index: int | None) -> DeletionResult:
    """process for the usual event, one request: nothing to group or to put in order."""
    event_ids = _event_ids([item])
    decided = decide_without_cams(
        item, protected=plan.settings.protected_instance_ids, dry_run=plan.dry_run
    )
    if isinstance(decided, DeletionResult):
        log_result(
            decided, event_ids, caller_reads=plan.caller_reads_results, batch_index=batch_index
        )
        return decided
    return _delete_all({decided: event_ids}, plan)[decided]


def decide_without_cams(
    item: Extracted, *, protected: frozenset[str], dry_run: bool
) -> str | DeletionResult:
    """The result of an item that needs no call (refused, protected, dry run: the
    invocation's or its own), or the valid InstanceId to delete."""
    if isinstance(item, DeletionResult):
        return item
    checked = check_instance_id(item.value)
    if isinstance(checked, DeletionResult):
        return checked
    decided = policy_result(checked, protected=protected, dry_run=dry_run or item.dry_run)
    return decided if decided is not None else checked


def _delete_all(asked_by: dict[str, tuple[str, ...]], plan: Plan) -> dict[str, DeletionResult]:
    """Each instance deleted once; `asked_by` names the events that asked for it."""
    if not asked_by:
        return {}
    try:
        credentials = required(plan.role)
    except MissingCredentialsError as error:
        return {
            instance_id: _logged(
                failed(instance_id, MISSING_CREDENTIALS, str(error), 500, retryable=False),
                0.0,
                plan,
                event_ids,
            )
            for instance_id, event_ids in asked_by.items()
        }
    if len(asked_by) == 1:
        [(instance_id, event_ids)] = asked_by.items()
        return {instance_id: _delete_guarded(instance_id, credentials, plan, event_ids)}
    workers = min(plan.settings.max_concurrency, len(asked_by))
    # Started in a random order: when a batch outlasts the deadline, those still queued
    # end retryable, and FC's retry of the event must reach others than this invocation
    # did, not spend its time again on the ones gone (in input order, it never would).
    queue = list(asked_by.items())
    random.shuffle(queue)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cams-delete") as pool:
        # Each task runs in a copy of this context, so its log lines keep the request id.
        futures = {
            instance_id: pool.submit(
                contextvars.copy_context().run,
                _delete_guarded,
                instance_id,
                credentials,
                plan,
                event_ids,
            )
            for instance_id, event_ids in queue
        }
        return {instance_id: future.result() for instance_id, future in futures.items()}


def _delete_guarded(
    instance_id: str, credentials: RoleCredentials, plan: Plan, event_ids: Sequence[str]
) -> DeletionResult:
    """delete_instance, with a bug turned into this instance's result: the batch's other
    results and counts stay, and the invocation raises for it (see entrypoints)."""
    try:
        return delete_instance(instance_id, credentials, plan, event_ids)
    except Exception:
        logs.get().exception("unexpected_error", instance_id=instance_id)
        return _logged(
            failed(
                instance_id,
                UNEXPECTED_ERROR,
                "The function failed unexpectedly on this instance; its log has the details",
                500,
                retryable=False,
            ),
            0.0,
            plan,
            event_ids,
        )


def delete_instance(
    instance_id: str,
    credentials: RoleCredentials,
    plan: Plan,
    event_ids: Sequence[str] = (),
) -> DeletionResult:
    settings = plan.settings
    started = time.monotonic()
    endpoint, policy = _endpoint_and_policy(settings)
    client = _CLIENTS.get(endpoint, credentials)

    def attempt(connect_timeout_s: float, read_timeout_s: float) -> DeletionResult:
        return cams.delete_once(
            client,
            instance_id,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            not_found_codes=settings.not_found_codes,
            retry_later_codes=settings.retry_later_codes,
        )

    result = with_retries(attempt, instance_id, policy, plan.deadline, on_retry=_log_retry)
    return _logged(result, time.monotonic() - started, plan, event_ids)


# The settings object stays the same while the environment does (config caches it), and
# so do the endpoint and the retry policy made from it: build them once, not per call.
_derived: tuple[Settings, cams.Endpoint, RetryPolicy] | None = None


def _endpoint_and_policy(settings: Settings) -> tuple[cams.Endpoint, RetryPolicy]:
    global _derived  # noqa: PLW0603 - a one-entry cache; rebinding a tuple is atomic
    derived = _derived
    if derived is not None and derived[0] is settings:
        return derived[1], derived[2]
    endpoint = cams.Endpoint(settings.endpoint, settings.protocol, settings.region)
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base_delay_s=settings.retry_base_delay_s,
        max_delay_s=settings.retry_max_delay_s,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
    )
    _derived = (settings, endpoint, policy)
    return endpoint, policy


def _log_retry(result: DeletionResult, attempt: int, delay_s: float) -> None:
    logs.get().warning(
        "deletion_retry",
        instance_id=result.instance_id,
        attempt=attempt,
        code=result.code,
        cams_request_id=result.request_id,
        delay_ms=round(delay_s * 1000),
    )


def _logged(
    result: DeletionResult, duration_s: float, plan: Plan, event_ids: Sequence[str] = ()
) -> DeletionResult:
    log_result(result, event_ids, duration_s, caller_reads=plan.caller_reads_results)
    return result


def _event_ids(items: Sequence[Extracted]) -> tuple[str, ...]:
    """The distinct event ids of the items, in order (a redelivery repeats its id)."""
    ids = (item.event_id for item in items if item.event_id)
    return tuple(dict.fromkeys(ids))


def log_result(
    result: DeletionResult,
    event_ids: Sequence[str] = (),
    duration_s: float = 0.0,
    *,
    caller_reads: bool = False,
    batch_index: int | None = None,
) -> None:
    """The canonical line for one instance: what happened, which events asked for it (and,
    decided without CAMS, where in a batch), and how to find it in CAMS."""
    extra: dict[str, Any] = {}
    if batch_index is not None:
        extra["batch_index"] = batch_index
    if result.access_denied_detail is not None:
        # Which permission the role lacks: an event's result is read by nobody.
        extra["access_denied_detail"] = result.access_denied_detail
    if len(event_ids) == 1:
        extra["event_id"] = event_ids[0]
    elif event_ids:
        extra["event_ids"] = list(event_ids)
    getattr(logs.get(), log_level(result, caller_reads=caller_reads))(
        "deletion",
        instance_id=result.instance_id,
        outcome=result.outcome._value_,
        code=result.code,
        message=result.message,
        cams_request_id=result.request_id,
        attempts=result.attempts,
        retryable=result.retryable,
        duration_ms=round(duration_s * 1000, 1),
        **extra,
    )


# Log levels from the least to the most severe, as log_level names them.
LEVELS = ("info", "warning", "error")


def log_level(result: DeletionResult, *, caller_reads: bool) -> str:
    """info when the instance is gone or a dry run passed; warning when a retry may still
    succeed, or when a caller reads why it was refused; error for everything else, which
    nothing will retry and, from an event, nobody reads."""
    if result.success:
        return "info"
    if result.retryable or (
        caller_reads and result.outcome is Outcome.REJECTED and result.http_status < 500
    ):
        return "warning"
    return "error"
