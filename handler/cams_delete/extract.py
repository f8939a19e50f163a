"""Find the InstanceId each recognised event asks to delete."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cams_delete.flags import Unread, dry_run_flags, find_unread, may_be_instance_id_name
from cams_delete.logs import shown
from cams_delete.results import DeletionResult, rejected
from cams_delete.sources import (
    EXPECTED_SHAPES,
    MESSAGE_BODY_FIELDS,
    CloudEvent,
    DirectRequest,
    EventBatch,
    RepeatedKeys,
    TimerEvent,
    UnrecognisedEvent,
    json_or_text,
    parse_json,
    recognise_object,
)
from cams_delete.validation import json_kind

_CLOUD_EVENT_DATA = ("data", "data_base64")


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
    raw = event.raw
    if type(raw) is dict and len(raw) == 1 and "InstanceId" in raw:
        # The usual request, {"InstanceId": ...} alone: no flag, no second instance, no
        # repeated key (that would be a RepeatedKeys), so nothing else to read.
        return Candidate(raw["InstanceId"])
    return request_in(raw, "")


def from_cloud_event(event: CloudEvent) -> Extracted:
    extracted = _from_cloud_event(event)
    if isinstance(extracted, DeletionResult) and event.id is not None:
        # A refused event is found in the log by its id, as an accepted one is.
        return replace(extracted, event_id=event.id)
    return extracted


def _from_cloud_event(event: CloudEvent) -> Extracted:
    if isinstance(event.raw, RepeatedKeys):
        named = _named_inside(event.raw, "data")
        return _repeated(event.raw.repeated, "The CloudEvent", event.id, named)
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
    unread = find_unread(event.raw, "", skip=_CLOUD_EVENT_DATA)
    if unread is not None:
        return unread_refusal(unread, event.id)
    # A dryrun extension attribute on the envelope counts too.
    return request_in(data, "data.", event.id, dry_run_flags(event.raw), look_inside=True)


def from_timer(event: TimerEvent) -> Extracted:
    if isinstance(event.raw, RepeatedKeys):
        named = _named_inside(event.raw, "payload")
        return _repeated(event.raw.repeated, "The timer event", instance_id=named)
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
    unread = find_unread(event.raw, "", skip=("payload",))
    if unread is not None:
        return unread_refusal(unread)
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
    anywhere else in the object, where nothing would read it (see flags.find_unread)."""
    if isinstance(container, RepeatedKeys):
        where = prefix.rstrip(".") or "The request"
        return _repeated(container.repeated, where, event_id, _named_once(container))
    flags = outer_flags + dry_run_flags(container)
    if "InstanceId" not in container:
        fields = [field for field in MESSAGE_BODY_FIELDS if field in container]
        if not look_inside or not fields:
            return _missing(container, prefix, event_id)
        if len(fields) > 1:
            return rejected(
                None,
                "InvalidEvent",
                f"{_about(event_id)}{prefix.rstrip('.') or 'The record'} has "
                f"{' and '.join(fields)}, and which one is the message is unknown: send one",
            )
        [field] = fields
        message = json_or_text(container[field])
        message_prefix = f"{prefix}{field}."
        unread = find_unread(container, prefix, skip=(field,))
        if unread is not None:
            return unread_refusal(unread, event_id)
        if not isinstance(message, Mapping):
            return rejected(
                None,
                "InvalidEvent",
                f"{_about(event_id)}{message_prefix.rstrip('.')} must be a JSON object with "
                f"InstanceId; got {json_kind(message)}",
            )
        return request_in(message, message_prefix, event_id, flags, look_inside=False)
    value = container["InstanceId"]
    unread = find_unread(container, prefix, skip=("InstanceId",), request=True, instance_id=value)
    if unread is not None:
        # The refused request's InstanceId goes with it: its line says which was not deleted.
        return unread_refusal(unread, event_id, value)
    if not all(isinstance(flag, bool) for flag in flags):
        return rejected(
            value,
            "InvalidParameter.DryRun",
            f"{_about(event_id)}a DryRun flag on the way to {prefix}InstanceId is not the "
            "JSON boolean true or false (or, in a query string, 'true' or 'false')",
        )
    return Candidate(value, event_id, dry_run=any(flags))


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
        parsed = parse_json(decoded)  # b"" too: reported as empty
        if isinstance(parsed, UnrecognisedEvent):
            return rejected(
                None,
                "InvalidEvent",
                f"{_about(event_id)}data_base64 must be base64 of JSON text, such as "
                '{"InstanceId": "..."}',
            )
        return parsed
    data = raw.get("data")
    return json_or_text(data)


# What to send instead of a field that may ask for a dry run under a name nothing reads.
_DRY_RUN_OR_NONE = 'send "DryRun": true beside the InstanceId for a dry run, or leave the field out'


def unread_refusal(
    unread: Unread, event_id: str | None = None, instance_id: object = None
) -> DeletionResult:
    if unread.kind == "repeated":
        return _repeated(unread.repeated, unread.location, event_id, instance_id)
    if unread.kind == "instance":
        return rejected(
            instance_id,
            "InvalidParameter.InstanceId",
            f"{_about(event_id)}{unread.location} names an instance too, and which one to "
            "delete is unknown, so nothing was done: send one InstanceId per request (a JSON "
            "array of requests deletes several)",
        )
    if unread.kind == "misnamed":
        problem = (
            f"{unread.location} reads like a dry-run flag, but the function reads one only "
            "as DryRun (any case, with _ - . or spaces), so it would be ignored"
        )
        fix = "name it DryRun"
    elif unread.kind == "synonym":
        problem = (
            f"{unread.location} may ask for a dry run, but the function reads one only as "
            "DryRun, so it would be ignored"
        )
        fix = _DRY_RUN_OR_NONE
    elif unread.kind == "switch":
        problem = (
            f"{unread.location} says yes or no, but the function reads no such field (only "
            "InstanceId and DryRun), and it may say not to delete (a misspelt DryRun, or "
            '"delete": false), so it would be ignored'
        )
        fix = _DRY_RUN_OR_NONE
    elif unread.kind == "pair":
        problem = (
            f"{unread.location} and its value name a dry-run flag as a name/value pair, "
            "which the function does not read as a flag, so it would be ignored"
        )
        fix = 'send "DryRun": true beside the InstanceId'
    elif unread.kind == "text":
        problem = (
            f"{unread.location} mentions a dry run but is not a JSON object the function can read"
        )
        fix = "send it as a JSON object"
    else:
        problem = (
            f"the dry-run flag at {unread.location} is not where one counts (beside the "
            "InstanceId, or on an object enclosing it), so it would be ignored"
        )
        fix = "move it beside the InstanceId"
    return rejected(
        instance_id,
        "InvalidParameter.DryRun",
        f"{_about(event_id)}{problem}; nothing was done: {fix}",
    )


def _repeated(
    repeated: tuple[str, ...], where: str, event_id: str | None = None, instance_id: object = None
) -> DeletionResult:
    names = ", ".join(repr(shown(key, 64)) for key in repeated[:3])
    return rejected(
        instance_id,
        "InvalidParameter.RepeatedKey",
        f"{_about(event_id)}{where} names {names} more than once; JSON parsers disagree on "
        "which value counts, so nothing was done: send each key once",
    )


def _named_once(container: object) -> object:
    """The InstanceId an object refused whole names, for its result and line (a search of
    the log by instance finds the refusal); None when it names none, or names it twice."""
    if not isinstance(container, Mapping):
        return None
    if isinstance(container, RepeatedKeys) and "InstanceId" in container.repeated:
        return None
    return container.get("InstanceId")


def _named_inside(envelope: RepeatedKeys, field: str) -> object:
    """_named_once for the request an envelope refused whole carries in `field`."""
    if field in envelope.repeated:
        return None
    return _named_once(json_or_text(envelope.get(field)))


def _missing(
    container: Mapping[str, Any], prefix: str, event_id: str | None = None
) -> DeletionResult:
    near_miss = next((key for key in container if may_be_instance_id_name(key)), None)
    hint = ""
    if near_miss is not None:
        # Its value too, when text: an event's refusal is read in the log, where it says
        # which instance was not deleted.
        value = container[near_miss]
        named = f" ({shown(value, 64)!r})" if isinstance(value, str) else ""
        hint = (
            f"; found {shown(str(near_miss), 64)!r}{named}, but the field name is "
            "case-sensitive and exactly InstanceId"
        )
    return rejected(
        None,
        "MissingParameter.InstanceId",
        f"{_about(event_id)}{prefix}InstanceId is required{hint}. Send {EXPECTED_SHAPES}",
    )
