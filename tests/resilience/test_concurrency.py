"""Concurrency: invocations on many threads with different role keys, and bounded batches.

FC's built-in runtimes run one request per instance at a time, but the handler is written
thread-safe (custom runtimes, and batches run on threads): each request must be signed with
the keys of the invocation that sent it, and log lines must keep their invocation's id.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from darabonba.core import DaraCore

import index
from cams_delete.entrypoints import RetryableDeletionError
from cams_emulator import CamsEmulator, Credential, Fault, JournalEntry
from cams_local.fc import (
    Credentials,
    FunctionMeta,
    Python310Context,
    Python312Context,
    credential_environment,
)
from tests.conftest import Invocation, assert_valid_result
from tests.resilience.conftest import (
    add_credentials,
    assert_no_secrets,
    call_handler,
    captured_output,
    parse_log_lines,
)

STS_KEYS = [
    Credentials(
        f"STS.ConcurrencyKey{n:02d}Abcdefgh",
        f"sts-secret-{n:02d}-Q2xvdWRLZXlTZWNyZXQ",
        f"sts-token-{n:02d}-CAIS8QF1q6Ft5B2yfSjIr5bSEsLRuPlGheCoRTHq",
    )
    for n in range(4)
]
PLAIN_KEYS = [
    Credentials(f"LTAI5tConcurrency{n:02d}Xyz", f"plain-secret-{n:02d}-UGxhaW5LZXlTZWNyZXQ")
    for n in range(2)
]
KEYS = [*STS_KEYS, *PLAIN_KEYS]
ENV_KEY = Credentials(
    "STS.EnvironmentKey0000Abcdef",
    "env-secret-RW52aXJvbm1lbnRTZWNyZXQ",
    "env-token-CAIS8QF1q6Ft5B2yfSjIr5bSEsLRuPlGh",
)
ROTATED_ENV_KEY = Credentials(
    "STS.EnvironmentKey0001Rotated",
    "env-secret-Um90YXRlZFNlY3JldEtleQ",
    "env-token-CAIS8QF1q6RotatedTokenValue0001",
)
WRONG_SECRET = Credentials(
    STS_KEYS[0].access_key_id, "not-the-secret-of-this-key-000", STS_KEYS[0].security_token
)
ALL_SECRETS = tuple(
    value
    for key in (*KEYS, ENV_KEY, ROTATED_ENV_KEY, WRONG_SECRET)
    for value in (key.access_key_secret, key.security_token)
    if value
)


def emulator_credential(key: Credentials) -> Credential:
    return Credential(key.access_key_id, key.access_key_secret, key.security_token)


@pytest.fixture
def emu(cams: CamsEmulator) -> CamsEmulator:
    """The module's emulator, knowing every key below (but not WRONG_SECRET's secret)."""
    add_credentials(cams, [emulator_credential(key) for key in (*KEYS, ENV_KEY, ROTATED_ENV_KEY)])
    return cams


def function_meta() -> FunctionMeta:
    return FunctionMeta(timeout=30)


@dataclass
class Worker:
    """One thread's invocations: its context kind, its keys, its instances."""

    name: str
    key: Credentials  # the keys its requests must be signed with
    runtime: str  # "python3.10": keys in the context; "python3.12": keys in the environment
    instance_ids: list[str]
    request_ids: list[str] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def context(self, number: int) -> Any:
        request_id = f"{self.name}-request-{number:02d}"
        self.request_ids.append(request_id)
        if self.runtime == "python3.12":
            return Python312Context(request_id=request_id, function=function_meta())
        return Python310Context(
            credentials=self.key, request_id=request_id, function=function_meta()
        )

    def events(self) -> list[Any]:
        """Single deletions, then one batch for the rest (it runs on its own threads)."""
        singles = [{"InstanceId": instance_id} for instance_id in self.instance_ids[:-4]]
        batch = [{"InstanceId": instance_id} for instance_id in self.instance_ids[-4:]]
        return [*singles, batch]

    def run(self, start: threading.Barrier) -> None:
        try:
            start.wait()
            for number, event in enumerate(self.events()):
                self.results.append(index.handler(json.dumps(event).encode(), self.context(number)))
        except BaseException as error:  # reported by the main thread
            self.errors.append(error)


def run_concurrently(workers: Sequence[Worker]) -> list[dict[str, Any]]:
    """Run every worker on its own thread, all released at once; return the log lines."""
    start = threading.Barrier(len(workers))
    threads = [
        threading.Thread(target=worker.run, args=(start,), name=worker.name) for worker in workers
    ]
    with captured_output() as stream:  # one capture for all: sys.stdout is process-wide
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    for worker in workers:
        assert worker.errors == [], (worker.name, worker.errors)
    output = stream.getvalue()
    assert_no_secrets(output, ALL_SECRETS)
    return parse_log_lines(output)


def make_workers(count: int, key_for: Callable[[int], tuple[Credentials, str]]) -> list[Worker]:
    workers = []
    for number in range(count):
        key, runtime = key_for(number)
        ids = [f"w{number:02d}-i{k:02d}" for k in range(10)]
        workers.append(Worker(f"worker-{number:02d}", key, runtime, ids))
    return workers


def check_isolation(
    emu: CamsEmulator, workers: Sequence[Worker], logs: list[dict[str, Any]]
) -> list[JournalEntry]:
    """Each request carries its own worker's keys, each log line its own invocation's id."""
    owner = {instance_id: worker for worker in workers for instance_id in worker.instance_ids}
    calls = emu.calls()
    assert sorted(call.instance_id or "" for call in calls) == sorted(owner)
    for call in calls:
        worker = owner[call.instance_id or ""]
        assert call.access_key_id == worker.key.access_key_id, (call.instance_id, worker.name)
        assert call.security_token == worker.key.security_token, (call.instance_id, worker.name)
    request_owner = {request_id: worker for worker in workers for request_id in worker.request_ids}
    deletions = [line for line in logs if line["event"] == "deletion"]
    assert len(deletions) == len(owner)
    for line in deletions:
        assert request_owner[line["request_id"]] is owner[line["instance_id"]], line
    return calls


def test_threads_with_their_own_keys_sign_with_their_own_keys(emu: CamsEmulator):
    """GIVEN 12 threads invoking at once, each with a python3.10 context holding one of six
    keys (STS with token, and plain), each deleting its own 10 instances (6 single
    invocations and one batch of 4, which runs on threads of its own)
    WHEN they run concurrently
    THEN every request CAMS received is signed (validly) with the keys of the thread that
    asked for that instance, every log line carries the id of its own invocation, every
    instance is deleted once, and no secret is printed."""
    workers = make_workers(12, lambda n: (KEYS[n % len(KEYS)], "python3.10"))
    emu.reset([instance_id for worker in workers for instance_id in worker.instance_ids])

    logs = run_concurrently(workers)

    calls = check_isolation(emu, workers, logs)
    assert all(call.signature_valid and call.code == "OK" for call in calls)
    assert emu.instances() == set()
    for worker in workers:
        *singles, batch = worker.results
        assert [result["Outcome"] for result in singles] == ["deleted"] * 6
        assert_valid_result(batch)
        assert batch["Counts"]["deleted"] == 4
    # Enough overlap to mean something: requests from different keys interleaved.
    keys_in_order = [call.access_key_id for call in calls]
    switches = sum(1 for a, b in itertools.pairwise(keys_in_order) if a != b)
    assert switches >= len(KEYS)


def test_a_thread_with_a_wrong_secret_fails_alone(emu: CamsEmulator):
    """GIVEN 7 threads, one of which has another thread's key id but a wrong secret (so
    their clients differ only by the secret)
    WHEN they run concurrently
    THEN only that thread's requests fail the signature check (a permanent failure, not
    retried), the others all succeed: clients and keys never leak between invocations."""

    def key_for(number: int) -> tuple[Credentials, str]:
        return (WRONG_SECRET if number == 0 else KEYS[number - 1]), "python3.10"

    workers = make_workers(7, key_for)
    emu.reset([instance_id for worker in workers for instance_id in worker.instance_ids])

    logs = run_concurrently(workers)

    calls = check_isolation(emu, workers, logs)
    bad = set(workers[0].instance_ids)
    for call in calls:
        assert call.signature_valid is (call.instance_id not in bad)
    assert emu.instances() == bad
    *singles, batch = workers[0].results
    assert {result["Code"] for result in [*singles, *batch["Results"]]} == {"SignatureDoesNotMatch"}
    assert all(result["Retryable"] is False and result["Attempts"] == 1 for result in singles)


def test_python312_threads_use_the_environment_keys_alongside_python310_threads(
    emu: CamsEmulator, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN the role's keys in ALIBABA_CLOUD_* (python3.12: the environment is per process,
    so every python3.12 thread shares them) and python3.10 threads with keys of their own
    WHEN 4 python3.12 and 6 python3.10 threads invoke at once
    THEN python3.12 requests are signed with the environment's keys, python3.10 ones with
    their context's, all validly."""
    for name, value in credential_environment(ENV_KEY).items():
        monkeypatch.setenv(name, value)

    def key_for(number: int) -> tuple[Credentials, str]:
        if number % 5 < 2:
            return ENV_KEY, "python3.12"
        return KEYS[number % len(KEYS)], "python3.10"

    workers = make_workers(10, key_for)
    emu.reset([instance_id for worker in workers for instance_id in worker.instance_ids])

    logs = run_concurrently(workers)

    calls = check_isolation(emu, workers, logs)
    assert all(call.signature_valid for call in calls)
    assert Counter(call.access_key_id for call in calls)[ENV_KEY.access_key_id] == 40
    assert emu.instances() == set()


def test_python312_keys_are_read_afresh_after_rotation(
    emu: CamsEmulator, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN a python3.12 context and the role's keys in the environment
    WHEN FC rotates the keys between two invocations (new ALIBABA_CLOUD_* values)
    THEN the second invocation signs with the new keys (no client or key is cached across)."""
    emu.reset(["env-1", "env-2"])
    results = []
    for key, instance_id in ((ENV_KEY, "env-1"), (ROTATED_ENV_KEY, "env-2")):
        for name, value in credential_environment(key).items():
            monkeypatch.setenv(name, value)
        run = call_handler(
            json.dumps({"InstanceId": instance_id}).encode(),
            Python312Context(function=function_meta()),
            ALL_SECRETS,
        )
        results.append(run.result)

    first, second = emu.calls()
    assert (first.access_key_id, first.security_token) == (
        ENV_KEY.access_key_id,
        ENV_KEY.security_token,
    )
    assert (second.access_key_id, second.security_token) == (
        ROTATED_ENV_KEY.access_key_id,
        ROTATED_ENV_KEY.security_token,
    )
    assert first.signature_valid
    assert second.signature_valid
    assert [result["Outcome"] for result in results if result] == ["deleted", "deleted"]


# -- bounded concurrency in batches -----------------------------------------------------------


def max_overlap(calls: Sequence[JournalEntry], hold_s: float) -> int:
    """The most requests CAMS held at once: each is held `hold_s` from its arrival (the
    journal's time), so two overlap when one arrives within the other's hold."""
    arrivals = sorted(call.time for call in calls)
    window = hold_s - 0.001  # a worker's next request arrives after its previous reply
    return max(
        sum(1 for earlier in arrivals if earlier <= arrival < earlier + window)
        for arrival in arrivals
    )


def batch_of(instance_ids: Sequence[str]) -> bytes:
    return json.dumps([{"InstanceId": instance_id} for instance_id in instance_ids]).encode()


def role_context() -> Python310Context:
    return Python310Context(credentials=KEYS[0], function=function_meta())


def delete_batch_with_latency(
    emu: CamsEmulator, ids: list[str], hold_s: float
) -> tuple[Invocation, float]:
    """A batch deleting `ids`, CAMS holding every request `hold_s`: the run, and its seconds."""
    emu.reset(ids)
    emu.add_fault(Fault("latency", delay_s=hold_s, times=None))
    started = time.monotonic()
    run = call_handler(batch_of(ids), role_context(), ALL_SECRETS)
    return run, time.monotonic() - started


def test_max_concurrency_bounds_the_requests_in_flight(
    emu: CamsEmulator, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN MAX_CONCURRENCY=2 and CAMS taking 150 ms per request
    WHEN a batch of 10 instances is deleted
    THEN CAMS never holds more than 2 requests at once (and does hold 2), and the batch
    takes at least 5 rounds of 150 ms."""
    monkeypatch.setenv("MAX_CONCURRENCY", "2")
    hold_s = 0.15
    ids = [f"bounded-{n:02d}" for n in range(10)]

    run, elapsed = delete_batch_with_latency(emu, ids, hold_s)

    assert run.result is not None
    assert run.result["Counts"]["deleted"] == 10
    calls = emu.calls()
    assert len(calls) == 10
    assert max_overlap(calls, hold_s) == 2
    assert elapsed >= math.ceil(10 / 2) * hold_s - 0.01


def test_a_full_batch_runs_in_parallel_and_deletes_everything(
    emu: CamsEmulator, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN the default MAX_CONCURRENCY (8) and MAX_BATCH_SIZE (100), and 20 ms per request
    WHEN a batch of 100 instances is deleted
    THEN every item is deleted, in input order, each with one request; at most 8 were in
    flight at once, and the batch took less than the 2 s that one at a time would; one item
    more and the whole batch is refused without a call."""
    hold_s = 0.02
    ids = [f"full-{n:03d}" for n in range(100)]

    run, elapsed = delete_batch_with_latency(emu, ids, hold_s)

    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Success"] is True
    assert [item["InstanceId"] for item in run.result["Results"]] == ids
    assert {item["Outcome"] for item in run.result["Results"]} == {"deleted"}
    assert emu.instances() == set()
    calls = emu.calls()
    assert sorted(call.instance_id or "" for call in calls) == ids
    assert 2 <= max_overlap(calls, hold_s) <= 8
    assert math.ceil(100 / 8) * hold_s - 0.01 <= elapsed < 100 * hold_s

    emu.reset([*ids, "full-100"])
    refused = call_handler(batch_of([*ids, "full-100"]), role_context(), ALL_SECRETS)

    assert refused.result is not None
    assert refused.result["Code"] == "InvalidParameter.BatchSize"
    assert refused.result["Total"] == 101
    assert emu.calls() == []
    assert len(emu.instances()) == 101


def test_a_retry_of_a_batch_that_outlasts_its_deadline_reaches_other_instances(
    emu: CamsEmulator, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN a batch of 40 that one invocation cannot finish: MAX_CONCURRENCY=4, CAMS taking
    300 ms per request, and a 1.5 s deadline (a 2 s timeout less DEADLINE_MARGIN_MS=500)
    WHEN it is invoked, raises for the instances it did not reach, and is invoked again, as
    FC retries it
    THEN the retry sends requests for instances the first invocation did not reach: each
    invocation starts them in a new order, so the retry does not spend its deadline again
    on the ones already gone (in input order, every retry would stop at the same place)."""
    monkeypatch.setenv("MAX_CONCURRENCY", "4")
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "500")
    ids = [f"outlasts-{n:02d}" for n in range(40)]
    emu.reset(ids)
    emu.add_fault(Fault("latency", delay_s=0.3, times=None))
    context = Python310Context(credentials=KEYS[0], function=FunctionMeta(timeout=2))

    first = call_handler(batch_of(ids), context, ALL_SECRETS)
    reached_first = {call.instance_id for call in emu.calls()}
    second = call_handler(batch_of(ids), context, ALL_SECRETS)
    reached_only_by_the_retry = {call.instance_id for call in emu.calls()} - reached_first

    assert isinstance(first.error, RetryableDeletionError)
    [line] = first.lines("invocation")
    assert line["status"] == "retrying"
    assert 0 < len(reached_first) < len(ids)
    assert reached_only_by_the_retry
    assert second.lines("invocation")[0]["count"] == len(ids)


def test_log_lines_of_batch_threads_keep_the_request_id(emu: CamsEmulator):
    """GIVEN a batch whose deletions run on worker threads
    WHEN it is invoked
    THEN every deletion line carries the invocation's request id (the context is copied)."""
    ids = [f"ctx-{n:02d}" for n in range(16)]
    emu.reset(ids)
    context = role_context()

    with captured_output() as stream:
        result = index.handler(batch_of(ids), context)

    deletions = [line for line in parse_log_lines(stream.getvalue()) if line["event"] == "deletion"]
    assert result["Counts"]["deleted"] == 16
    assert len(deletions) == 16
    assert {line["request_id"] for line in deletions} == {context.request_id}


def test_a_new_instances_first_batch_builds_the_sdks_session_once(
    emu: CamsEmulator, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN an instance whose SDK has no HTTP session yet (the SDK builds it inside the
    first request to a host), and building one takes 50 ms
    WHEN a batch of 8 instances runs on 8 threads
    THEN the session is built once, and the other threads wait for it instead of each
    building their own inside their attempts' timeouts; everything is deleted."""
    builds: list[str] = []
    build_adapter = DaraCore.get_adapter

    def slow_counted_adapter(*args: Any, **kwargs: Any) -> Any:
        builds.append(threading.current_thread().name)
        time.sleep(0.05)  # wide enough for every thread to find no session
        return build_adapter(*args, **kwargs)

    monkeypatch.setattr(DaraCore, "_sessions", {})
    monkeypatch.setattr(DaraCore, "get_adapter", staticmethod(slow_counted_adapter))
    ids = [f"session-{n}" for n in range(8)]
    emu.reset(ids)

    run = call_handler(batch_of(ids), role_context(), ALL_SECRETS)

    assert run.result is not None
    assert run.result["Counts"]["deleted"] == 8
    assert len(builds) == 1
    assert len(DaraCore._sessions) == 1
