"""A fault soak: over a thousand invocations of every kind while CAMS misbehaves at random.

Each target instance meets a random sequence of one-shot faults (throttling as 400 or 429,
with or without x-acs-retry-after; 500; 503; an HTML 502; a reset; latency; rarely a
deletion whose answer is lost, or a permanent business refusal). MAX_ATTEMPTS is 3, so some
deletions still fail. Invariants, per invocation and at the end:

- an event invocation that returns carries no retryable item; one that raises logged at
  least one retryable deletion (FC then retries it);
- an HTTP invocation never raises, and its status says what happened;
- the result and the log agree, and each reported attempt count is what CAMS received;
- afterwards every instance is gone or was last reported failed, and nothing reported as
  deleted still exists; instances nobody asked for are untouched;
- redelivering every raised event (and retrying every failed HTTP call) until it returns
  ends with every instance deleted but those refused for good.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from cams_emulator import CamsEmulator, Fault
from cams_local.fc import FunctionMeta, Python310Context
from tests.conftest import ROLE, Invocation, assert_valid_result, load_event
from tests.resilience.conftest import call_handler

pytestmark = pytest.mark.slow

SEED = 20261127
INVOCATIONS = 1_200
MAX_ATTEMPTS = 3
TIME_LIMIT_S = 90.0  # a hard stop far above the usual run, so a regression fails, not hangs
READ_TIMEOUT_MS = 300
BUSINESS_CODE = "UnsupportedOperation"  # a permanent refusal
ENVELOPE = load_event("eventbridge-cloudevent.json")
HTTP_DELETE = load_event("http-delete.json")
SUCCESS = frozenset({"deleted", "already_deleted"})
# What each failure is answered with over HTTP (the function's documented mapping).
HTTP_STATUS = {
    "Throttling.User": 429,
    "InternalError": 502,
    "ServiceUnavailable": 503,
    "UpstreamInvalidResponse": 502,
    "UpstreamUnavailable": 503,
    "UpstreamTimeout": 504,
    BUSINESS_CODE: 502,
}


def random_fault(rng: random.Random, instance_id: str) -> Fault:
    """One one-shot fault for one instance, transient nearly always."""
    roll = rng.random()
    kind: dict[str, Any]
    if roll < 0.15:
        kind = {"kind": "throttle", "status": rng.choice([400, 429])}
    elif roll < 0.22:
        kind = {"kind": "throttle", "status": 429, "retry_after_ms": rng.randint(1, 8)}
    elif roll < 0.37:
        kind = {"kind": "internal_error"}
    elif roll < 0.52:
        kind = {"kind": "unavailable"}
    elif roll < 0.64:
        kind = {"kind": "bad_gateway_html"}
    elif roll < 0.80:
        kind = {"kind": "reset"}
    elif roll < 0.965:
        kind = {"kind": "latency", "delay_s": rng.uniform(0.002, 0.02)}
    elif roll < 0.995:
        kind = {"kind": "business_error", "code": BUSINESS_CODE}
    else:  # deleted, but the answer comes after the read timeout
        kind = {"kind": "timeout_after_commit", "delay_s": 0.5}
    return Fault(instance_id=instance_id, times=1, **kind)


def fault_count(rng: random.Random) -> int:
    return rng.choices([0, 1, 2, 3, 4], weights=[50, 22, 13, 9, 6])[0]


@dataclass(frozen=True)
class Delivery:
    kind: str  # direct, eventbridge, batch, http
    event: bytes
    instance_ids: tuple[str, ...]


@dataclass
class Ledger:
    """What the function reported, per instance, last report winning."""

    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    retried_codes: Counter[str] = field(default_factory=Counter)
    retried_to_success: int = 0

    def record(self, line: dict[str, Any]) -> None:
        self.last[line["instance_id"]] = line
        self.outcomes[line["outcome"]] += 1
        if line["outcome"] in SUCCESS and line["attempts"] > 1:
            self.retried_to_success += 1


class Plan:
    """The soak's deliveries, drawn from one seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_id = 0
        self.targeted: list[str] = []

    def fresh(self) -> str:
        self.next_id += 1
        instance_id = f"soak-{self.next_id:05d}"
        self.targeted.append(instance_id)
        return instance_id

    def target(self) -> str:
        # Now and then an instance handled before: a duplicate delivery.
        if self.targeted and self.rng.random() < 0.04:
            return self.rng.choice(self.targeted)
        return self.fresh()

    def cloud_event(self, number: int, instance_id: str) -> dict[str, Any]:
        event = {**ENVELOPE, "id": f"soak-event-{number}", "data": {"InstanceId": instance_id}}
        if self.rng.random() < 0.3:  # Kafka: the message as JSON text in data.value
            event["data"] = {"topic": "retirements", "value": json.dumps(event["data"])}
        return event

    def delivery(self, number: int) -> Delivery:
        roll = self.rng.random()
        if roll < 0.3:
            instance_id = self.target()
            return Delivery("direct", _json({"InstanceId": instance_id}), (instance_id,))
        if roll < 0.55:
            instance_id = self.target()
            return Delivery(
                "eventbridge", _json(self.cloud_event(number, instance_id)), (instance_id,)
            )
        if roll < 0.75:
            ids = [self.target() for _ in range(self.rng.randint(2, 5))]
            elements: list[Any] = []
            for position, instance_id in enumerate(ids):
                element: Any = (
                    self.cloud_event(number * 10 + position, instance_id)
                    if self.rng.random() < 0.5
                    else {"InstanceId": instance_id}
                )
                elements.append(json.dumps(element) if self.rng.random() < 0.3 else element)
            if self.rng.random() < 0.2:  # a duplicate inside the batch
                elements.append(self.rng.choice(elements))
            return Delivery("batch", _json(elements), tuple(ids))
        instance_id = self.target()
        event = json.loads(json.dumps(HTTP_DELETE))
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/instances/{instance_id}"
        return Delivery("http", _json(event), (instance_id,))


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def context(number: int) -> Python310Context:
    return Python310Context(
        credentials=ROLE, request_id=f"soak-{number:05d}", function=FunctionMeta(timeout=30)
    )


def check_invocation(
    delivery: Delivery, run: Invocation, emu: CamsEmulator
) -> list[dict[str, Any]]:
    """The per-invocation invariants; returns the deletion lines it logged."""
    deletions = run.lines("deletion")
    assert {line["instance_id"] for line in deletions} == set(delivery.instance_ids)
    assert len(deletions) == len(set(delivery.instance_ids)), "one line per distinct instance"
    received = Counter(call.instance_id for call in emu.calls())
    for line in deletions:
        assert 1 <= line["attempts"] <= MAX_ATTEMPTS, line
        # Every attempt the function counts is one request CAMS received, and no more.
        assert received[line["instance_id"]] == line["attempts"], (line, received)
        assert line["retryable"] is (line["outcome"] == "failed" and line["code"] != BUSINESS_CODE)
    [summary] = run.lines("invocation")
    retryable = [line for line in deletions if line["retryable"]]

    if delivery.kind == "http":
        assert run.error is None, "an HTTP invocation never raises"
        assert run.result is not None
        body = run.body
        assert_valid_result(body)
        [line] = deletions
        assert (body["Outcome"], body["Code"], body["Attempts"]) == (
            line["outcome"], line["code"], line["attempts"],
        )  # fmt: skip
        status = run.result["statusCode"]
        if body["Outcome"] in SUCCESS:
            assert status == 200
        else:
            assert status == HTTP_STATUS[body["Code"]], body
            assert body["Retryable"] is (body["Code"] != BUSINESS_CODE)
            if status in (429, 503):
                assert int(run.result["headers"]["Retry-After"]) >= 1
        assert summary["status"] == status
        return deletions

    if run.error is not None:
        assert type(run.error).__name__ == "RetryableDeletionError", repr(run.error)
        assert run.result is None
        assert retryable, "an event invocation raised with no retryable item"
        assert summary["status"] == "retrying"
        for line in retryable:
            assert line["code"] in str(run.error)
        return deletions

    assert run.result is not None
    assert_valid_result(run.result)
    assert not retryable, "an event invocation returned a retryable failure instead of raising"
    items = run.result["Results"] if delivery.kind == "batch" else [run.result]
    assert all(item["Retryable"] is False for item in items)
    by_id = {line["instance_id"]: line for line in deletions}
    for item in items:
        line = by_id[item["InstanceId"]]
        assert (item["Outcome"], item["Code"], item["Attempts"]) == (
            line["outcome"], line["code"], line["attempts"],
        )  # fmt: skip
    assert summary["status"] == ("succeeded" if run.result["Success"] else "failed")
    return deletions


def deliver(cams: CamsEmulator, delivery: Delivery, number: int, ledger: Ledger) -> bool:
    """One invocation, checked and recorded; True when it must be delivered again (an event
    that raised, or an HTTP call that failed but may succeed if retried)."""
    cams.clear_journal()
    run = call_handler(delivery.event, context(number))
    for line in check_invocation(delivery, run, cams):
        ledger.record(line)
    ledger.retried_codes.update(line["code"] for line in run.lines("deletion_retry"))
    if delivery.kind == "http":
        return bool(run.body["Retryable"])
    return run.error is not None


def seed(cams: CamsEmulator, rng: random.Random) -> tuple[list[Delivery], set[str], set[str]]:
    """(the deliveries, the instances they target, bystanders nobody asks to delete), with
    every targeted instance in the emulator and its faults armed."""
    plan = Plan(rng)
    deliveries = [plan.delivery(number) for number in range(INVOCATIONS)]
    targeted = set(plan.targeted)
    bystanders = {f"bystander-{number:04d}" for number in range(200)}
    cams.reset([*targeted, *bystanders])
    for instance_id in sorted(targeted):
        for _ in range(fault_count(rng)):
            cams.add_fault(random_fault(rng, instance_id))
    return deliveries, targeted, bystanders


def test_fault_soak(cams: CamsEmulator, monkeypatch: pytest.MonkeyPatch):
    """GIVEN thousands of instances, CAMS failing at random, MAX_ATTEMPTS=3
    WHEN 1,200 direct, EventBridge, batch and HTTP invocations run, then every raised event
    is redelivered (and every failed HTTP call retried) until it returns
    THEN every invariant above holds, and only instances refused for good remain."""
    monkeypatch.setenv("MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    monkeypatch.setenv("CAMS_READ_TIMEOUT_MS", str(READ_TIMEOUT_MS))
    deliveries, targeted, bystanders = seed(cams, random.Random(SEED))

    started = time.monotonic()
    ledger = Ledger()
    to_redeliver: list[Delivery] = []
    kinds: Counter[str] = Counter()
    for number, delivery in enumerate(deliveries):
        assert time.monotonic() - started < TIME_LIMIT_S, f"only {number} invocations in time"
        kinds[delivery.kind] += 1
        if deliver(cams, delivery, number, ledger):
            to_redeliver.append(delivery)
            kinds[f"{delivery.kind}-retryable"] += 1

    # After the soak: gone, or last reported as failed; nothing reported deleted remains.
    remaining = cams.instances()
    assert bystanders <= remaining, "an instance nobody asked for was deleted"
    assert set(ledger.last) == targeted, "every targeted instance was reported"
    for instance_id in targeted & remaining:
        assert ledger.last[instance_id]["outcome"] == "failed", ledger.last[instance_id]
    # The soak was a soak: faults bit, retries recovered, some calls still failed.
    assert sum(kinds[kind] for kind in ("direct", "eventbridge", "batch", "http")) >= 1_000
    assert ledger.retried_to_success >= 100
    assert kinds["http-retryable"] > 0
    assert kinds["batch-retryable"] + kinds["direct-retryable"] + kinds["eventbridge-retryable"] > 0
    assert ledger.outcomes["already_deleted"] > 0
    # Every transient failure class was met and retried (UpstreamTimeout: a lost answer).
    assert set(ledger.retried_codes) >= set(HTTP_STATUS) - {BUSINESS_CODE}, ledger.retried_codes

    # At least once: redeliver until each returns; redelivery is harmless.
    before = Counter(ledger.outcomes)
    for round_number in range(1, 6):
        pending, to_redeliver = to_redeliver, []
        for number, delivery in enumerate(pending):
            if deliver(cams, delivery, 100_000 * round_number + number, ledger):
                to_redeliver.append(delivery)
        if not to_redeliver:
            break
    assert to_redeliver == [], f"{len(to_redeliver)} deliveries still failing after 5 rounds"
    redelivered = ledger.outcomes - before
    assert redelivered["already_deleted"] > 0

    refused = {
        instance_id
        for instance_id, line in ledger.last.items()
        if line["outcome"] == "failed" and line["code"] == BUSINESS_CODE
    }
    # (A refused instance may be gone all the same: a lost answer deleted it, then CAMS
    # refused the retry.)
    remaining = cams.instances()
    assert remaining - bystanders <= refused
    assert bystanders <= remaining
    print(f"soak: {dict(kinds)}; outcomes {dict(ledger.outcomes)}; redelivered {dict(redelivered)}")
    assert time.monotonic() - started < TIME_LIMIT_S
