"""What each CAMS answer becomes: the emulator's faults through the real SDK, per source.

HTTP maps every failure to a status and never raises; event invocations raise on a
retryable failure (so FC retries) and return the result on a permanent one.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

from cams_delete.cams import classify_body, classify_error, parse_access_denied_detail
from cams_delete.results import DeletionResult, failed
from cams_emulator import Fault
from cams_local.fc import Credentials, FunctionMeta, Python310Context
from tests.conftest import (
    ROLE,
    Invoke,
    assert_no_secrets,
    assert_valid_result,
    load_event,
    role_credential,
    simulated_bug,
)


def delete_request(instance_id: str = "i-1") -> dict:
    event = load_event("http-delete.json")
    event["rawPath"] = f"/instances/{instance_id}"
    return event


def http_outcome(run) -> dict:
    assert run.error is None, "an HTTP invocation never raises"
    assert run.result is not None
    body = run.body
    assert_valid_result(body)
    return body


FAULTS = [
    # fault, status, code, retryable
    pytest.param(
        Fault("throttle", status=429, times=None), 429, "Throttling.User", id="throttle-429"
    ),
    pytest.param(
        Fault("throttle", status=400, times=None), 429, "Throttling.User", id="throttle-400"
    ),
    pytest.param(Fault("internal_error", times=None), 502, "InternalError", id="internal-500"),
    pytest.param(Fault("unavailable", times=None), 503, "ServiceUnavailable", id="unavailable-503"),
    pytest.param(
        Fault("bad_gateway_html", times=None), 502, "UpstreamInvalidResponse", id="html-502"
    ),
    pytest.param(Fault("reset", times=None), 503, "UpstreamUnavailable", id="reset"),
]


@pytest.mark.parametrize(("fault", "status", "code"), FAULTS)
def test_persistent_transient_fault_over_http(emulator, invoke: Invoke, fault, status, code):
    """GIVEN CAMS fails transiently on every attempt
    WHEN DELETE /instances/i-1 arrives
    THEN after MAX_ATTEMPTS tries the answer is the mapped status, Retryable true,
    and the instance still exists."""
    emulator.add_instances("i-1")
    emulator.add_fault(fault)

    run = invoke(delete_request())

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == status
    assert body["Code"] == code
    assert body["Outcome"] == "failed"
    assert body["Retryable"] is True
    assert body["Attempts"] == 4
    assert len(emulator.calls()) == 4
    assert emulator.instances() == {"i-1"}
    # The gateway's own message, not the SDK's wrapping of it.
    assert not (body["Message"] or "").startswith("code:")
    assert "request id:" not in (body["Message"] or "")
    if status in (429, 503):
        assert int(run.result["headers"]["Retry-After"]) >= 1


@pytest.mark.parametrize(("fault", "status", "code"), FAULTS)
def test_transient_fault_once_is_retried_to_success(emulator, invoke: Invoke, fault, status, code):
    """GIVEN CAMS fails transiently once
    WHEN an event asks to delete the instance
    THEN the function retries, the instance is deleted, and the result counts 2 attempts."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault(fault.kind, status=fault.status, times=1))

    run = invoke({"InstanceId": "i-1"})

    assert run.error is None
    assert run.result is not None
    assert run.result["Outcome"] == "deleted"
    assert run.result["Attempts"] == 2
    assert emulator.instances() == set()
    [retry] = run.lines("deletion_retry")
    assert retry["code"] == code


@pytest.mark.parametrize(("fault", "status", "code"), FAULTS)
def test_persistent_transient_fault_on_an_event_raises(
    emulator, invoke: Invoke, fault, status, code
):
    """GIVEN CAMS fails transiently on every attempt
    WHEN an EventBridge event asks for the deletion
    THEN the invocation raises, so FC's async retry and on-failure destination apply,
    and the log still carries the canonical lines."""
    emulator.add_instances("cams-7f3a9c01")
    emulator.add_fault(fault)

    run = invoke(load_event("eventbridge-cloudevent.json"))

    assert run.result is None
    assert run.error is not None
    assert type(run.error).__name__ == "RetryableDeletionError"
    assert code in str(run.error)
    # FC shows the traceback to the caller: the entry points' frames, none of the work's.
    frames = traceback.extract_tb(run.error.__traceback__)
    assert [frame.name for frame in frames][-2:] == ["handler", "handle"]
    assert all(Path(frame.filename).name in ("conftest.py", "index.py", "entrypoints.py")
               for frame in frames)  # fmt: skip
    assert run.error.__cause__ is None
    assert run.error.__suppress_context__ is True
    [deletion] = run.lines("deletion")
    assert deletion["outcome"] == "failed"
    assert deletion["retryable"] is True
    assert deletion["attempts"] == 4
    [invocation] = run.lines("invocation")
    assert invocation["status"] == "retrying"


def test_throttle_retry_after_is_honoured(emulator, invoke: Invoke):
    """GIVEN CAMS throttles once with x-acs-retry-after: 300 ms
    WHEN an event asks for the deletion
    THEN the function waits at least that long before the retry."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("throttle", status=429, retry_after_ms=300, times=1))

    run = invoke({"InstanceId": "i-1"})

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"
    [retry] = run.lines("deletion_retry")
    assert retry["delay_ms"] >= 300
    first, second = emulator.calls()
    assert second.time - first.time >= 0.29


def test_a_throttle_asking_for_more_time_than_is_left_answers_429(emulator, invoke: Invoke):
    """GIVEN CAMS throttles with x-acs-retry-after of 60 s, and the function has 30 s
    WHEN DELETE /instances/i-1 arrives
    THEN it answers at once with CAMS's throttle, 429 and Retry-After: 60, rather than a
    504 that would not say when to come back; nothing is deleted."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("throttle", status=429, retry_after_ms=60_000, times=None))

    run = invoke(delete_request())

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == 429
    assert run.result["headers"]["Retry-After"] == "60"
    assert body["Code"].startswith("Throttling")
    assert body["Retryable"] is True
    assert len(emulator.calls()) == 1
    assert emulator.instances() == {"i-1"}


def test_retry_after_a_lost_answer_ends_as_already_deleted(emulator, invoke: Invoke, monkeypatch):
    """GIVEN CAMS deletes the instance but its answer never arrives (read timeout)
    WHEN the function retries
    THEN the retry finds the instance gone and the result is already_deleted, Success true."""
    monkeypatch.setenv("CAMS_READ_TIMEOUT_MS", "300")
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("timeout_after_commit", delay_s=2, times=1))

    run = invoke({"InstanceId": "i-1"})

    assert run.error is None
    assert run.result is not None
    assert run.result["Outcome"] == "already_deleted"
    assert run.result["Success"] is True
    assert run.result["Attempts"] == 2
    [retry] = run.lines("deletion_retry")
    assert retry["code"] == "UpstreamTimeout"


# What a hang may take with a 3 s timeout: DEADLINE_MARGIN_MS's default 1 s kept free for
# the answer, and half a second of a busy machine. Without the margin it took 2.9 s.
_HANG_BOUND_S = 3.0 - 1.0 + 0.5


def test_hang_until_the_deadline_answers_504_before_fc_would_kill(emulator, invoke: Invoke):
    """GIVEN CAMS hangs on every request and the function's timeout is 3 s
    WHEN DELETE /instances/i-1 arrives
    THEN the function answers 504 DeadlineExceeded before its timeout, with
    DEADLINE_MARGIN_MS (1 s by default) of it left."""
    import time

    emulator.add_instances("i-1")
    emulator.add_fault(Fault("hang", delay_s=10, times=None))
    context = Python310Context(credentials=ROLE, function=FunctionMeta(timeout=3))

    started = time.monotonic()
    run = invoke(delete_request(), context)
    elapsed = time.monotonic() - started

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == 504
    assert body["Code"] == "DeadlineExceeded"
    assert body["Retryable"] is True
    assert elapsed < _HANG_BOUND_S
    assert emulator.instances() == {"i-1"}


def test_hang_on_an_event_raises_before_the_deadline(emulator, invoke: Invoke):
    """GIVEN CAMS hangs and the function's timeout is 3 s
    WHEN an event asks for the deletion
    THEN the invocation raises RetryableDeletionError before FC's timeout, with
    DEADLINE_MARGIN_MS of it left, so that FC retries the event."""
    import time

    emulator.add_instances("i-1")
    emulator.add_fault(Fault("hang", delay_s=10, times=None))
    context = Python310Context(credentials=ROLE, function=FunctionMeta(timeout=3))

    started = time.monotonic()
    run = invoke({"InstanceId": "i-1"}, context)

    assert time.monotonic() - started < _HANG_BOUND_S
    assert type(run.error).__name__ == "RetryableDeletionError"
    assert "DeadlineExceeded" in str(run.error) or "UpstreamTimeout" in str(run.error)
    assert emulator.instances() == {"i-1"}


def test_latency_within_the_timeout_is_just_slow(emulator, invoke: Invoke):
    """GIVEN 200 ms of CAMS latency
    WHEN an event asks for the deletion
    THEN it succeeds on the first attempt."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("latency", delay_s=0.2, times=None))

    run = invoke({"InstanceId": "i-1"})

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"
    assert run.result["Attempts"] == 1


# A refusal no later attempt gets past: not one of CAMS_RETRY_LATER_CODES' families (and
# the emulator's business_error by default).
PERMANENT_CODE = "UnsupportedOperation"


def test_business_error_is_permanent_502_and_not_retried(emulator, invoke: Invoke):
    """GIVEN CAMS answers 200 with a Code other than OK that is not a passing state
    WHEN DELETE /instances/i-1 arrives
    THEN 502 with CAMS's code and message, one attempt, not retryable."""
    emulator.add_instances("i-1")
    emulator.add_fault(
        Fault("business_error", code=PERMANENT_CODE, message="Not for this instance", times=None)
    )

    run = invoke(delete_request())

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == 502
    assert body["Code"] == PERMANENT_CODE
    assert body["Message"] == "Not for this instance"
    assert body["Retryable"] is False
    assert body["Attempts"] == 1
    assert body["RequestId"]


def test_business_error_on_an_event_returns_and_logs_at_error(emulator, invoke: Invoke):
    """GIVEN a permanent business refusal
    WHEN an event asks for the deletion
    THEN the invocation returns the failed result (no raise) and logs it at error level."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("business_error", code=PERMANENT_CODE, times=None))

    run = invoke({"InstanceId": "i-1"})

    assert run.error is None
    assert run.result is not None
    assert run.result["Outcome"] == "failed"
    assert run.result["Retryable"] is False
    [deletion] = run.lines("deletion")
    assert deletion["level"] == "error"


BUSY = [
    pytest.param(
        Fault("business_error", code="InstanceStatus.Invalid", times=None),
        "InstanceStatus.Invalid",
        id="status-200",
    ),
    pytest.param(
        Fault("business_error", code="IncorrectInstanceStatus.Deleting", times=None),
        "IncorrectInstanceStatus.Deleting",
        id="refinement-200",
    ),
    pytest.param(Fault("conflict", times=None), "OperationConflict", id="conflict-409"),
    pytest.param(
        Fault("conflict", status=423, code="Unlisted.Code", times=None),
        "Unlisted.Code",
        id="unlisted-code-423",
    ),
]


@pytest.mark.parametrize(("fault", "code"), BUSY)
def test_a_busy_instance_is_409_retryable_after_one_attempt(
    emulator, invoke: Invoke, fault: Fault, code: str
):
    """GIVEN CAMS refusing because the instance is busy or changing state (a code of
    CAMS_RETRY_LATER_CODES' families, or HTTP 409/423 whatever the code)
    WHEN DELETE /instances/i-1 arrives
    THEN 409 with CAMS's code, retryable, after one attempt: retried at once it would be
    refused again. The instance is still there."""
    emulator.add_instances("i-1")
    emulator.add_fault(fault)

    run = invoke(delete_request())

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == 409
    assert (body["Code"], body["Outcome"]) == (code, "failed")
    assert body["Retryable"] is True
    assert body["Attempts"] == 1
    assert len(emulator.calls()) == 1
    assert emulator.instances() == {"i-1"}


def test_a_busy_instance_keeps_the_event_until_a_redelivery_deletes_it(emulator, invoke: Invoke):
    """GIVEN CAMS answering InstanceStatus.Invalid (the instance is busy)
    WHEN an event asks for the deletion, and FC delivers it again once the instance is free
    THEN the first invocation raises, so that FC retries, and logs a warning that says so;
    the redelivery deletes the instance."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("business_error", code="InstanceStatus.Invalid", times=1))

    first = invoke({"InstanceId": "i-1"})

    assert first.result is None
    assert type(first.error).__name__ == "RetryableDeletionError"
    assert "InstanceStatus.Invalid" in str(first.error)
    [deletion] = first.lines("deletion")
    assert (deletion["level"], deletion["retryable"], deletion["attempts"]) == ("warning", True, 1)
    assert [line["status"] for line in first.lines("invocation")] == ["retrying"]

    again = invoke({"InstanceId": "i-1"})

    assert again.result is not None
    assert again.result["Outcome"] == "deleted"
    assert emulator.instances() == set()


def test_the_retry_later_codes_are_configurable(emulator, invoke: Invoke, monkeypatch):
    """GIVEN CAMS_RETRY_LATER_CODES naming CAMS's own busy code, Instance.Busy, in place of
    the default families
    WHEN CAMS answers that code, and then a code of the defaults it replaced
    THEN the first is 409 retryable, the second a permanent 502."""
    monkeypatch.setenv("CAMS_RETRY_LATER_CODES", "Instance.Busy")
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("business_error", code="Instance.Busy.Publishing", times=1))
    emulator.add_fault(Fault("business_error", code="InstanceStatus.Invalid", times=1))

    busy = http_outcome(invoke(delete_request()))
    other = http_outcome(invoke(delete_request()))

    assert (busy["Code"], busy["Retryable"]) == ("Instance.Busy.Publishing", True)
    assert (other["Code"], other["Retryable"]) == ("InstanceStatus.Invalid", False)


def test_code_ok_with_success_false_is_a_deletion(monkeypatch, invoke: Invoke):
    """GIVEN CAMS answers like the API page's own sample: Code OK with Success false
    WHEN an event asks for the deletion
    THEN Code is the authority: the outcome is deleted and Success is true."""
    from cams_emulator import CamsEmulator

    with CamsEmulator(
        credentials=[role_credential()], instances=["i-1"], ok_success_flag=False
    ) as emu:
        monkeypatch.setenv("CAMS_ENDPOINT", emu.endpoint)
        monkeypatch.setenv("CAMS_PROTOCOL", "http")

        run = invoke({"InstanceId": "i-1"})

        assert run.result is not None
        assert run.result["Outcome"] == "deleted"
        assert run.result["Success"] is True
        assert emu.instances() == set()


def test_ram_denial_is_403_with_parsed_access_denied_detail(monkeypatch, invoke: Invoke):
    """GIVEN the function's role may not call DeleteInstance
    WHEN DELETE /instances/i-1 arrives
    THEN 403 Forbidden.RAM, with AccessDeniedDetail as an object, not retried."""
    from cams_emulator import CamsEmulator

    denied = role_credential(allowed_actions=frozenset({"QueryInstance"}))
    with CamsEmulator(credentials=[denied], instances=["i-1"]) as emu:
        monkeypatch.setenv("CAMS_ENDPOINT", emu.endpoint)
        monkeypatch.setenv("CAMS_PROTOCOL", "http")

        run = invoke(delete_request())

        body = http_outcome(run)
        assert run.result is not None
        assert run.result["statusCode"] == 403
        assert body["Code"] == "Forbidden.RAM"
        assert isinstance(body["AccessDeniedDetail"], dict)
        assert body["AccessDeniedDetail"]
        assert body["Retryable"] is False
        assert len(emu.calls()) == 1
        assert emu.instances() == {"i-1"}
        # The log has it too: an event invocation's result is read by nobody.
        [deletion] = run.lines("deletion")
        assert deletion["level"] == "error"
        assert deletion["access_denied_detail"] == body["AccessDeniedDetail"]


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        (Credentials(ROLE.access_key_id, "the-wrong-secret-value", ROLE.security_token),
         "SignatureDoesNotMatch"),
        (Credentials("STS.UnknownKeyId000000001", ROLE.access_key_secret, ROLE.security_token),
         "InvalidAccessKeyId.NotFound"),
        (Credentials(ROLE.access_key_id, ROLE.access_key_secret, "a-token-that-expired-long-ago"),
         "InvalidSecurityToken"),
    ],
    ids=["wrong-secret", "unknown-key", "wrong-token"],
)  # fmt: skip
def test_refused_role_credentials_are_a_permanent_502(emulator, invoke: Invoke, credentials, code):
    """GIVEN the role's keys are refused by the gateway (the function's problem, not the caller's)
    WHEN DELETE /instances/i-1 arrives
    THEN 502 with the gateway's code, one attempt, and the instance remains."""
    emulator.add_instances("i-1")
    context = Python310Context(credentials=credentials, function=FunctionMeta(timeout=30))

    run = invoke(delete_request(), context)

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == 502
    assert body["Code"].startswith(code)
    assert body["Retryable"] is False
    assert body["Attempts"] == 1
    assert emulator.instances() == {"i-1"}


def test_connection_refused_is_503_retryable(invoke: Invoke, monkeypatch):
    """GIVEN nothing listens at CAMS_ENDPOINT
    WHEN DELETE /instances/i-1 arrives
    THEN 503 UpstreamUnavailable after MAX_ATTEMPTS."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CAMS_ENDPOINT", f"127.0.0.1:{port}")
    monkeypatch.setenv("CAMS_PROTOCOL", "http")

    run = invoke(delete_request())

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == 503
    assert body["Code"] == "UpstreamUnavailable"
    assert body["Attempts"] == 4


def test_max_attempts_is_configurable(emulator, invoke: Invoke, monkeypatch):
    """GIVEN MAX_ATTEMPTS=2 and a persistent 503
    WHEN an HTTP request arrives
    THEN exactly 2 calls reach CAMS."""
    monkeypatch.setenv("MAX_ATTEMPTS", "2")
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("unavailable", times=None))

    run = invoke(delete_request())

    assert http_outcome(run)["Attempts"] == 2
    assert len(emulator.calls()) == 2


def test_missing_credentials_fail_clearly(emulator, invoke: Invoke):
    """GIVEN a python3.12-style context and no ALIBABA_CLOUD_* variables
    WHEN DELETE /instances/i-1 arrives
    THEN 500 MissingCredentials, saying how to fix it; CAMS is not called."""
    from cams_local.fc import Python312Context

    emulator.add_instances("i-1")

    run = invoke(delete_request(), Python312Context())

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == 500
    assert body["Code"] == "MissingCredentials"
    assert "role" in body["Message"]
    assert emulator.journal() == []


@pytest.mark.parametrize(
    "event",
    [
        {"InstanceId": "i-1"},
        [{"InstanceId": "i-1"}, {"InstanceId": "bad id"}],
        "async-http",
    ],
    ids=["direct", "batch", "async-http"],
)
def test_an_event_for_a_function_without_a_role_is_kept(emulator, invoke: Invoke, event):
    """GIVEN a python3.12-style context and no ALIBABA_CLOUD_* variables
    WHEN an event arrives (or an HTTP request FC answers 202 for)
    THEN the invocation raises InvalidConfigurationError, so that the event is kept
    and its on-failure destination keeps it, rather than returning it as done; the log
    says which instance could not be tried, at error; CAMS is not called."""
    from cams_local.fc import Python312Context

    emulator.add_instances("i-1")
    if event == "async-http":
        event = delete_request()
        event["headers"]["X-Fc-Invocation-Type"] = "Async"

    run = invoke(event, Python312Context())

    assert type(run.error).__name__ == "InvalidConfigurationError"
    assert "role" in str(run.error)
    [deletion] = [line for line in run.lines("deletion") if line["instance_id"] == "i-1"]
    assert (deletion["code"], deletion["level"]) == ("MissingCredentials", "error")
    [invocation] = run.lines("invocation")
    assert (invocation["status"], invocation["level"]) in {("error", "error"), (500, "error")}
    assert emulator.journal() == []
    assert "i-1" in emulator.instances()


@pytest.mark.parametrize(
    "credentials",
    [
        Credentials("STS.NUgYrLnoC37mZZCNnAbez2bkb", "Bq7s9uDkK2GxoQ1WmpcR3Vt8", "tok\u2603en-123"),
        Credentials("STS.NUgYrLnoC37mZZ\nCNnAbez2bkb", "Bq7s9uDkK2GxoQ1WmpcR3Vt8", None),
    ],
    ids=["token-not-latin-1", "key-id-with-newline"],
)
def test_keys_that_cannot_make_a_request_fail_once_without_blaming_cams(
    emulator, invoke: Invoke, credentials: Credentials
):
    """GIVEN role keys that cannot go into an HTTP header
    WHEN an HTTP request and an event arrive
    THEN the transport refuses the request before sending it: one attempt, no retry, a
    RequestNotSent naming what to check (not CAMS's "answer could not be read", retried
    by the function and by FC); the event raises InvalidConfigurationError, so that FC
    keeps it until the role is mended, as for a missing role. CAMS is not called."""
    emulator.add_instances("i-1")
    context = Python310Context(credentials=credentials)

    answer = http_outcome(invoke(delete_request(), context))
    event = invoke({"InstanceId": "i-1"}, context)

    assert (answer["Code"], answer["Retryable"], answer["Attempts"]) == ("RequestNotSent", False, 1)
    assert "role keys" in answer["Message"]
    assert type(event.error).__name__ == "InvalidConfigurationError"
    assert "CAMS_ENDPOINT" in str(event.error)
    [deletion] = event.lines("deletion")
    assert (deletion["code"], deletion["attempts"], deletion["level"]) == (
        "RequestNotSent",
        1,
        "error",
    )
    assert emulator.journal() == []
    assert "i-1" in emulator.instances()


@pytest.mark.parametrize("source", ["http", "direct"])
def test_an_access_denied_detail_that_echoes_the_roles_keys_reaches_no_caller(
    emulator, invoke: Invoke, monkeypatch, source: str
):
    """GIVEN CAMS denying the deletion with an AccessDeniedDetail that holds the role's
    token, in a value and in a key
    WHEN the function answers
    THEN the detail is returned with the token replaced and the rest kept."""
    from cams_delete import cams

    token = ROLE.security_token
    assert token is not None

    def denied(_client: object, instance_id: str, **_kwargs: object) -> DeletionResult:
        detail = {"AuthAction": "cams:DeleteInstance", "Token": f"t={token}", token: 1}
        return failed(
            instance_id, "Forbidden.RAM", "denied", 403, retryable=False,
            access_denied_detail=detail,
        )  # fmt: skip

    monkeypatch.setattr(cams, "delete_once", denied)

    run = invoke(delete_request() if source == "http" else {"InstanceId": "i-1"})

    answer = run.body if source == "http" else run.result
    assert answer is not None
    assert answer["AccessDeniedDetail"] == {
        "AuthAction": "cams:DeleteInstance",
        "Token": "t=[REDACTED]",
        "[REDACTED]": 1,
    }
    assert_no_secrets(json.dumps(run.result) + run.output)


@pytest.mark.parametrize("source", ["http", "direct"])
def test_cams_text_that_echoes_the_roles_keys_reaches_no_caller(
    emulator, invoke: Invoke, source: str
):
    """GIVEN CAMS refusing a deletion with a message that echoes the role's token and
    secret
    WHEN the function answers (an HTTP body, or the result of a direct invocation, which
    `s invoke` prints and a destination receives)
    THEN neither the answer nor the log holds them; the rest of CAMS's text is kept."""
    emulator.add_instances("i-1")
    message = f"token {ROLE.security_token} or key {ROLE.access_key_secret} refused"
    emulator.add_fault(Fault("business_error", code=PERMANENT_CODE, message=message))

    run = invoke(delete_request() if source == "http" else {"InstanceId": "i-1"})

    answer = run.body if source == "http" else run.result
    assert answer is not None
    assert answer["Message"] == "token [REDACTED] or key [REDACTED] refused"
    assert_no_secrets(json.dumps(run.result))
    assert_no_secrets(run.output)


# An STS token as they are: base64 text, with "+", "/" and "=" that a URL encodes.
ENCODABLE_ROLE = Credentials(
    access_key_id="STS.NUgYrLnoC37mZZCNnAbez2bkb",
    access_key_secret="Bq7s9uDkK2GxoQ1WmpcR3Vt8yZhEaL4nFjT6",
    security_token="CAIS+wF1q6Ft5B2y/SjIr5bSEsLRuPlGheCoRTHq+Oo0xP2tmhzDGIr0VhH0J==",
)


def test_cams_text_that_echoes_the_token_url_encoded_reaches_no_caller(emulator, invoke: Invoke):
    """GIVEN a role token with "+", "/" and "=", and CAMS refusing with a message that
    echoes it as a query string carries it (encoded once, with lower-case hex, twice, as a
    V1 string to sign does, and with "/" left as it is)
    WHEN the function answers
    THEN no form of the token is in the answer or the log."""
    from urllib.parse import quote

    token = ENCODABLE_ROLE.security_token
    assert token is not None
    once = quote(token, safe="")
    lower_hex = once.replace("%2B", "%2b").replace("%2F", "%2f").replace("%3D", "%3d")
    twice = quote(once, safe="")
    forms = [once, lower_hex, twice, quote(lower_hex, safe=""), quote(token)]
    assert len(set(forms)) == len(forms), "the forms differ from each other"
    emulator.add_credential(role_credential(ENCODABLE_ROLE))
    emulator.add_instances("i-1")
    message = "string to sign: " + " ".join(f"SecurityToken={form}" for form in forms)
    emulator.add_fault(Fault("business_error", code=PERMANENT_CODE, message=message))
    context = Python310Context(credentials=ENCODABLE_ROLE, function=FunctionMeta(timeout=30))

    run = invoke({"InstanceId": "i-1"}, context)

    assert run.result is not None
    assert run.result["Message"] == "string to sign: " + " ".join(
        ["SecurityToken=[REDACTED]"] * len(forms)
    )
    for form in (token, *forms):
        assert form not in json.dumps(run.result) + run.output


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            Fault("business_error", code="ServiceUnavailable", times=None),
            (503, "ServiceUnavailable"),
        ),
        (
            Fault("business_error", code="Forbidden.InstanceLocked", times=None),
            (403, "Forbidden.InstanceLocked"),
        ),
        (Fault("internal_error", code="UnknownError", times=None), (502, "UnknownError")),
    ],
    ids=["service-unavailable-in-a-200", "forbidden-code-in-a-200", "500-with-another-code"],
)
def test_the_code_or_the_status_alone_decides_what_the_caller_is_told(
    emulator, invoke: Invoke, monkeypatch, fault: Fault, expected: tuple[int, str]
):
    """GIVEN CAMS answering with a code that says more than its HTTP status (a 200 that
    says ServiceUnavailable or Forbidden.*), or a 500 whose code the function does not
    know
    WHEN DELETE /instances/i-1 arrives
    THEN the caller gets what the code or the status means: 503 with Retry-After and
    retryable; 403, the role's permission, not CAMS's failure; a retryable 502."""
    status, code = expected
    monkeypatch.setenv("MAX_ATTEMPTS", "2")
    emulator.add_instances("i-1")
    emulator.add_fault(fault)

    run = invoke(delete_request())

    body = http_outcome(run)
    assert run.result is not None
    assert (run.result["statusCode"], body["Code"]) == (status, code)
    assert body["Retryable"] is (status != 403)
    assert body["Attempts"] == (1 if status == 403 else 2)
    assert ("Retry-After" in run.result["headers"]) is (status == 503)


def test_an_answer_without_a_code_is_retried_and_the_event_kept(emulator, invoke: Invoke):
    """GIVEN CAMS answering 200 without a Code (the deletion may or may not have happened)
    WHEN an event asks for a deletion
    THEN it is retried, and the invocation raises so that FC delivers the event again."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("business_error", code="", times=None))

    run = invoke({"InstanceId": "i-1"})

    assert type(run.error).__name__ == "RetryableDeletionError"
    [deletion] = run.lines("deletion")
    assert (deletion["code"], deletion["retryable"], deletion["attempts"]) == (
        "UpstreamInvalidResponse",
        True,
        4,
    )
    assert deletion["level"] == "warning"  # a retry may still succeed


def test_a_connection_that_is_never_accepted_is_upstream_unavailable(invoke: Invoke, monkeypatch):
    """GIVEN a CAMS endpoint whose listen queue is full, so that connecting times out
    WHEN DELETE /instances/i-1 arrives
    THEN 503 UpstreamUnavailable: nothing was sent (not UpstreamTimeout, an answer lost)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)  # never accepted: once the queue is full, connections go unanswered
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        monkeypatch.setenv("CAMS_ENDPOINT", f"127.0.0.1:{port}")
        monkeypatch.setenv("CAMS_PROTOCOL", "http")
        monkeypatch.setenv("CAMS_CONNECT_TIMEOUT_MS", "300")
        monkeypatch.setenv("MAX_ATTEMPTS", "1")

        run = invoke(delete_request())

        body = http_outcome(run)
        assert run.result is not None
        assert (run.result["statusCode"], body["Code"]) == (503, "UpstreamUnavailable")
    finally:
        for filler in fillers:
            filler.close()
        server.close()


@pytest.mark.parametrize("value", ["   ", "", "{}"])
def test_a_blank_access_denied_detail_reads_as_none(value: str):
    """GIVEN an AccessDeniedDetail that is blank, empty, or CAMS's "{}"
    WHEN it is parsed
    THEN it is null, not an object holding the blank."""
    assert parse_access_denied_detail(value) is None


def test_unavailable_with_retry_after_stays_503(emulator, invoke: Invoke):
    """GIVEN CAMS answers 503 with x-acs-retry-after on every attempt
    WHEN DELETE /instances/i-1 arrives
    THEN the answer is 503 ServiceUnavailable with Retry-After, not a throttle."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("unavailable", retry_after_ms=100, times=None))

    run = invoke(delete_request())

    body = http_outcome(run)
    assert run.result is not None
    assert run.result["statusCode"] == 503
    assert body["Code"] == "ServiceUnavailable"
    assert run.result["headers"]["Retry-After"] == "1"


def test_expired_role_token_is_retryable_so_the_event_is_kept(invoke: Invoke, monkeypatch):
    """GIVEN the role's STS token has expired (the next invocation gets fresh keys)
    WHEN an event asks for a deletion
    THEN the failure is retryable and the invocation raises, so FC delivers it again;
    within the invocation it is tried once, since every retry would send the same keys."""
    import time

    from cams_emulator import CamsEmulator

    expired = role_credential(expires_at=time.time() - 60)
    with CamsEmulator(credentials=[expired], instances=["i-1"]) as emu:
        monkeypatch.setenv("CAMS_ENDPOINT", emu.endpoint)
        monkeypatch.setenv("CAMS_PROTOCOL", "http")

        run = invoke({"InstanceId": "i-1"})

        assert run.error is not None
        assert "InvalidSecurityToken.Expired" in str(run.error)
        assert emu.instances() == {"i-1"}
        assert len(emu.calls()) == 1
        assert run.lines("deletion_retry") == []
        [deletion] = run.lines("deletion")
        assert (deletion["attempts"], deletion["retryable"]) == (1, True)


def test_unexpected_bug_in_an_event_raises_and_still_logs_the_invocation(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a bug deep in the function
    WHEN an event arrives
    THEN the invocation raises UnexpectedFunctionError (the event is kept by FC), the
    traceback is logged, and the invocation line says it ended in error."""
    from cams_delete import deleter

    monkeypatch.setattr(deleter, "process", simulated_bug)

    run = invoke({"InstanceId": "i-1"})

    assert type(run.error).__name__ == "UnexpectedFunctionError"
    assert "simulated bug" not in str(run.error)
    [invocation] = run.lines("invocation")
    assert invocation["status"] == "error"
    assert "simulated bug" in run.lines("unexpected_error")[0]["exception"]


@pytest.mark.parametrize(
    ("event", "held"),
    [
        pytest.param({"InstanceId": "i-1"}, ["i-1"], id="direct"),
        pytest.param(
            [{"InstanceId": "i-1"}, {"InstanceId": "i-2"}, {"Instance": "x"}],
            ["i-1", "i-2"],
            id="batch",
        ),
    ],
)
def test_a_bug_before_cams_names_what_the_event_asked_for(
    emulator, invoke: Invoke, monkeypatch, event: object, held: list[str]
):
    """GIVEN a bug that stops an event before any instance is tried
    WHEN the event arrives
    THEN the invocation line says which instances the event named, and how many elements
    it held, so that it can be sent again if FC's retries end the same way."""
    monkeypatch.setattr("cams_delete.deleter.check_instance_id", simulated_bug)
    emulator.add_instances("i-1", "i-2")

    run = invoke(event)

    assert type(run.error).__name__ == "UnexpectedFunctionError"
    [invocation] = run.lines("invocation")
    assert invocation["status"] == "error"
    assert invocation["held"] == held
    assert invocation["count"] == (len(event) if isinstance(event, list) else 1)
    assert emulator.journal() == []


def test_a_bug_in_the_invocation_line_still_leaves_an_invocation_line(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a bug in what builds a batch's invocation line (its outcome counts)
    WHEN a batch is handled
    THEN the invocation still raises UnexpectedFunctionError and ends with an invocation
    line that says error: the line of a bug is written without the code that failed."""
    monkeypatch.setattr("cams_delete.entrypoints.outcome_counts", simulated_bug)
    emulator.add_instances("i-1", "i-2")

    run = invoke([{"InstanceId": "i-1"}, {"InstanceId": "i-2"}])

    assert type(run.error).__name__ == "UnexpectedFunctionError"
    assert len(run.lines("deletion")) == 2
    [invocation] = run.lines("invocation")
    assert (invocation["source"], invocation["status"], invocation["count"]) == (
        "batch",
        "error",
        2,
    )


def test_a_bug_on_one_instance_of_a_batch_keeps_the_others_and_the_counts(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a batch of four, and a bug that strikes only while deleting i-2
    WHEN the batch is handled
    THEN i-1 and i-3 are deleted, i-2's deletion line (error) and the bug's traceback
    name it, the invocation line counts every element, and the invocation raises
    UnexpectedFunctionError so that FC keeps the event."""
    from cams_delete import cams

    emulator.add_instances("i-1", "i-2", "i-3")
    real_delete_once = cams.delete_once

    def delete_once_with_a_bug(client: object, instance_id: str, **kwargs: Any) -> Any:
        if instance_id == "i-2":
            simulated_bug()
        return real_delete_once(client, instance_id, **kwargs)

    monkeypatch.setattr(cams, "delete_once", delete_once_with_a_bug)

    run = invoke([{"InstanceId": name} for name in ("i-1", "i-2", "i-3", "bad id")])

    assert type(run.error).__name__ == "UnexpectedFunctionError"
    assert emulator.instances() == {"i-2"}
    [bug] = run.lines("unexpected_error")
    assert bug["instance_id"] == "i-2"
    assert "simulated bug" in bug["exception"]
    by_instance = {line["instance_id"]: line for line in run.lines("deletion")}
    assert (by_instance["i-2"]["code"], by_instance["i-2"]["level"]) == (
        "UnexpectedError",
        "error",
    )
    assert by_instance["i-1"]["outcome"] == by_instance["i-3"]["outcome"] == "deleted"
    [invocation] = run.lines("invocation")
    assert (invocation["status"], invocation["count"]) == ("error", 4)
    assert invocation["outcomes"] == {"deleted": 2, "failed": 1, "rejected": 1}


def test_a_bug_before_the_event_is_read_is_still_the_functions_own_error(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a bug in reading the event, before any step that catches its own
    WHEN an event arrives
    THEN the invocation raises UnexpectedFunctionError, whose traceback holds the entry
    points' frames only; the bug's traceback is logged, with the invocation line."""
    from cams_delete import sources

    monkeypatch.setattr(sources, "recognise", simulated_bug)

    run = invoke({"InstanceId": "i-1"})

    assert type(run.error).__name__ == "UnexpectedFunctionError"
    assert "simulated bug" not in str(run.error)
    assert run.error is not None
    assert run.error.__cause__ is None
    frames = [frame.name for frame in traceback.extract_tb(run.error.__traceback__)]
    assert frames[-2:] == ["handler", "handle"]
    assert "simulated bug" in run.lines("unexpected_error")[0]["exception"]
    [invocation] = run.lines("invocation")
    assert invocation["status"] == "error"
    assert emulator.journal() == []


def test_an_event_is_kept_even_when_the_log_is_broken(emulator, invoke: Invoke, monkeypatch):
    """GIVEN a bug that makes every log line fail
    WHEN an event arrives
    THEN the invocation still raises the function's own UnexpectedFunctionError, without
    the bug's exception as its cause, so that FC keeps the event and shows nothing of it."""
    from cams_delete import logs

    monkeypatch.setattr(logs, "get", simulated_bug)

    run = invoke({"InstanceId": "i-1"})

    assert type(run.error).__name__ == "UnexpectedFunctionError"
    assert run.error is not None
    assert run.error.__cause__ is None
    assert run.error.__suppress_context__ is True, "FC's traceback must not show the bug"
    frames = [frame.name for frame in traceback.extract_tb(run.error.__traceback__)]
    assert frames[-2:] == ["handler", "handle"]


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        # a proxy's 503 JSON: a lower-case message, no RequestId, no Code
        ({"message": "upstream busy"}, "UpstreamHttp503", "upstream busy"),
        # CAMS's own body, whose RequestId is the text "None" too, and an empty Message
        ({"Code": "InternalError", "RequestId": "None", "Message": ""}, "InternalError", ""),
        # a body without a Message: the function says what it got, not the SDK's wrapping
        (
            {"Code": "InternalError", "RequestId": "None"},
            "InternalError",
            "CAMS answered HTTP 503 without a message",
        ),
        ({}, "UpstreamHttp503", "CAMS answered HTTP 503 without a message"),
    ],
    ids=["proxy-body", "empty-message", "no-message", "empty-body"],
)
def test_an_error_body_the_sdk_filled_with_none_reads_cleanly(data, code, message):
    """GIVEN the SDK's ServerException for a 503, which formats a missing request id or
    code into the text "None"
    WHEN the function classifies it
    THEN RequestId is null, not "None", and Message is the body's own (lower-case or empty)
    or, when it has none, the function's, never the SDK's wrapping text."""
    from alibabacloud_tea_openapi.exceptions import ServerException

    from cams_delete import cams

    error = ServerException(
        status_code=503,
        code=str(data.get("Code")),
        message="code: 503, None request id: None",
        data=data,
        request_id="None",
    )

    result = cams.classify_error(error, "i-1", frozenset())

    assert result.request_id is None
    assert result.message == message
    assert result.code == code
    assert result.retryable is True


def test_a_not_found_answer_with_retry_after_is_a_success_not_a_retry():
    """GIVEN CAMS's not-found answer carrying x-acs-retry-after (the SDK then raises its
    ThrottlingException, whatever the code)
    WHEN the function classifies it
    THEN the instance is already_deleted and nothing is retried: a retry-after makes a
    failure worth retrying, never a success."""
    from alibabacloud_tea_openapi.exceptions import ThrottlingException

    from cams_delete import cams

    error = ThrottlingException(
        status_code=404,
        code="InvalidInstanceId.NotFound",
        message="code: 404, The instance does not exist. request id: R-1",
        retry_after=50,
        data={"Code": "InvalidInstanceId.NotFound", "Message": "The instance does not exist."},
        request_id="R-1",
    )

    result = cams.classify_error(error, "i-1", frozenset({"InvalidInstanceId.NotFound"}))

    assert result.outcome == "already_deleted"
    assert result.success is True
    assert result.retryable is False
    assert result.retry_after_s is None


@pytest.mark.parametrize(
    "code", ["UnknownError", "SystemError", "InternalServerError", "ServiceTimeout"]
)
def test_a_200_with_a_code_for_a_failure_on_cams_side_keeps_the_event(
    emulator, invoke: Invoke, code: str
):
    """GIVEN CAMS answering HTTP 200 with a code Alibaba Cloud services give for a failure
    of their own (UnknownError, SystemError...), on every attempt
    WHEN an event asks to delete i-1
    THEN each attempt is retried and the invocation raises, so that FC retries the event:
    a retry of a deletion is harmless, a dropped event leaves the instance behind."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("business_error", code=code, times=None))

    run = invoke({"InstanceId": "i-1"})

    assert type(run.error).__name__ == "RetryableDeletionError"
    [deletion] = run.lines("deletion")
    assert (deletion["code"], deletion["retryable"]) == (code, True)
    assert deletion["attempts"] == len(emulator.calls()) > 1
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize("code", ["InternalError.Timeout", "ServiceUnavailable.Maintenance"])
def test_a_refinement_of_a_retryable_code_is_retryable(code: str):
    """GIVEN a 200 answer whose Code refines a retryable one (InternalError.Timeout)
    WHEN the function classifies it
    THEN it is a retryable failure, as the code it refines is; a code that only begins the
    same way (InternalErrorLog) is not."""
    from cams_delete import cams

    body = {"Code": code, "Message": "later", "RequestId": "R-2", "Success": False}

    result = cams.classify_body(body, "i-1", frozenset())
    lookalike = cams.classify_body({**body, "Code": "InternalErrorLog"}, "i-1", frozenset())

    assert result.outcome == "failed"
    assert result.retryable is True
    assert lookalike.retryable is False


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A host a redirect points to: records what reaches it, answers CAMS's OK (with
    `status`, 200 unless a subclass says otherwise)."""

    received: ClassVar[list[dict[str, str]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        type(self).received.append(dict(self.headers))
        body = json.dumps({"Code": "OK", "RequestId": "not-cams"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@contextlib.contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_not_followed_and_the_keys_stay_home(invoke: Invoke, monkeypatch):
    """GIVEN a CAMS endpoint that answers DeleteInstance with a 307 to another host
    WHEN DELETE /instances/i-1 arrives
    THEN nothing reaches the other host (the role's key id and token are headers, which a
    followed redirect would carry there), and the caller gets 502 UpstreamInvalidResponse
    naming the redirect, not that host's "OK" as a deletion."""
    _Recorder.received = []
    with _serving(_Recorder) as elsewhere:

        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.send_response(307)
                self.send_header("Location", f"http://{elsewhere}/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        with _serving(Redirect) as endpoint:
            monkeypatch.setenv("CAMS_ENDPOINT", endpoint)
            monkeypatch.setenv("CAMS_PROTOCOL", "http")
            monkeypatch.setenv("MAX_ATTEMPTS", "1")

            run = invoke(delete_request())

    body = http_outcome(run)
    assert _Recorder.received == []
    assert run.result is not None
    assert (run.result["statusCode"], body["Code"], body["Outcome"]) == (
        502,
        "UpstreamInvalidResponse",
        "failed",
    )
    assert "redirect" in body["Message"]


@pytest.mark.parametrize("status", [300, 302, 303])
def test_a_status_that_is_neither_success_nor_error_is_no_answer(
    invoke: Invoke, monkeypatch, status: int
):
    """GIVEN an endpoint answering DeleteInstance with a 3xx that is no redirect to follow
    (no Location), whose body reads like CAMS's OK
    WHEN an event asks to delete i-1
    THEN it is not taken for a deletion: 502 UpstreamInvalidResponse, retryable, so the
    event is kept (the SDK raises only for 4xx and 5xx)."""

    no_answer = type("NoAnswer", (_Recorder,), {"status": status})

    with _serving(no_answer) as endpoint:
        monkeypatch.setenv("CAMS_ENDPOINT", endpoint)
        monkeypatch.setenv("CAMS_PROTOCOL", "http")
        monkeypatch.setenv("MAX_ATTEMPTS", "1")

        run = invoke({"InstanceId": "i-1"})

    assert type(run.error).__name__ == "RetryableDeletionError"
    [deletion] = run.lines("deletion")
    assert (deletion["outcome"], deletion["code"]) == ("failed", "UpstreamInvalidResponse")
    assert str(status) in deletion["message"]


def test_a_retry_after_too_large_for_a_float_is_a_wait_past_the_deadline():
    """GIVEN a throttle whose x-acs-retry-after has 400 digits
    WHEN the answer is classified
    THEN it is a retryable throttle whose wait is capped at a day (past any deadline), not
    an OverflowError that would make the answer a bug."""
    error = ThrottlingException(
        code="Throttling.User", message="slow down", status_code=429, retry_after=10**400
    )

    result = classify_error(error, "i-1", frozenset())

    assert (result.code, result.retryable, result.retry_after_s) == (
        "Throttling.User",
        True,
        86_400.0,
    )


def test_an_access_denied_detail_nested_past_the_parsers_limit_is_kept_as_text():
    """GIVEN an AccessDeniedDetail string holding JSON nested 5,000 deep
    WHEN it is parsed
    THEN it is kept as its text, not a RecursionError that would make the answer a bug."""
    value = "[" * 5000 + "]" * 5000

    assert parse_access_denied_detail(value) == {"Detail": value}


FORGED_LINE = '{"instance_id":"cams-prod-1","outcome":"deleted","code":"OK"}'


@pytest.mark.parametrize(
    "code", [f"Throttling\n{FORGED_LINE}", "A" * 129, "Forbidden RAM", "Code\x00"], ids=repr
)
def test_a_code_that_is_not_a_code_is_an_unreadable_answer(code: str):
    """GIVEN a 200 answer whose Code holds a newline and a forged log line, is longer than
    128 characters, or holds a space or a control character
    WHEN it is classified
    THEN it is UpstreamInvalidResponse (retryable: the deletion may or may not have
    happened), and the text reaches neither the result's Code nor its Message."""
    result = classify_body({"Code": code, "RequestId": "r-1"}, "i-1", frozenset())

    assert (result.code, result.retryable, result.http_status) == (
        "UpstreamInvalidResponse",
        True,
        502,
    )
    assert code not in (result.message or "")


def test_a_gateway_error_whose_code_is_not_a_code_is_named_by_its_status():
    """GIVEN a 400 gateway error whose code holds a newline and a forged log line
    WHEN it is classified
    THEN its code is the status's own (UpstreamHttp400), so nothing of the forged text
    can reach FC's error message, which lists codes."""
    error = ClientException(code=f"Throttling\n{FORGED_LINE}", message="m", status_code=400)

    result = classify_error(error, "i-1", frozenset())

    assert result.code == "UpstreamHttp400"
    assert result.retryable is False


def test_cams_text_is_cut_to_a_bounded_length():
    """GIVEN an answer with a 2 MB Message and a 1 KB RequestId
    WHEN it is classified
    THEN the Message keeps its first 1,023 characters and a cut mark, and the RequestId
    its first 127 and a cut mark: a caller, a log line and FC's error text echo them."""
    result = classify_body(
        {"Code": "Business.Refused", "Message": "m" * 2_000_000, "RequestId": "r" * 1000},
        "i-1",
        frozenset(),
    )

    assert result.message == "m" * 1023 + "…"
    assert result.request_id == "r" * 127 + "…"


@pytest.mark.parametrize("code", ["", None])
def test_an_answer_with_an_empty_code_is_a_retryable_unknown(code):
    """GIVEN CAMS answers 200 with Code "" (or none): no verdict (the emulator cannot send
    an empty Code: it drops the field)
    WHEN the function classifies it
    THEN it is a retryable UpstreamInvalidResponse, so the event is kept, not a permanent
    failure with an empty Code."""
    from cams_delete import cams

    body = {"Code": code, "Message": "m", "RequestId": "R-1", "Success": True}

    result = cams.classify_body(body, "i-1", frozenset())

    assert (result.code, result.retryable) == ("UpstreamInvalidResponse", True)


@pytest.mark.parametrize(
    ("status", "code", "want_code", "want_status", "want_retryable"),
    [
        (429, "TooManyRequests", "TooManyRequests", 429, True),  # K1
        (408, "RequestTimeout", "RequestTimeout", 502, True),  # K2
        (503, None, "UpstreamHttp503", 503, True),  # K3
        (403, "AccessDenied", "AccessDenied", 403, False),  # K6
        (429, None, "Throttling", 429, True),  # K11
    ],
)
def test_a_gateway_status_classifies_an_answer_whose_code_does_not(
    status, code, want_code, want_status, want_retryable
):
    """GIVEN a gateway error whose code says nothing the function knows (or is absent)
    WHEN the function classifies it
    THEN the HTTP status decides: 429 and 408 are retried, 503 stays 503, 403 is a denial."""
    from alibabacloud_tea_openapi.exceptions import ServerException

    from cams_delete import cams

    error = ServerException(status_code=status, code=code, message="m", data={"Message": "m"})

    result = cams.classify_error(error, "i-1", frozenset())

    assert (result.code, result.http_status, result.retryable) == (
        want_code,
        want_status,
        want_retryable,
    )


def test_a_request_id_only_in_the_error_body_is_kept():
    """GIVEN a gateway error whose exception has no request id but whose body has one
    WHEN the function classifies it
    THEN the result carries the body's RequestId (how CAMS support finds the call)."""
    from alibabacloud_tea_openapi.exceptions import ServerException

    from cams_delete import cams

    error = ServerException(
        status_code=500,
        code="InternalError",
        message="m",
        data={"RequestId": "R-9", "Message": "m"},
    )

    assert cams.classify_error(error, "i-1", frozenset()).request_id == "R-9"
