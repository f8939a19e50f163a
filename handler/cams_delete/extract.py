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
    RepeatedKeys,
    TimerEvent,
    UnrecognisedEvent,
    parse_json,
    recognise_object,
)
from cams_delete.validation import json_kind

# Where event-streaming sources put the message itself, in a CloudEvent's data or, with
# the RawData schema, in each batch element: Kafka `value`, MNS `messageBody`, RocketMQ
# and RabbitMQ `body`.
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
    if isinstance(shape, DirectRequest):
        # A RawData element is the message without its envelope: maybe a source's record.
        return request_in(shape.raw, "", look_inside=True)
    if isinstance(shape, CloudEvent):
        return from_cloud_event(shape)
    return rejected(
        None, "InvalidEvent", "A batch element must be a CloudEvent or an object with InstanceId"
    )


def from_direct(event: DirectRequest) -> Extracted:
    return request_in(event.raw, "")


def from_cloud_event(event: CloudEvent) -> Extracted:
    if isinstance(event.raw, RepeatedKeys):
        return _repeated(event.raw, f"CloudEvent {event.id!r}" if event.id else "the CloudEvent")
    data = _cloud_event_data(event.raw)
    if isinstance(data, DeletionResult):
        return data
    if not isinstance(data, Mapping):
        return rejected(
            None,
            "InvalidEvent",
            f"CloudEvent {event.id!r}: data must be an object with InstanceId; got "
            f"{json_kind(data)}",
        )
    stray = stray_dry_run_flag(event.raw, skip=_CLOUD_EVENT_DATA)
    if stray is not None:
        return _misplaced(stray, "data.InstanceId", event.id)
    # A dryrun extension attribute on the envelope counts too.
    return request_in(data, "data.", event.id, dry_run_flags(event.raw), look_inside=True)


def from_timer(event: TimerEvent) -> Extracted:
    if isinstance(event.raw, RepeatedKeys):
        return _repeated(event.raw, "the timer event")
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
    stray = stray_dry_run_flag(event.raw, skip=("payload",))
    if stray is not None:
        return _misplaced(stray, "payload.InstanceId")
    return request_in(parsed, "payload.", outer_flags=dry_run_flags(event.raw))


def request_in(
    container: Mapping[str, Any],
    prefix: str,
    event_id: str | None = None,
    outer_flags: tuple[object, ...] = (),
    *,
    look_inside: bool = False,
) -> Extracted:
    """The InstanceId an object names, and whether anything on the way to it asks for a
    dry run.

    With `look_inside` (a CloudEvent's data, a RawData batch element: what event-streaming
    sources deliver), an object without an InstanceId of its own that carries a message
    (Kafka `value`, MNS `messageBody`, RocketMQ and RabbitMQ `body`) is looked into, once.
    A request sent to the function directly is read as it is: its `body` is not a message.
    Every object on the way counts for the dry run, and a flag the function cannot read is
    refused rather than ignored: ignoring `"DryRun": "yes"` would delete what the caller
    only meant to check. So is an object that repeats a key (see RepeatedKeys), and a flag
    off the way, inside another field (`{"InstanceId": "i", "options": {"DryRun": true}}`),
    which would otherwise be ignored."""
    if isinstance(container, RepeatedKeys):
        return _repeated(container, prefix.rstrip(".") or "The request", event_id)
    flags = outer_flags + dry_run_flags(container)
    if "InstanceId" not in container:
        body = _message_body(container) if look_inside else None
        if body is None:
            return _missing(container, prefix, event_id)
        message, field = body
        message_prefix = f"{prefix}{field}."
        stray = stray_dry_run_flag(container, skip=(field,))
        if stray is not None:
            return _misplaced(f"{prefix}{stray}", f"{message_prefix}InstanceId", event_id)
        if not isinstance(message, Mapping):
            return rejected(
                None,
                "InvalidEvent",
                f"{_about(event_id)}{message_prefix.rstrip('.')} must be a JSON object with "
                f"InstanceId; got {json_kind(message)}",
            )
        return request_in(message, message_prefix, event_id, flags, look_inside=False)
    stray = stray_dry_run_flag(container)
    if stray is not None:
        return _misplaced(f"{prefix}{stray}", f"{prefix}InstanceId", event_id)
    value = container["InstanceId"]
    if not all(isinstance(flag, bool) for flag in flags):
        return rejected(
            value,
            "InvalidParameter.DryRun",
            f"{_about(event_id)}a DryRun flag on the way to {prefix}InstanceId is not the "
            "JSON boolean true or false (or, in a query string, 'true' or 'false')",
        )
    return Candidate(value, event_id, dry_run=any(flags))


def dry_run_flags(container: Mapping[str, Any]) -> tuple[object, ...]:
    """The dry-run flags an object sets: a key that reads `dryrun` once case, `_`, `-`,
    spaces and dots are set aside (DryRun, dry_run, Dry-Run...), and `dryRun` in a query
    string it carries (an EventBridge HTTP source's `queryString`), where values are text."""
    flags = [value for key, value in container.items() if is_dry_run_name(key)]
    for query_field in _QUERY_FIELDS:
        query = container.get(query_field)
        if isinstance(query, Mapping):
            flags.extend(query_flag(value) for key, value in query.items() if is_dry_run_name(key))
    return tuple(flags)


_QUERY_FIELDS = ("queryString", "queryParameters")
_NAME_SEPARATORS = str.maketrans("", "", "_- .")
_QUERY_TRUE = frozenset({"true", "1"})
_QUERY_FALSE = frozenset({"false", "0"})


def is_dry_run_name(key: object) -> bool:
    # The length test first: every key of every envelope comes through here, and a key
    # shorter than "dryrun" cannot read as it.
    return (
        isinstance(key, str)
        and len(key) >= 6
        and key.casefold().translate(_NAME_SEPARATORS) == "dryrun"
    )


def query_flag(value: object) -> object:
    """A dry-run flag given as query-string text: True or False, or the value itself when it
    is neither (refused by the caller)."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _QUERY_TRUE:
        return True
    if text in _QUERY_FALSE:
        return False
    return value  # unreadable: refused with the rest


_CLOUD_EVENT_DATA = ("data", "data_base64")
# Not looked into: the instance is named there, and query strings are read as flags.
_NOT_SCANNED = frozenset({"InstanceId", *_QUERY_FIELDS})


def stray_dry_run_flag(container: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str | None:
    """Where a dry-run flag that is not false sits in the objects inside `container`'s
    fields (but `skip`), which are off the way to the InstanceId: its path, or None.

    A flag there is not read, so the caller's dry run would be lost: the request is refused
    instead. A false one changes nothing and is let be. Iterative, because a parsed event
    may nest as deep as the recursion limit allows."""
    pending: list[tuple[str, object]] = [
        (str(key), value)
        for key, value in container.items()
        if key not in skip and key not in _NOT_SCANNED and isinstance(value, Mapping | list)
    ]
    while pending:
        path, value = pending.pop()
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if is_dry_run_name(key) and query_flag(inner) is not False:
                    return f"{path}.{key}"
                if isinstance(inner, Mapping | list):
                    pending.append((f"{path}.{key}", inner))
        elif isinstance(value, list):
            pending.extend(
                (f"{path}[{index}]", item)
                for index, item in enumerate(value)
                if isinstance(item, Mapping | list)
            )
    return None


def _misplaced(location: str, instance: str, event_id: str | None = None) -> DeletionResult:
    return rejected(
        None,
        "InvalidParameter.DryRun",
        f"{_about(event_id)}the dry-run flag at {location[:128]} is not where one counts "
        f"(beside {instance} or on an object enclosing it), so it would be ignored; nothing "
        f"was done: move it beside {instance}",
    )


def _about(event_id: str | None) -> str:
    return f"CloudEvent {event_id!r}: " if event_id else ""


def _cloud_event_data(raw: Mapping[str, Any]) -> object:
    if "data" not in raw and isinstance(raw.get("data_base64"), str):
        try:
            decoded = base64.b64decode(raw["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            return rejected(None, "InvalidEvent", "CloudEvent data_base64 is not valid base64")
        return _json_or_text(decoded)
    data = raw.get("data")
    return _json_or_text(data) if isinstance(data, str) else data


def _message_body(container: Mapping[str, Any]) -> tuple[object, str] | None:
    """The message an event-streaming record carries, parsed when it is JSON text, and the
    field it is in."""
    for field in MESSAGE_BODY_FIELDS:
        if field in container:
            body = container[field]
            return (_json_or_text(body) if isinstance(body, str) else body), field
    return None


def _json_or_text(data: str | bytes) -> object:
    parsed = parse_json(data)
    return data if isinstance(parsed, UnrecognisedEvent) else parsed


def _repeated(container: RepeatedKeys, where: str, event_id: str | None = None) -> DeletionResult:
    names = ", ".join(repr(key[:64]) for key in container.repeated[:3])
    return rejected(
        None,
        "InvalidParameter.RepeatedKey",
        f"{_about(event_id)}{where} names {names} more than once; JSON parsers disagree on "
        "which value counts, so nothing was done: send each key once",
    )


def _missing(
    container: Mapping[str, Any], prefix: str, event_id: str | None = None
) -> DeletionResult:
    near_miss = next(
        (key for key in container if isinstance(key, str) and key.lower() == "instanceid"), None
    )
    hint = f"; found {near_miss!r}, but the field name is case-sensitive" if near_miss else ""
    return rejected(
        None,
        "MissingParameter.InstanceId",
        f"{_about(event_id)}{prefix}InstanceId is required{hint}. Send {EXPECTED_SHAPES}",
    )
