"""Running the handler as FC does: bytes in, a fresh context, function errors as FC reports them."""

from __future__ import annotations

import os

import pytest

from cams_emulator import Fault
from cams_local.runner import (
    FunctionRunner,
    LocalCams,
    LogTap,
    endpoint_environment,
    parse_env_pairs,
    scoped_environment,
)
from tests.conftest import event_bytes


@pytest.fixture
def local_cams(monkeypatch):
    """An emulator that knows the local role, with the function pointed at it."""
    with LocalCams(["cams-7f3a9c07", "cams-7f3a9c01"]) as emulator:
        for name, value in endpoint_environment(emulator.endpoint).items():
            monkeypatch.setenv(name, value)
        yield emulator


def test_each_invocation_gets_a_fresh_request_id(local_cams):
    """GIVEN one runner (one function instance)
    WHEN it is invoked twice
    THEN each invocation has its own FC-shaped request id, which the function logs."""
    runner = FunctionRunner()
    first = runner.invoke(event_bytes("direct.json"), log=LogTap())
    second = runner.invoke(event_bytes("direct.json"), log=LogTap())

    assert first.request_id != second.request_id
    assert first.request_id.startswith("1-")
    assert all(second.request_id in line for line in second.log_lines)
    assert first.result is not None
    assert first.result["Outcome"] == "deleted"


def test_retryable_failure_becomes_a_function_error(local_cams):
    """GIVEN CAMS unavailable for every attempt
    WHEN an event is invoked
    THEN the handler's RetryableDeletionError is reported as FC's error body."""
    local_cams.add_fault(Fault("unavailable", times=None))
    invocation = FunctionRunner().invoke(event_bytes("direct.json"), log=LogTap())

    assert invocation.result is None
    assert invocation.error is not None
    document = invocation.document
    assert document["errorType"] == "RetryableDeletionError"
    assert "ServiceUnavailable" in document["errorMessage"]
    assert isinstance(document["stackTrace"], list)


def test_python312_context_carries_no_credentials(local_cams):
    """GIVEN the python3.12 runtime
    WHEN its context and environment are made
    THEN the context has no credentials and the role's keys are in ALIBABA_CLOUD_* variables,
    with which the function deletes."""
    runner = FunctionRunner(runtime="python3.12")
    assert not hasattr(runner.context(), "credentials")

    with scoped_environment(runner.environment()):
        assert os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"] == runner.credentials.access_key_id
        invocation = runner.invoke(event_bytes("eventbridge-cloudevent.json"), log=LogTap())

    assert invocation.result is not None
    assert invocation.result["Outcome"] == "deleted"
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" not in os.environ


def test_scoped_environment_sets_unsets_and_restores(monkeypatch):
    """GIVEN A set and B unset
    WHEN a scope sets B and unsets A
    THEN inside it they are so, and afterwards as before."""
    monkeypatch.setenv("CAMS_LOCAL_A", "1")
    monkeypatch.delenv("CAMS_LOCAL_B", raising=False)

    with scoped_environment({"CAMS_LOCAL_A": None, "CAMS_LOCAL_B": "2"}):
        assert "CAMS_LOCAL_A" not in os.environ
        assert os.environ["CAMS_LOCAL_B"] == "2"

    assert os.environ["CAMS_LOCAL_A"] == "1"
    assert "CAMS_LOCAL_B" not in os.environ


def test_env_pairs_parse_and_refuse_malformed():
    """GIVEN --env values
    WHEN parsed
    THEN KEY=VALUE pairs (values may hold '=') come back; a pair without '=' is refused."""
    assert parse_env_pairs(["DRY_RUN=true", "X=a=b", "EMPTY="]) == {
        "DRY_RUN": "true",
        "X": "a=b",
        "EMPTY": "",
    }
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_env_pairs(["DRY_RUN"])
