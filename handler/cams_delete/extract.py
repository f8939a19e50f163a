"""Find the InstanceId each recognised event asks to delete."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cams_delete.results import DeletionResult, rejected
from cams_delete.sources import (
    EXPECTED_SHAPES,
    CloudEvent,
    DirectRequest,
    EventBatch,
    TimerEvent,
    UnrecognisedEvent,
    parse_json,
    recognise_object,
)
from cams_delete.validation import json_kind

# Where event-streaming sources put the message itself inside a CloudEvent's data:
# Kafka `value`, MNS `messageBody`, RocketMQ and RabbitMQ `body`.
MESSAGE_BODY_FIELDS = ("value", "messageBody", "body")


MISSING = object()
"""Stands for a field that is absent (as opposed to present and null)."""


@dataclass(frozen=True)
class Candidate:
    """An InstanceId as found in the event, not yet validated."""

    value: object
    event_id: str | None = None
    dry_run: bool = False  # the request itself asked for a dry run


Extracted = Candidate | DeletionResult


def from_single(event: CloudEvent | DirectRequest | TimerEvent) -> Extracted:
    if isinstance(event, CloudEvent):
        return from_cloud_event(event)
    if isinstance(event, TimerEvent):
        return from_timer(event)
    return from_direct(event)


def from_batch(batch: EventBatch) -> list[Extracted]:
    return [from_batch_element(element) for element in batch.elements]


def from_batch_element(element: object) -> Extracted:
    # Older event-streaming samples deliver each element as a JSON-encoded string.
    if isinstance(element, str):
        parsed = parse_json(element)
        if isinstance(parsed, UnrecognisedEvent):
            return rejected(None, parsed.code, f"Batch element: {parsed.message}")
        element = parsed
    if not isinstance(element, Mapping):
        return rejected(
            None,
            "InvalidEvent",
            f"A batch element must be a CloudEvent or an object with InstanceId; got "
            f"{json_kind(element)}",
        )
    shape = recognise_object(element)
    if isinstance(shape, CloudEvent | DirectRequest):
        return from_single(shape)
    return rejected(
        None, "InvalidEvent", "A batch element must be a CloudEvent or an object with InstanceId"
    )


def from_direct(event: DirectRequest) -> Extracted:
    return request_in(event.raw, "")


def from_cloud_event(event: CloudEvent) -> Extracted:
    data = _cloud_event_data(event.raw)
    if isinstance(data, DeletionResult):
        return data
    prefix = "data."
    if isinstance(data, Mapping) and "InstanceId" not in data:
        body = _message_body(data)
        if body is not None:
            data, prefix = body
    if not isinstance(data, Mapping):
        return rejected(
            None,
            "InvalidEvent",
            f"CloudEvent {event.id!r}: data must be an object with InstanceId; got "
            f"{json_kind(data)}",
        )
    return request_in(data, prefix, event.id)


def from_timer(event: TimerEvent) -> Extracted:
    payload = event.payload
    parsed = parse_json(payload) if isinstance(payload, str) else payload
    if isinstance(parsed, UnrecognisedEvent):
        return rejected(None, parsed.code, f"Timer payload: {parsed.message}")
    if not isinstance(parsed, Mapping):
        return rejected(
            None,
            "InvalidEvent",
            f'The timer payload must be a JSON object such as {{"InstanceId": "..."}}; got '
            f"{json_kind(parsed)}",
        )
    return request_in(parsed, "payload.")


def request_in(container: Mapping[str, Any], prefix: str, event_id: str | None = None) -> Extracted:
    """The InstanceId an object names, and whether it asks for a dry run (DryRun: true).

    A dry-run flag the function cannot read is refused rather than ignored: ignoring
    `"DryRun": "yes"` would delete what the caller only meant to check."""
    value = container.get("InstanceId", MISSING)
    if value is MISSING:
        return _missing(container, prefix, event_id)
    flags = [flag for key, flag in container.items() if str(key).lower() == "dryrun"]
    if not all(isinstance(flag, bool) for flag in flags):
        return rejected(
            value,
            "InvalidParameter.DryRun",
            f"{prefix}DryRun must be the JSON boolean true or false",
        )
    return Candidate(value, event_id, dry_run=any(flags))


def _cloud_event_data(raw: Mapping[str, Any]) -> object:
    if "data" not in raw and isinstance(raw.get("data_base64"), str):
        try:
            decoded = base64.b64decode(raw["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            return rejected(None, "InvalidEvent", "CloudEvent data_base64 is not valid base64")
        return _json_or_text(decoded)
    data = raw.get("data")
    return _json_or_text(data) if isinstance(data, str) else data


def _message_body(data: Mapping[str, Any]) -> tuple[object, str] | None:
    for field in MESSAGE_BODY_FIELDS:
        if field in data:
            body = data[field]
            return (_json_or_text(body) if isinstance(body, str) else body), f"data.{field}."
    return None


def _json_or_text(data: str | bytes) -> object:
    parsed = parse_json(data)
    return data if isinstance(parsed, UnrecognisedEvent) else parsed


def _missing(
    container: Mapping[str, Any], prefix: str, event_id: str | None = None
) -> DeletionResult:
    near_miss = next(
        (key for key in container if isinstance(key, str) and key.lower() == "instanceid"), None
    )
    hint = f"; found {near_miss!r}, but the field name is case-sensitive" if near_miss else ""
    about = f"CloudEvent {event_id!r}: " if event_id else ""
    return rejected(
        None,
        "MissingParameter.InstanceId",
        f"{about}{prefix}InstanceId is required{hint}. Send {EXPECTED_SHAPES}",
    )
