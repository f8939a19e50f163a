"""Recognise which trigger sent the event, by its structure, and wrap it in a small typed view.

One view per shape, like the event data classes of AWS Lambda Powertools: each reads
only the fields it needs and never trusts their types.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cams_delete.logs import shown
from cams_delete.results import MAX_ID_SHOWN
from cams_delete.validation import json_kind


@dataclass(frozen=True)
class HttpTriggerEvent:
    """FC 3.0 HTTP trigger: {version, rawPath, headers, queryParameters, body, isBase64Encoded,
    requestContext.http.method}."""

    raw: Mapping[str, Any]

    @property
    def method(self) -> str:
        return str(self.raw["requestContext"]["http"]["method"]).upper()

    @property
    def raw_path(self) -> str:
        path = self.raw.get("rawPath")
        return path if isinstance(path, str) else "/"

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """Header names lower-cased; FC joins repeated headers with commas. Built once: the
        token, envelope and dry-run checks and the async test each read them."""
        headers = self.raw.get("headers")
        if not isinstance(headers, Mapping):
            return {}
        return {str(name).lower(): str(value) for name, value in headers.items()}

    @property
    def is_async(self) -> bool:
        """Invoked with `X-Fc-Invocation-Type: Async`: FC answers the caller 202 at once,
        and only a function error sends the request to its async retry and destination."""
        # FC joins a repeated header with commas.
        kinds = self.headers.get("x-fc-invocation-type", "").lower().split(",")
        return any(kind.strip() == "async" for kind in kinds)

    @property
    def query(self) -> dict[str, str]:
        query = self.raw.get("queryParameters")
        if not isinstance(query, Mapping):
            return {}
        return {str(name): str(value) for name, value in query.items()}

    @property
    def body(self) -> str:
        body = self.raw.get("body")
        return body if isinstance(body, str) else ""

    @property
    def is_base64_encoded(self) -> bool:
        return self.raw.get("isBase64Encoded") is True


@dataclass(frozen=True)
class CloudEvent:
    """One EventBridge event (CloudEvents 1.0 with Alibaba's aliyun* extensions)."""

    raw: Mapping[str, Any]

    @property
    def id(self) -> str | None:
        """The event's id, as messages and log lines show it: the first 128 characters (an
        id is a UUID or so; a megabyte of one must not become a megabyte of log)."""
        value = self.raw.get("id")
        if not isinstance(value, str):
            return None
        return shown(value, MAX_ID_SHOWN, "…")


@dataclass(frozen=True)
class DirectRequest:
    """A plain object: `s invoke`, or the RawData event schema (a timer's payload is read
    from its TimerEvent)."""

    raw: Mapping[str, Any]


@dataclass(frozen=True)
class TimerEvent:
    """FC timer trigger: {triggerTime, triggerName, payload}; the payload is a string."""

    raw: Mapping[str, Any]

    @property
    def payload(self) -> object:
        return self.raw.get("payload")


@dataclass(frozen=True)
class EventBatch:
    """Event-streaming delivery: a JSON array of CloudEvents, JSON strings or plain objects."""

    elements: list[Any]


@dataclass(frozen=True)
class UnrecognisedEvent:
    code: str
    message: str


RecognisedEvent = (
    HttpTriggerEvent | CloudEvent | DirectRequest | TimerEvent | EventBatch | UnrecognisedEvent
)

EXPECTED_SHAPES = (
    'a JSON object ({"InstanceId": "..."}, an EventBridge CloudEvent or an FC HTTP trigger '
    "event) or a JSON array of them"
)


# Where event-streaming sources put the message itself, in a CloudEvent's data or, with
# the RawData schema, in each batch element: Kafka `value`, MNS `messageBody`, RocketMQ
# and RabbitMQ `body`.
MESSAGE_BODY_FIELDS = ("value", "messageBody", "body")


def recognise(event: bytes | bytearray | str) -> RecognisedEvent:
    """Parse the event FC delivered (bytes, unparsed) and tell which shape it has."""
    parsed = parse_json(event)
    if isinstance(parsed, UnrecognisedEvent):
        return parsed
    if isinstance(parsed, list):
        return EventBatch(parsed)
    # Parsed JSON: its objects are dicts (RepeatedKeys is one), and a dict check is a
    # fraction of the Mapping ABC's.
    if isinstance(parsed, dict):
        return recognise_object(parsed)
    return UnrecognisedEvent(
        "InvalidEvent", f"The event must be {EXPECTED_SHAPES}; got {json_kind(parsed)}"
    )


def recognise_object(
    event: Mapping[str, Any],
) -> HttpTriggerEvent | CloudEvent | TimerEvent | DirectRequest:
    if _is_http_trigger(event):
        return HttpTriggerEvent(event)
    if "specversion" in event:
        return CloudEvent(event)
    if "triggerTime" in event and "triggerName" in event and "payload" in event:
        return TimerEvent(event)
    return DirectRequest(event)


class RepeatedKeys(dict[str, Any]):
    """A JSON object that names a key more than once.

    json.loads keeps the last value without a word, other parsers the first: which one the
    sender meant is unknown, so an object the function reads for an InstanceId or a dry-run
    flag is refused when it is one of these (`{"DryRun": true, "DryRun": false}` must not
    delete). It still reads like json.loads' dict, last value winning."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        seen: set[str] = set()
        repeated: dict[str, None] = {}
        for key, _ in pairs:
            if key in seen:
                repeated[key] = None
            seen.add(key)
        self.repeated = tuple(repeated)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    parsed = dict(pairs)
    return parsed if len(parsed) == len(pairs) else RepeatedKeys(pairs)


# Built once: json.loads with a hook would build a decoder for every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_json_object)
_BYTE_ORDER_MARK = "\ufeff"


def parse_json(
    data: bytes | bytearray | str, what: str = "The event", expected: str = EXPECTED_SHAPES
) -> Any | UnrecognisedEvent:
    """json.loads that reports, instead of raising, what is wrong with the bytes, and marks
    objects that repeat a key (see RepeatedKeys). `what` names the bytes in messages, and
    `expected` says what to send instead."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return UnrecognisedEvent("InvalidEvent", f"{what} is not UTF-8 text")
    if not data or data.isspace():  # what strip() would empty, without copying the text
        return UnrecognisedEvent("InvalidEvent", f"{what} is empty; send {expected}")
    if data.startswith(_BYTE_ORDER_MARK):
        return UnrecognisedEvent(
            "InvalidEvent", f"{what} starts with a byte order mark; send JSON without one"
        )
    try:
        return _DECODER.decode(data)
    except json.JSONDecodeError as error:
        return UnrecognisedEvent(
            "InvalidEvent",
            f"{what} is not valid JSON ({error.msg} at line {error.lineno} column "
            f"{error.colno}); send {expected}",
        )
    except (ValueError, RecursionError):
        return UnrecognisedEvent("InvalidEvent", f"{what} is JSON too deeply nested or too large")


def json_or_text(data: object) -> object:
    """Text parsed when it is JSON; anything else as it is."""
    if not isinstance(data, str):
        return data
    parsed = parse_json(data)
    return data if isinstance(parsed, UnrecognisedEvent) else parsed


def _is_http_trigger(event: Mapping[str, Any]) -> bool:
    # Events and batch elements are parsed JSON, whose objects are dicts.
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return False
    http = context.get("http")
    return isinstance(http, dict) and isinstance(http.get("method"), str) and "rawPath" in event
