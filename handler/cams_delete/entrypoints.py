"""The FC entry points' bodies: one invocation from bytes in to a rendered answer out."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cams_delete import cams, credentials, deleter, extract, logs, sources
from cams_delete.config import ConfigError, Settings, current_settings
from cams_delete.results import (
    MAX_ID_SHOWN,
    UNEXPECTED_ERROR,
    DeletionResult,
    batch_document,
    echoable_instance_id,
    outcome_counts,
    rejected,
    rejected_batch_document,
)
from cams_delete.retry import MIN_ATTEMPT_S, Deadline

if TYPE_CHECKING:
    from cams_delete.http import HttpAnswer

# What a caller is told of a bug; the log has its traceback.
UNEXPECTED = "The function failed unexpectedly; see its log for this request id"
# FC's built-in runtimes default to 3 s; used only when the context does not say.
DEFAULT_TIMEOUT_S = 3.0
_cold_start = True


class FunctionError(Exception):
    """Raised on purpose, so that FC counts a function error (and retries an event). FC's
    error response shows the message and the traceback: the message is a summary, and
    the traceback holds the entry points' frames only (see handle)."""


class RetryableDeletionError(FunctionError):
    """Raised from event invocations so that FC's async retry and on-failure destination
    take over. Carries a summary only: no secret reaches the caller."""


class UnexpectedFunctionError(FunctionError):
    """Raised from event invocations on a bug, so the event is retried and kept; the
    bug's traceback is in the log only."""


class InvalidConfigurationError(FunctionError):
    """The function's environment variables are wrong; the message names the variable."""


class InitializationError(FunctionError):
    """The initializer failed for another reason (an SDK that will not import); the log
    has the traceback."""


def initialize(context: Any) -> None:
    """Fail fast on bad configuration, configure logging, and pay now for the imports and
    the transport that the first invocation would otherwise pay for."""
    started = time.monotonic()
    request_id = getattr(context, "request_id", None)
    # The initializer runs once per instance, before any invocation: a cold start.
    logs.bind_invocation(
        request_id=request_id, function_name=_function_name(context), cold_start=True
    )
    try:
        settings, _ = _settings_and_timeout(context)
    except ConfigError as error:
        logs.configure()
        logs.get().critical("invalid_configuration", variable=error.variable, reason=str(error))
        # FC answers every invocation with the initializer's error, HTTP callers included,
        # and the caller may not be the operator: the variable's name, not its value.
        raise _invalid_configuration(error, request_id) from None
    logs.configure(settings.log_level)
    try:
        cams.load_sdk()
        cams.prepare_transport(settings.protocol)
    except Exception:
        # E.g. a package built for the other runtime, which the line's Python version tells
        # at a glance. FC sends this error to every caller: the traceback goes to the log,
        # and the error says where to find it.
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        logs.get().exception("initialization_failed", python=python)
        raise InitializationError(
            "The function could not start; its log says why under request id "
            f"{request_id or 'unknown'}"
        ) from None
    logs.get().info(
        "initialized",
        region=settings.region,
        endpoint=settings.endpoint,
        dry_run=settings.dry_run,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
    )


def handle(event: bytes, context: Any) -> dict[str, Any]:
    global _cold_start
    started = time.monotonic()
    cold_start, _cold_start = _cold_start, False
    try:
        return _handle(event, context, started, cold_start)
    except FunctionError as error:
        # FC puts the traceback in its error response: the frames of the function's work
        # say nothing to the caller (the log has what happened).
        raise error.with_traceback(None) from None
    except Exception:
        # A bug outside the steps that catch their own.
        response = _answer_bug(event, context, started, cold_start)
        if response is not None:
            return response
        raise UnexpectedFunctionError(UNEXPECTED) from None


def _answer_bug(
    event: bytes, context: Any, started: float, cold_start: bool
) -> dict[str, Any] | None:
    """For the bug being handled outside every step's own guard: its traceback logged and,
    to a caller waiting on an HTTP request, the normalized 500 it is owed (an HTTP
    invocation never raises). None when the invocation must raise instead, so that FC
    retries the event; also when the event cannot be read again, the bug being there."""
    request = _waiting_http_request(event)
    request_id = getattr(context, "request_id", None)
    try:
        if logs.bound_fields().get("request_id") != request_id:
            # The bug came before this invocation's context was bound: its lines must
            # carry the request id that the caller and FC's error name.
            logs.bind_invocation(
                request_id=request_id, function_name=_function_name(context), cold_start=cold_start
            )
        if request is None:
            _bug("unknown", started)
            return None
        return _answer_http(request, _http_bug(request_id, request), request_id, started)
    except Exception:
        # The log itself is broken: the answer must not depend on it.
        if request is None:
            return None
        from cams_delete import http  # noqa: PLC0415 - only HTTP-triggered functions need it

        return http.last_resort(request_id)


def _waiting_http_request(event: bytes) -> sources.HttpTriggerEvent | None:
    """The event read again, if it is a synchronous HTTP request."""
    try:
        request = sources.recognise(event)
        if isinstance(request, sources.HttpTriggerEvent) and not request.is_async:
            return request
    except Exception:
        return None  # the bug is in reading it: what it is stays unknown
    return None


def _handle(event: bytes, context: Any, started: float, cold_start: bool) -> dict[str, Any]:
    request_id = getattr(context, "request_id", None)
    # The role's keys, looked up once: redacted from the first line on (input refused
    # before any call included), and handed to the deletions.
    role = credentials.find(context)
    logs.bind_invocation(
        role.secrets() if role is not None else (),
        request_id=request_id,
        function_name=_function_name(context),
        cold_start=cold_start,
    )
    recognised = sources.recognise(event)
    try:
        settings, timeout_s = _settings_and_timeout(context)
    except ConfigError as error:
        return _refuse_misconfigured(error, recognised, request_id, started)
    logs.configure(settings.log_level)
    deadline = Deadline(started + timeout_s - settings.deadline_margin_s)
    if isinstance(recognised, sources.HttpTriggerEvent):
        plan_for = _http_plans(settings, deadline, role, caller_reads=not recognised.is_async)
        return _handle_http(recognised, settings, plan_for, request_id, started)
    plan = deleter.Plan(settings, deadline, role, settings.dry_run)
    return _handle_event(recognised, settings, plan, request_id, started)


def _http_plans(
    settings: Settings,
    deadline: Deadline,
    role: credentials.RoleCredentials | None,
    *,
    caller_reads: bool,
) -> Callable[[bool], deleter.Plan]:
    """An HTTP request's plan, made once its dry run is known (the query can ask for one)."""

    def plan_for(dry_run: bool) -> deleter.Plan:
        return deleter.Plan(settings, deadline, role, dry_run, caller_reads)

    return plan_for


def _handle_http(
    request: sources.HttpTriggerEvent,
    settings: Settings,
    plan_for: Callable[[bool], deleter.Plan],
    request_id: str | None,
    started: float,
) -> dict[str, Any]:
    """A synchronous request never raises: every outcome, a bug included, is a normalized
    response. An asynchronous one raises as an event does."""
    from cams_delete import http  # noqa: PLC0415 - only HTTP-triggered functions need it

    try:
        answer = http.respond(request, settings, plan_for)
    except Exception:
        answer = _http_bug(request_id, request)
    return _answer_http(request, answer, request_id, started)


def _answer_http(
    request: sources.HttpTriggerEvent, answer: HttpAnswer, request_id: str | None, started: float
) -> dict[str, Any]:
    """An HTTP answer's log lines, then its response (or, async, the error FC needs)."""
    from cams_delete import http  # noqa: PLC0415 - only HTTP-triggered functions need it

    caller_reads = not request.is_async
    if not answer.logged:
        # Refused by the trigger's own checks (route, method, body, flags, token), or by
        # the function's configuration.
        deleter.log_result(answer.result, caller_reads=caller_reads)
    try:
        response = http.render(answer)
    except Exception:
        # Rendered before the invocation line, so that the line has the status sent.
        answer = _http_bug(request_id, request)
        try:
            response = http.render(answer)
        except Exception:
            response = http.last_resort(request_id)  # rendering itself is what fails
    _log_invocation(
        "http", [answer.result], started, status=answer.status, caller_reads=caller_reads
    )
    if request.is_async:
        # Nobody reads an async request's response: FC's async retry needs an error.
        _raise_for_async(answer.result, request_id)
    return response


def _http_bug(request_id: str | None, request: sources.HttpTriggerEvent) -> HttpAnswer:
    """For the exception being handled in an HTTP request: its traceback logged, and the
    normalized 500 to answer with; both name the instance the path named, if it can still
    be read, so that the request can be found and sent again."""
    from cams_delete import http  # noqa: PLC0415 - only HTTP-triggered functions need it

    try:
        instance_id = echoable_instance_id(http.path_instance(request))
    except Exception:
        instance_id = None
    named = {"instance_id": instance_id} if instance_id is not None else {}
    logs.get().exception("unexpected_error", source="http", **named)
    return http.unexpected_error(request_id, instance_id)


def _bug(
    source: str, started: float, count: int = 0, event: sources.RecognisedEvent | None = None
) -> UnexpectedFunctionError:
    """For the exception being handled: its traceback and the invocation line logged (with
    the `count` of requests that arrived, when known, and what the `event` named, as far as
    it can still be read), and the function's own error to raise, so that FC keeps the
    event. The line is written directly: the helpers that build others may be the bug."""
    logs.get().exception("unexpected_error", source=source)
    held = _named_by(event) if event is not None else None
    logs.get().error(
        "invocation",
        source=source,
        count=count,
        status="error",
        outcomes={},
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        **({"held": held} if held is not None else {}),
    )
    return UnexpectedFunctionError(UNEXPECTED)


def _named_by(event: sources.RecognisedEvent) -> list[str] | None:
    """What an event stopped by a bug asked for, as a refused batch's lines name it (up to
    a line's worth); None when reading it fails too."""
    try:
        if isinstance(event, sources.EventBatch):
            return [name for name in _names(event.elements[:_HELD_PER_LINE]) if name is not None]
        if isinstance(event, (sources.DirectRequest, sources.CloudEvent, sources.TimerEvent)):
            name = _name_of(extract.from_single(event))
            return [name] if name is not None else []
    except Exception:
        return None
    return []


def _raise_for_async(result: DeletionResult, request_id: str | None) -> None:
    if result.code == UNEXPECTED_ERROR:
        raise UnexpectedFunctionError(UNEXPECTED)
    if result.code in _UNUSABLE_ROLE:
        raise _unusable_role(result.code, request_id)
    if result.retryable:
        code = logs.without_secrets(result.code)  # CAMS's, and FC shows the caller this
        raise RetryableDeletionError(
            f"The deletion failed but may succeed if retried ({code}); raising so that FC "
            "retries the asynchronous request"
        )


def _handle_event(
    event: sources.RecognisedEvent,
    settings: Settings,
    plan: deleter.Plan,
    request_id: str | None,
    started: float,
) -> dict[str, Any]:
    source = _source_name(event)
    try:
        if isinstance(event, sources.UnrecognisedEvent):
            results = [rejected(None, event.code, event.message)]
            deleter.log_result(results[0], caller_reads=False)
            document = results[0].to_document()
        elif isinstance(event, sources.EventBatch):
            if len(event.elements) > settings.max_batch_size:
                return _refuse_batch(event, settings, started)
            results = deleter.process(extract.from_batch(event), plan, batch=True)
            document = batch_document(results)
        else:
            assert not isinstance(event, sources.HttpTriggerEvent)
            results = deleter.process([extract.from_single(event)], plan)
            document = results[0].to_document()
    except Exception:
        raise _bug(source, started, _arrived(event), event) from None
    try:
        return _end_event(source, results, document, started, request_id)
    except FunctionError:
        raise
    except Exception:
        # After the deletions (whose lines are written): the event is retried, and they
        # come back already_deleted.
        raise _bug(source, started, _arrived(event), event) from None


def _end_event(
    source: str,
    results: list[DeletionResult],
    document: dict[str, Any],
    started: float,
    request_id: str | None,
) -> dict[str, Any]:
    """An event's invocation line, and its document, or the error FC retries it for."""
    codes = {result.code for result in results}
    if not codes.isdisjoint(_UNUSABLE_ROLE):
        # No role, or keys no request can carry: a configuration problem. FC retries the
        # event, then hands it to the on-failure destination, where it waits for the mend.
        _log_invocation(source, results, started, status="error")
        raise _unusable_role(min(codes.intersection(_UNUSABLE_ROLE)), request_id)
    if UNEXPECTED_ERROR in codes:
        # A bug cut an instance short (its traceback is logged): FC keeps the event.
        _log_invocation(source, results, started, status="error")
        raise UnexpectedFunctionError(UNEXPECTED)
    retrying = [result for result in results if result.retryable]
    status = "retrying" if retrying else "succeeded" if document["Success"] else "failed"
    _log_invocation(source, results, started, status=status)
    if retrying:
        # The codes are CAMS's: FC shows this message to the caller, so they lose secrets.
        retrying_codes = sorted({logs.without_secrets(result.code) for result in retrying})
        raise RetryableDeletionError(
            f"{len(retrying)} of {len(results)} deletion(s) failed but may succeed if retried "
            f"({', '.join(retrying_codes)}); raising so that the event is retried (FC "
            "retries asynchronous invocations; a retry is safe)"
        )
    return document


def _settings_and_timeout(context: Any) -> tuple[Settings, float]:
    """The settings, and the function's timeout, which must leave DEADLINE_MARGIN_MS room
    for one call to CAMS: otherwise every invocation would end before its first attempt."""
    settings = current_settings()
    timeout_s = _timeout_s(context)
    if timeout_s - settings.deadline_margin_s < MIN_ATTEMPT_S:
        raise ConfigError(
            "DEADLINE_MARGIN_MS",
            f"the function's timeout ({timeout_s:g} s) minus DEADLINE_MARGIN_MS "
            f"({settings.deadline_margin_s * 1000:g} ms) leaves less than the "
            f"{MIN_ATTEMPT_S:g} s one call to CAMS needs: raise the function's timeout or "
            "lower DEADLINE_MARGIN_MS",
        )
    return settings, timeout_s


def _refuse_batch(event: sources.EventBatch, settings: Settings, started: float) -> dict[str, Any]:
    size = len(event.elements)
    document = rejected_batch_document(
        "InvalidParameter.BatchSize",
        f"The batch has {size} events; the limit is MAX_BATCH_SIZE={settings.max_batch_size}. "
        "Nothing in it was deleted: lower the trigger's batch size",
        size,
    )
    # Nothing in it is retried: say what it held, every element of it, so that it can be
    # sent again. In lines of a bounded length, as a log service keeps them. An element
    # with no name as text is counted, and the first line says where the first ones are.
    names = _names(event.elements[:_MAX_HELD])
    held = [name for name in names if name is not None]
    unnamed_at = [index for index, name in enumerate(names) if name is None][:_HELD_PER_LINE]
    starts = range(0, max(len(held), 1), _HELD_PER_LINE)  # one line even if none is named
    unnamed = size - len(held)
    for number, start in enumerate(starts, start=1):
        placed = {"unnamed_at": unnamed_at} if number == 1 and unnamed_at else {}
        logs.get().error(
            "batch_rejected", size=size, limit=settings.max_batch_size,
            held=held[start : start + _HELD_PER_LINE], part=number, parts=len(starts),
            unnamed=unnamed, **placed,
        )  # fmt: skip
    _log_invocation(
        "batch", [], started, status="failed", count=size,
        code="InvalidParameter.BatchSize", outcomes={"rejected": size},
    )  # fmt: skip
    return document


# A refused batch's elements named in its batch_rejected lines: this many per line, and
# up to MAX_BATCH_SIZE's own upper bound of them; `unnamed` counts any beyond, and those
# with no name.
_HELD_PER_LINE = 100
_MAX_HELD = 10_000


def _names(elements: list[Any]) -> list[str | None]:
    """How each of a batch's elements can be found again, None for one without a name as
    text. Read as the batch would have been: JSON-string elements and source records (a
    Kafka `value`) included."""
    return [_name_of(extract.from_batch_element(element)) for element in elements]


def _name_of(extracted: extract.Extracted) -> str | None:
    """A CloudEvent's id, or the InstanceId a request names (cut to 128 characters)."""
    name: object = extracted.event_id
    if name is None:
        if isinstance(extracted, extract.Candidate):
            name = extracted.value
        else:
            name = extracted.instance_id
    return logs.shown(name, MAX_ID_SHOWN) if isinstance(name, str) else None


def _refuse_misconfigured(
    error: ConfigError, event: sources.RecognisedEvent, request_id: str | None, started: float
) -> dict[str, Any]:
    logs.configure()
    logs.get().critical("invalid_configuration", variable=error.variable, reason=str(error))
    if isinstance(event, sources.HttpTriggerEvent) and not event.is_async:
        from cams_delete import http  # noqa: PLC0415 - only HTTP-triggered functions need it

        answer = http.misconfigured(event, error.variable, request_id)
        return _answer_http(event, answer, request_id, started)
    # Events must not be lost: a function error sends them to FC's retry and destination.
    _log_invocation(_source_name(event), [], started, status="error", count=_arrived(event))
    raise _invalid_configuration(error, request_id) from None


# Codes of results that say the function's role cannot be used, whatever the event.
_UNUSABLE_ROLE = {
    deleter.MISSING_CREDENTIALS: "has no role credentials (give it a role)",
    cams.REQUEST_NOT_SENT: "cannot send a request with its role's keys or CAMS_ENDPOINT",
}


def _unusable_role(code: str, request_id: str | None) -> FunctionError:
    return InvalidConfigurationError(
        f"The function {_UNUSABLE_ROLE[code]}; raising so that FC retries the event. Its log "
        f"has the details under request id {request_id or 'unknown'}"
    )


def _invalid_configuration(error: ConfigError, request_id: str | None) -> FunctionError:
    return InvalidConfigurationError(
        f"The function's configuration is invalid ({error.variable}); its log says why "
        f"under request id {request_id or 'unknown'}"
    )


def _log_invocation(
    source: str,
    results: list[DeletionResult],
    started: float,
    *,
    status: int | str,
    caller_reads: bool = False,
    count: int | None = None,
    code: str | None = None,
    outcomes: dict[str, int] | None = None,
) -> None:
    """The invocation's summary line, at the level of its most severe result (error when
    the invocation itself failed); `code`, `outcomes` and `count` say what was refused
    whole, before any result was made."""
    fields: dict[str, Any] = {"code": results[0].code} if len(results) == 1 else {}
    if code is not None:
        fields["code"] = code
    if outcomes is None and len(results) == 1:
        outcomes = {results[0].outcome._value_: 1}
    elif outcomes is None:
        outcomes = {k: v for k, v in outcome_counts(results).items() if v}
    if status == "error" or not results:
        level = "info" if status == "succeeded" else "error"
    elif len(results) == 1:
        level = deleter.log_level(results[0], caller_reads=caller_reads)
    else:
        level = max(
            (deleter.log_level(result, caller_reads=caller_reads) for result in results),
            key=deleter.LEVELS.index,
        )
    getattr(logs.get(), level)(
        "invocation",
        source=source,
        count=len(results) if count is None else count,
        status=status,
        outcomes=outcomes,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        **fields,
    )


_SOURCE_NAMES: dict[type, str] = {
    sources.CloudEvent: "eventbridge",
    sources.EventBatch: "batch",
    sources.DirectRequest: "direct",
    sources.TimerEvent: "timer",
    sources.UnrecognisedEvent: "unrecognised",
    sources.HttpTriggerEvent: "http",
}


def _arrived(event: sources.RecognisedEvent) -> int:
    """How many requests an event brought: a batch's elements, otherwise one."""
    return len(event.elements) if isinstance(event, sources.EventBatch) else 1


def _source_name(event: sources.RecognisedEvent) -> str:
    return _SOURCE_NAMES[type(event)]


def _timeout_s(context: Any) -> float:
    timeout = getattr(getattr(context, "function", None), "timeout", None)
    if isinstance(timeout, (int, float)) and timeout > 0:
        return float(timeout)
    return DEFAULT_TIMEOUT_S


def _function_name(context: Any) -> str | None:
    name = getattr(getattr(context, "function", None), "name", None)
    return name if isinstance(name, str) else os.environ.get("FC_FUNCTION_NAME")
