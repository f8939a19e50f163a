"""Every fault kind, met by the real SDK (sync and async), and how faults are matched."""

from __future__ import annotations

import threading
import time

import pytest
from alibabacloud_cams20200606 import models
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from darabonba.exceptions import UnretryableException

from cams_emulator import NOT_FOUND_CODE, Fault
from tests.emulator.support import Sdk, make_client

SHORT_READ_TIMEOUT_MS = 400


def test_throttle_429_with_retry_after_is_a_throttling_exception(emulator, sdk):
    # GIVEN a throttle fault with x-acs-retry-after
    emulator.add_fault(Fault("throttle", retry_after_ms=1500))
    # WHEN the SDK deletes
    with pytest.raises(ThrottlingException) as caught:
        sdk.delete("i-1")
    # THEN 429 Throttling.User with retry_after, and nothing was deleted
    error = caught.value
    assert (error.status_code, error.code, error.retry_after) == (429, "Throttling.User", 1500)
    assert "i-1" in emulator.instances()
    entry = emulator.journal()[-1]
    assert (entry.status, entry.code, entry.fault) == (429, "fault:throttle", "throttle")


def test_throttle_400_from_an_older_gateway_is_a_client_exception(emulator, sdk):
    # GIVEN a throttle fault answering 400, without retry-after
    emulator.add_fault(Fault("throttle", status=400))
    # WHEN the SDK deletes
    with pytest.raises(ClientException) as caught:
        sdk.delete("i-1")
    # THEN a plain ClientException (not ThrottlingException) with the throttling code
    assert not isinstance(caught.value, ThrottlingException)
    assert (caught.value.status_code, caught.value.code) == (400, "Throttling.User")


def test_throttle_400_with_retry_after_is_a_throttling_exception(emulator, sdk):
    emulator.add_fault(Fault("throttle", status=400, retry_after_ms=200))
    with pytest.raises(ThrottlingException) as caught:
        sdk.delete("i-1")
    assert (caught.value.status_code, caught.value.retry_after) == (400, 200)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("internal_error", 500, "InternalError"), ("unavailable", 503, "ServiceUnavailable")],
)
def test_server_errors_are_server_exceptions(emulator, sdk, kind, status, code):
    # GIVEN a 5xx fault
    emulator.add_fault(Fault(kind))
    # WHEN the SDK deletes
    with pytest.raises(ServerException) as caught:
        sdk.delete("i-1")
    # THEN the status and code arrive, the state is untouched
    assert (caught.value.status_code, caught.value.code) == (status, code)
    assert "i-1" in emulator.instances()


@pytest.mark.parametrize("retry_after_ms", [None, 500])
def test_a_502_html_page_is_unretryable(emulator, sdk, retry_after_ms):
    # GIVEN a fault answering the load balancer's HTML 502 page, with x-acs-retry-after or not
    emulator.add_fault(Fault("bad_gateway_html", retry_after_ms=retry_after_ms))
    # WHEN the SDK deletes
    # THEN the SDK cannot parse it and raises UnretryableException: the body is parsed
    # before the header is read, so a retry-after on it is lost
    with pytest.raises(UnretryableException) as caught:
        sdk.delete("i-1")
    assert not isinstance(caught.value, ThrottlingException)
    assert emulator.journal()[-1].status == 502
    assert "i-1" in emulator.instances()


def test_business_error_is_200_with_a_code(emulator, sdk):
    # GIVEN a business fault with its own code
    emulator.add_fault(Fault("business_error", code="InstanceStatus.Locked", message="locked"))
    # WHEN the SDK deletes
    response = sdk.delete("i-1")
    # THEN HTTP 200, Success false, that code; nothing deleted
    assert response.status_code == 200
    assert (response.body.code, response.body.message, response.body.success) == (
        "InstanceStatus.Locked",
        "locked",
        False,
    )
    assert "i-1" in emulator.instances()


def test_business_error_has_a_default_code(emulator, sdk):
    emulator.add_fault(Fault("business_error"))
    assert sdk.delete("i-1").body.code == "UnsupportedOperation"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault("conflict"), 409, "OperationConflict"),
        (Fault("conflict", status=423, code="Instance.Locked"), 423, "Instance.Locked"),
    ],
    ids=["default", "423-with-a-code"],
)
def test_a_conflict_is_a_client_exception(emulator, sdk, fault, status, code):
    # GIVEN a conflict fault: the instance is in use by another operation
    emulator.add_fault(fault)
    # WHEN the SDK deletes
    with pytest.raises(ClientException) as caught:
        sdk.delete("i-1")
    # THEN that status and code, and nothing deleted
    assert (caught.value.status_code, caught.value.code) == (status, code)
    assert "i-1" in emulator.instances()
    assert emulator.journal()[-1].fault == "conflict"


def test_latency_delays_then_behaves_normally(emulator, sdk):
    # GIVEN a latency fault of 0.3 s
    emulator.add_fault(Fault("latency", delay_s=0.3))
    # WHEN the SDK deletes
    began = time.monotonic()
    response = sdk.delete("i-1")
    # THEN the answer is late but normal, and the delete happened
    assert time.monotonic() - began >= 0.29  # timer granularity
    assert response.body.code == "OK"
    assert "i-1" not in emulator.instances()
    entry = emulator.journal()[-1]
    assert (entry.code, entry.fault) == ("OK", "latency")


def test_hang_makes_the_client_time_out_and_does_not_block_stop(emulator, sdk):
    # GIVEN a hang fault holding requests for 30 s (the default)
    emulator.add_fault(Fault("hang"))
    # WHEN the SDK deletes with a short read timeout
    began = time.monotonic()
    with pytest.raises(UnretryableException):
        sdk.delete("i-1", read_timeout=SHORT_READ_TIMEOUT_MS)
    # THEN it times out after about that long, and nothing was deleted
    assert time.monotonic() - began < 5
    assert "i-1" in emulator.instances()
    entry = emulator.journal()[-1]
    assert (entry.status, entry.code) == (0, "fault:hang")


def test_stop_releases_a_request_that_hangs(emulator):
    # GIVEN a request held by a 30 s hang, from a client that would wait 60 s
    emulator.add_fault(Fault("hang", delay_s=30))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            Sdk(make_client(emulator), "sync").delete("i-1", read_timeout=60_000)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while not emulator.journal() and time.monotonic() < deadline:
        time.sleep(0.01)
    # WHEN the emulator stops
    began = time.monotonic()
    emulator.stop()
    # THEN stop returns promptly and the client sees the connection close
    assert time.monotonic() - began < 2
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert isinstance(outcome[0], UnretryableException)


def test_reset_aborts_the_connection(emulator, sdk):
    # GIVEN a reset fault
    emulator.add_fault(Fault("reset"))
    # WHEN the SDK deletes
    with pytest.raises(UnretryableException) as caught:
        sdk.delete("i-1")
    # THEN the SDK sees a TCP reset, not an answer; nothing deleted
    assert "reset by peer" in str(caught.value.inner_exception)
    assert "i-1" in emulator.instances()
    assert emulator.journal()[-1].status == 0


def test_timeout_after_commit_deletes_but_the_answer_is_lost(emulator, sdk):
    # GIVEN a fault that applies the delete, then holds the answer for 2 s
    emulator.add_fault(Fault("timeout_after_commit", delay_s=2))
    # WHEN the SDK deletes with a shorter read timeout
    with pytest.raises(UnretryableException):
        sdk.delete("i-1", read_timeout=SHORT_READ_TIMEOUT_MS)
    # THEN the instance is gone although the client saw a timeout
    assert "i-1" not in emulator.instances()
    entry = emulator.journal()[-1]
    assert (entry.code, entry.fault) == ("OK", "timeout_after_commit")
    # AND the client's retry finds it already deleted
    assert sdk.delete("i-1").body.code == NOT_FOUND_CODE


def test_timeout_after_commit_answers_a_patient_client(emulator, sdk):
    emulator.add_fault(Fault("timeout_after_commit", delay_s=0.2))
    assert sdk.delete("i-2").body.code == "OK"
    assert "i-2" not in emulator.instances()


def test_a_fault_for_one_instance_spares_the_others(emulator, sdk):
    # GIVEN a persistent fault for i-2 only
    emulator.add_fault(Fault("internal_error", instance_id="i-2", times=None))
    # WHEN i-1 and i-2 are deleted, twice each
    # THEN i-1 goes, i-2 fails every time
    assert sdk.delete("i-1").body.code == "OK"
    for _ in range(2):
        with pytest.raises(ServerException):
            sdk.delete("i-2")
    assert emulator.instances() == {"i-2", "i-3"}


def test_times_counts_matching_requests_then_the_fault_is_spent(emulator, sdk):
    # GIVEN a fault for the next two DeleteInstance calls
    emulator.add_fault(Fault("unavailable", times=2))
    # WHEN three deletes run
    for _ in range(2):
        with pytest.raises(ServerException):
            sdk.delete("i-1")
    # THEN the third succeeds and no fault is left
    assert sdk.delete("i-1").body.code == "OK"
    assert emulator.faults() == []


def test_a_fault_for_another_action_does_not_fire(emulator, sdk):
    # GIVEN a fault on QueryInstance
    emulator.add_fault(Fault("internal_error", action="QueryInstance"))
    # WHEN DeleteInstance runs THEN it is unaffected
    assert sdk.delete("i-1").body.code == "OK"
    # AND QueryInstance meets the fault
    with pytest.raises(ServerException):
        sdk.call("query_instance", models.QueryInstanceRequest(instance_id="i-2"))


def test_a_fault_for_any_action_fires_on_any(emulator, sdk):
    emulator.add_fault(Fault("unavailable", action=None, times=None))
    with pytest.raises(ServerException):
        sdk.call("list_instance", models.ListInstanceRequest())
    with pytest.raises(ServerException):
        sdk.delete("i-1")
    emulator.clear_faults()
    assert sdk.delete("i-1").body.code == "OK"


def test_remove_fault_disarms_one(emulator, sdk):
    fault_id = emulator.add_fault(Fault("internal_error", times=None))
    assert [f["id"] for f in emulator.faults()] == [fault_id]
    assert emulator.remove_fault(fault_id) is True
    assert sdk.delete("i-1").body.code == "OK"


def test_faults_come_after_authentication(emulator, sdk_as):
    # GIVEN a fault, and a client with the wrong secret
    emulator.add_fault(Fault("internal_error"))
    # WHEN it calls THEN the gateway refuses it first, and the fault stays armed
    with pytest.raises(ClientException) as caught:
        sdk_as("test-ak", "wrong").delete("i-1")
    assert caught.value.code == "SignatureDoesNotMatch"
    assert len(emulator.faults()) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "nonsense"},
        {"kind": "throttle", "status": 503},
        {"kind": "conflict", "status": 500},
        {"kind": "hang", "times": 0},
        {"kind": "latency", "delay_s": -1},
    ],
)
def test_invalid_faults_are_refused(kwargs):
    with pytest.raises(ValueError, match=r"."):
        Fault(**kwargs)
