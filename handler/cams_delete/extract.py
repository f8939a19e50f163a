"""Find the InstanceId each recognised event asks to delete."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

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
        return _repeated(event.raw.repeated, "The CloudEvent", event.id)
    data = _cloud_event_data(event.raw, event.id)
    if isinstance(data, DeletionResult):
        return data
    if not isinstance(data, Mapping):
        return rejected(
            None,
            "InvalidEvent",
            f"CloudEvent {event.id!r}: data must be an object with InstanceId; got "
            f"{json_kind(data)}",
        )
    missed = off_the_way(event.raw, "", skip=_CLOUD_EVENT_DATA)
    if missed is not None:
        return missed.refusal(event.id)
    # A dryrun extension attribute on the envelope counts too.
    return request_in(data, "data.", event.id, dry_run_flags(event.raw), look_inside=True)


def from_timer(event: TimerEvent) -> Extracted:
    if isinstance(event.raw, RepeatedKeys):
        return _repeated(event.raw.repeated, "The timer event")
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
    missed = off_the_way(event.raw, "", skip=("payload",))
    if missed is not None:
        return missed.refusal()
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
    off the way, inside another field (see off_the_way), which would otherwise be ignored."""
    if isinstance(container, RepeatedKeys):
        return _repeated(container.repeated, prefix.rstrip(".") or "The request", event_id)
    flags = outer_flags + dry_run_flags(container)
    if "InstanceId" not in container:
        body = _message_body(container) if look_inside else None
        if body is None:
            return _missing(container, prefix, event_id)
        message, field = body
        message_prefix = f"{prefix}{field}."
        missed = off_the_way(container, prefix, skip=(field,))
        if missed is not None:
            return missed.refusal(event_id)
        if not isinstance(message, Mapping):
            return rejected(
                None,
                "InvalidEvent",
                f"{_about(event_id)}{message_prefix.rstrip('.')} must be a JSON object with "
                f"InstanceId; got {json_kind(message)}",
            )
        return request_in(message, message_prefix, event_id, flags, look_inside=False)
    missed = off_the_way(container, prefix)
    if missed is not None:
        return missed.refusal(event_id)
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
# A key that reads unambiguously after a dot in a location; others are written ["as JSON"].
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MAX_LOCATION = 128
# Where a value sits, as a chain of links to its parent: the location's text is built only
# for a refusal, so a wide or deep event costs memory in proportion to its size.
_Step = tuple[Any, str | int]


@dataclass(frozen=True)
class OffTheWay:
    """Something in an object's other fields that the function would not read, and refuses:
    a dry-run flag that is not false, or one given twice (the first may be true)."""

    location: str
    repeated: tuple[str, ...] = ()

    def refusal(self, event_id: str | None = None) -> DeletionResult:
        if self.repeated:
            return _repeated(self.repeated, self.location, event_id)
        return rejected(
            None,
            "InvalidParameter.DryRun",
            f"{_about(event_id)}the dry-run flag at {self.location} is not where one counts "
            "(beside the InstanceId, or on an object enclosing it), so it would be ignored; "
            "nothing was done: move it beside the InstanceId",
        )


def off_the_way(
    container: Mapping[str, Any], prefix: str, skip: tuple[str, ...] = ()
) -> OffTheWay | None:
    """What `container`'s fields (but `skip`, the way on) hold off the way to the InstanceId
    that would be missed, or None. `prefix` is where `container` is, for the location.

    The container's own flags are read, and so are those of a query string it carries; a
    flag nested deeper anywhere is not, so a caller's dry run would be lost: it is refused.
    A false one changes nothing and is let be. Iterative, as a parsed event may nest as deep
    as the recursion limit allows."""
    root = prefix.rstrip(".") or None
    pending: list[tuple[object, _Step]] = []
    for key, value in container.items():
        if key in skip or not isinstance(value, Mapping | list):
            continue
        if key in _QUERY_FIELDS and isinstance(value, Mapping):
            if _repeats_a_flag(value):
                return OffTheWay(_location((root, key)), value.repeated)
            # Its own keys are read as flags; only what is nested in them is off the way.
            pending.extend(
                (inner, ((root, key), inner_key))
                for inner_key, inner in value.items()
                if isinstance(inner, Mapping | list)
            )
        else:
            pending.append((value, (root, key)))
    while pending:
        value, step = pending.pop()
        if _repeats_a_flag(value):
            return OffTheWay(_location(step), value.repeated)
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if is_dry_run_name(key) and query_flag(inner) is not False:
                    return OffTheWay(_location((step, key)))
                if isinstance(inner, Mapping | list):
                    pending.append((inner, (step, key)))
        elif isinstance(value, list):
            pending.extend(
                (item, (step, index))
                for index, item in enumerate(value)
                if isinstance(item, Mapping | list)
            )
    return None


def _repeats_a_flag(value: object) -> TypeGuard[RepeatedKeys]:
    # Off the way, only a repeated flag matters: a parser keeping its first value may see a
    # dry run there. Other repeated keys are not the function's to judge.
    return isinstance(value, RepeatedKeys) and any(map(is_dry_run_name, value.repeated))


def _location(step: _Step) -> str:
    """`data.options[0]["a.b"]`: a value's location from its chain of steps, the end kept
    when it is too long to show whole."""
    segments: list[str | int] = []
    link: Any = step
    while isinstance(link, tuple):
        link, segment = link
        segments.append(segment)
    text = link if isinstance(link, str) else ""
    for segment in reversed(segments):
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif _PLAIN_KEY.fullmatch(segment):
            text += f".{segment}" if text else segment
        else:
            text += f"[{json.dumps(segment)}]"
    return text if len(text) <= _MAX_LOCATION else "…" + text[-_MAX_LOCATION:]


def _about(event_id: str | None) -> str:
    return f"CloudEvent {event_id!r}: " if event_id else ""


def _cloud_event_data(raw: Mapping[str, Any], event_id: str | None) -> object:
    if "data_base64" in raw and "data" in raw:
        # The CloudEvents JSON format allows one; reading either could miss a dry run.
        return rejected(
            None,
            "InvalidEvent",
            f"{_about(event_id)}it has both data and data_base64; send one of them",
        )
    if "data_base64" in raw:
        encoded = raw["data_base64"]
        try:
            decoded = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError):
            decoded = b""
        parsed = parse_json(decoded) if decoded else None
        if parsed is None or isinstance(parsed, UnrecognisedEvent):
            return rejected(
                None,
                "InvalidEvent",
                f"{_about(event_id)}data_base64 must be base64 of JSON text, such as "
                '{"InstanceId": "..."}',
            )
        return parsed
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


def _repeated(repeated: tuple[str, ...], where: str, event_id: str | None = None) -> DeletionResult:
    names = ", ".join(repr(key[:64]) for key in repeated[:3])
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
