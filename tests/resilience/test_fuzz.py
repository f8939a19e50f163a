"""Fuzzing every event shape against the real handler and the emulator (no faults).

Properties, for every generated event:
- the handler returns (nothing raises: without faults no outcome is retryable);
- HTTP answers are never 500 and their bodies, like every event result, match the schema;
- CAMS receives only InstanceIds that pass the function's rule (1-64 characters of
  [A-Za-z0-9._-]); and exactly the valid ones the event carries do reach it, once each.

The expected InstanceIds come from a model of where each shape keeps its InstanceId
(`carried_by_*`), written from the documented shapes rather than from the function's code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import string
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import settings
from hypothesis import strategies as st

from cams_delete import flags
from cams_emulator import CamsEmulator
from cams_local.fc import FunctionMeta, Python310Context
from tests.conftest import ROLE, Invocation, assert_valid_result, load_event
from tests.resilience.conftest import (
    CI_MINIMUM_TOTAL,
    FUZZ_WEIGHTS,
    assert_reached,
    call_handler,
    fuzz_examples,
    run_property,
)

pytestmark = pytest.mark.slow

# -- the InstanceId rule and the instances that exist ------------------------------------------

ALLOWED_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._-")
# Mixed case, as an operator may write it: the function compares without regard to case.
PROTECTED = "Cams-Protected-1"
POOL = (
    "cams-7f3a9c01",
    "9383883",
    "i-1",
    "a" * 64,
    ".",
    "-",
    "_",
    "A.b-C_9",
    PROTECTED,
    PROTECTED.upper(),
    PROTECTED.lower(),
)
MISSING = object()
# What serializers, examples and templates write for a missing value, read without case,
# "-", "_" or ".": refused as an InstanceId.
PLACEHOLDER_WORDS = frozenset(
    {"null", "none", "nil", "undefined", "nan", "true", "false"}
    | {"string", "instanceid", "yourinstanceid", "myinstanceid", "replaceme", "changeme"}
    | {"placeholder", "example", "todo", "tbd"}
)


def is_placeholder(value: str) -> bool:
    letters = "".join(char for char in value.lower() if char not in "-_.")
    return letters in PLACEHOLDER_WORDS or (len(letters) >= 3 and set(letters) == {"x"})


MAX_BODY_BYTES = 64 * 1024
TOKEN = "fuzz-bearer-token-0123456789abcdef"
TOKEN_SHA256 = hashlib.sha256(TOKEN.encode()).hexdigest()
BATCH_LIMIT = 6


def is_valid_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and 1 <= len(value) <= 64
        and all(char in ALLOWED_CHARACTERS for char in value)
        and any(char.isascii() and char.isalnum() for char in value)
        and not is_placeholder(value)
    )


# -- strategies: values ----------------------------------------------------------------------

# Every unicode category but Cs: lone surrogates have their own property
# (test_lone_surrogates_are_rejected_like_any_other_bad_character).
ANY_CHARACTER = st.characters(exclude_categories=["Cs"])
any_text = st.text(ANY_CHARACTER, max_size=80)
VALID_ALPHABET = "".join(sorted(ALLOWED_CHARACTERS))

valid_ids = st.one_of(
    st.sampled_from(POOL),
    st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True).filter(is_valid_id),
)


def _with_stars(base: str, position: int, count: int) -> str:
    cut = position % (len(base) + 1)
    return base[:cut] + "*" * count + base[cut:]


def _with_character(base: str, position: int, char: str) -> str:
    cut = position % len(base)
    return base[:cut] + char + base[cut + 1 :]


TRICKY_IDS = (
    "",
    " ",
    "cams 1",
    " cams-1",
    "cams-1 ",
    "cams\n1",
    "cams-1\n",
    "cams\x001",
    "cams\t1",
    "null",
    "None",
    "undefined",
    "NaN",
    "FALSE",
    "../etc",
    "..",
    "-",
    "._-",
    "a/b",
    "a\\b",
    "%41",
    "a%2Fb",
    "a+b",
    "a?b",
    "a#b",
    "a;b",
    "a,b",
    "a=b",
    "cams-é",
    "\uff11\uff12\uff13",  # fullwidth digits: isdigit() but not ASCII
    "\uff21\uff22\uff23",  # fullwidth letters
    "\u212a",  # Kelvin sign, folds to K
    "\u0131",  # dotless i
    "İ",
    "ß",
    "Ⅻ",
    "a\u200b",
    "\ufeffa",
    "a\u0301",
    "2399393****",
    "cams-kei****",
    "*",
    "**",
    "null",
    "None",
    "a" * 65,
    "a" * 1000,
)

invalid_id_strings = st.one_of(
    st.sampled_from(TRICKY_IDS),
    st.text(st.sampled_from(VALID_ALPHABET), min_size=62, max_size=67),  # around 64
    st.builds(_with_stars, valid_ids, st.integers(0, 64), st.integers(1, 4)),  # masked
    st.builds(_with_character, valid_ids, st.integers(0, 63), ANY_CHARACTER),
    any_text,
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),  # NaN and the infinities too: json.dumps writes them, json.loads reads them
    # Never a word for a dry run ("dry-run", "simulate"), which the function refuses as a
    # request's field value: its own predicate, pinned by tests/function/test_bad_input.py.
    any_text.filter(lambda text: not flags.is_dry_run_word(text)),
)


def is_dry_run_name(key: str) -> bool:
    """DryRun, dry_run, Dry-Run, X-Dry-Run, full-width letters...: the spellings a dry-run
    flag is read in (dashes, "_", "." and spaces of any kind, and zero-width characters,
    set aside)."""
    if len(key) > 1_000:  # generated keys are short; a flag's name never is this long
        return False
    letters = unicodedata.normalize("NFKC", key).casefold()
    kept = "".join(
        ch
        for ch in letters
        if ch != "." and not ch.isspace() and unicodedata.category(ch) not in ("Pd", "Pc", "Cf")
    )
    return kept in ("dryrun", "xdryrun")


def is_instance_id_name(key: object) -> bool:
    """InstanceId as is_dry_run_name reads DryRun: instanceId, instance_id, INSTANCE-ID..."""
    if not isinstance(key, str) or len(key) > 1_000:
        return False
    letters = unicodedata.normalize("NFKC", key).casefold()
    kept = "".join(
        ch
        for ch in letters
        if ch not in "._" and not ch.isspace() and unicodedata.category(ch) not in ("Pd", "Cf")
    )
    return kept == "instanceid"


# Generated objects never carry a dry-run flag: these models say which InstanceId reaches
# CAMS, and a flag anywhere stops it (the dry-run property below checks that on its own).
# Nor a dry run misnamed (isDryRun), nor another InstanceId but the near misses below.
# Nor either under lookalike letters ("\u00f0\u00f0\u00f0run"): those rules are the
# function's own, pinned by tests/function/test_bad_input.py, so its predicates filter here.
object_keys = any_text.filter(
    lambda key: (
        not is_dry_run_name(key)
        and "dryrun"
        not in "".join(filter(str.isalnum, unicodedata.normalize("NFKC", key).casefold()))
        and not is_instance_id_name(key)
        and not flags.mentions_dry_run(key)
        and not flags.is_dry_run_synonym(key)
        and not flags.is_go_ahead_name(key)
        and not flags.names_instance_ids(key)
        and not flags.names_other_instances(key)
        and not flags.may_be_instance_id_name(key)
    )
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(object_keys, children, max_size=4)
    ),
    max_leaves=8,
)
instance_id_values = st.one_of(valid_ids, invalid_id_strings, json_values)

# Keys that would turn a plain object into another shape (CloudEvent, HTTP, timer).
SHAPE_KEYS = frozenset(
    {"InstanceId", "specversion", "rawPath", "requestContext", "triggerTime", "triggerName"}
)
NEAR_MISS_KEYS = ("instanceId", "instanceid", "INSTANCEID", "InstanceID", "instance_id", "Id")
extra_fields = st.dictionaries(
    st.one_of(st.sampled_from(NEAR_MISS_KEYS), object_keys).filter(lambda k: k not in SHAPE_KEYS),
    json_values,
    max_size=3,
)


# -- the model: which InstanceId an event carries ------------------------------------------------


def loads_or_missing(data: str | bytes) -> object:
    """JSON text (UTF-8 when bytes) parsed, or MISSING when it is not JSON."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text)
    except (ValueError, RecursionError):
        return MISSING


# An event refused for what lies beside its InstanceId: one that names an instance twice
# (InstanceId and instanceId, or instance_id on the object that holds its message), since
# which one was meant is unknown, or whose request holds a switch (below).
REFUSED = object()


def names_another_instance(container: object) -> bool:
    """Beside its InstanceId, or in its other fields at any depth (message fields parsed)."""
    if not isinstance(container, Mapping):
        return False
    return any(
        is_instance_id_name(key) or names_an_instance(as_read(key, value))
        for key, value in container.items()
        if key != "InstanceId"
    )


def as_read(key: object, value: object) -> object:
    if key in MESSAGE_BODY_FIELDS and isinstance(value, str):
        parsed = loads_or_missing(value)
        return value if parsed is MISSING else parsed
    return value


def names_an_instance(value: object) -> bool:
    if isinstance(value, Mapping):
        return any(is_instance_id_name(k) or names_an_instance(v) for k, v in value.items())
    if isinstance(value, list):
        return any(names_an_instance(item) for item in value)
    return False


# A field of the request's own that says yes or no, under a name nothing reads, may say not
# to delete ("delete": false): the request is refused.
SWITCH_WORDS = frozenset({"true", "false", "yes", "no", "y", "n", "on", "off"})


def holds_a_switch(container: Mapping[str, Any]) -> bool:
    return any(
        isinstance(value, bool)
        or (isinstance(value, str) and len(value) <= 64 and value.strip().lower() in SWITCH_WORDS)
        for key, value in container.items()
        if key != "InstanceId"
    )


def carried_by_object(container: object) -> object:
    if names_another_instance(container):
        return REFUSED
    if isinstance(container, Mapping) and holds_a_switch(container):
        return REFUSED
    return container.get("InstanceId", MISSING) if isinstance(container, Mapping) else MISSING


def carried_by_direct(event: Mapping[str, Any]) -> object:
    """A request sent to the function directly: its own InstanceId, nothing inside it."""
    return carried_by_object(event)


def carried_by_raw_element(event: Mapping[str, Any]) -> object:
    """A plain object in a batch: its own InstanceId or, without one, its message's (RawData
    elements of event-streaming sources are the message's record without the CloudEvent)."""
    if "InstanceId" in event or any(is_instance_id_name(key) for key in event):
        return carried_by_object(event)
    for field in MESSAGE_BODY_FIELDS:
        if field in event:
            body = event[field]
            return carried_by_object(loads_or_missing(body) if isinstance(body, str) else body)
    return MISSING


def carried_by_timer(event: Mapping[str, Any]) -> object:
    payload = event["payload"]
    return carried_by_object(loads_or_missing(payload) if isinstance(payload, str) else payload)


MESSAGE_BODY_FIELDS = ("value", "messageBody", "body")  # Kafka, MNS, RocketMQ/RabbitMQ


def carried_by_cloud_event(event: Mapping[str, Any]) -> object:
    """CloudEvents keep the request in `data` (an object, or JSON text), or base64 in
    `data_base64`; event-streaming sources wrap the message in value/messageBody/body."""
    if any(is_instance_id_name(key) for key in event):
        return REFUSED  # the envelope names an instance, besides data
    data: object
    if "data" not in event and isinstance(event.get("data_base64"), str):
        try:
            data = loads_or_missing(base64.b64decode(event["data_base64"], validate=True))
        except ValueError:
            return MISSING
    else:
        data = event.get("data", MISSING)
        if isinstance(data, str):
            data = loads_or_missing(data)
    if isinstance(data, Mapping) and "InstanceId" not in data:
        if any(is_instance_id_name(key) for key in data):
            return REFUSED
        for field in MESSAGE_BODY_FIELDS:
            if field in data:
                body = data[field]
                data = loads_or_missing(body) if isinstance(body, str) else body
                break
    return carried_by_object(data)


def is_http_trigger(event: Mapping[str, Any]) -> bool:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, Mapping) else None
    return isinstance(http, Mapping) and isinstance(http.get("method"), str) and "rawPath" in event


def carried_by_batch_element(element: object) -> object:
    """Batch elements are CloudEvents or plain objects, possibly as JSON strings."""
    if isinstance(element, str):
        element = loads_or_missing(element)
    if not isinstance(element, Mapping) or is_http_trigger(element):
        return MISSING
    if "specversion" in element:
        return carried_by_cloud_event(element)
    if all(key in element for key in ("triggerTime", "triggerName", "payload")):
        return MISSING
    return carried_by_raw_element(element)


def should_reach_cams(carried: object) -> bool:
    return is_valid_id(carried) and not is_protected(carried)


def is_protected(carried: object) -> bool:
    return isinstance(carried, str) and carried.casefold() == PROTECTED.casefold()


# -- checking one call ---------------------------------------------------------------------------


def context() -> Python310Context:
    return Python310Context(credentials=ROLE, function=FunctionMeta(timeout=30))


def deleted_ids(emu: CamsEmulator) -> list[str | None]:
    """InstanceIds CAMS was asked to delete, after checking that each call was a proper one."""
    calls = emu.calls()
    for call in calls:
        assert call.signature_valid, call
        assert call.access_key_id == ROLE.access_key_id
        assert is_valid_id(call.instance_id), f"CAMS received {call.instance_id!r}"
    return [call.instance_id for call in calls]


def invoke(emu: CamsEmulator, event: Any, *, secrets: tuple[str, ...] = ()) -> Invocation:
    emu.reset(POOL)
    data = event if isinstance(event, bytes) else json.dumps(event).encode()
    run = call_handler(data, context(), secrets)
    assert run.error is None, f"raised {run.error!r} for {data[:300]!r}"
    assert run.result is not None
    assert run.lines("invocation"), "every invocation logs its summary line"
    return run


def expected_outcome(instance_id: str) -> str:
    return "deleted" if instance_id in POOL else "already_deleted"


def check_single_result(document: Mapping[str, Any], carried: object) -> None:
    assert_valid_result(document)
    if should_reach_cams(carried):
        assert isinstance(carried, str)
        assert document["Outcome"] == expected_outcome(carried)
        assert document["InstanceId"] == carried
    elif is_protected(carried):
        assert document["Code"] == "Forbidden.ProtectedInstance"
    else:
        assert document["Outcome"] == "rejected"
        assert document["Code"].startswith(("InvalidParameter", "MissingParameter", "Invalid"))


def check_http_response(result: Mapping[str, Any]) -> dict[str, Any]:
    """What every HTTP answer looks like, whatever the request."""
    assert set(result) == {"statusCode", "headers", "isBase64Encoded", "body"}
    assert isinstance(result["statusCode"], int)
    assert result["statusCode"] != 500, result["body"]
    assert result["isBase64Encoded"] is False
    assert result["headers"]["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(result["body"])
    assert_valid_result(body)
    assert body["Success"] is (result["statusCode"] == 200)
    return body


# -- direct and timer events ---------------------------------------------------------------------


@st.composite
def direct_events(draw: st.DrawFn) -> dict[str, Any]:
    # A quarter are the plain request for a valid InstanceId: the branches where CAMS is
    # called must not depend on every other draw (extra fields, envelopes) going their way.
    if draw(st.integers(0, 3)) == 0:
        return {"InstanceId": draw(valid_ids)}
    event = draw(extra_fields)
    if draw(st.integers(0, 9)):  # mostly with an InstanceId
        event["InstanceId"] = draw(instance_id_values)
    return event


@st.composite
def timer_events(draw: st.DrawFn) -> dict[str, Any]:
    request = draw(direct_events())
    payload = draw(
        st.one_of(
            st.just(json.dumps(request)),
            st.just(request),
            any_text,
            json_values,
        )
    )
    return {"triggerTime": "2026-11-27T09:00:00Z", "triggerName": "nightly", "payload": payload}


@dataclass(frozen=True)
class EventCase:
    event: Any
    carried: Callable[[Any], object]


@st.composite
def raw_data_messages(draw: st.DrawFn) -> dict[str, Any]:
    """An event-streaming message delivered with the RawData schema: Kafka's record, MNS's
    or RocketMQ's message, the request in its value, messageBody or body, as text or not."""
    request = draw(direct_events())
    wrapper = draw(st.sampled_from(MESSAGE_BODY_FIELDS))
    message = draw(st.sampled_from([json.dumps(request), request]))
    return {"topic": "cams-retire", "partition": 0, "offset": 7, wrapper: message}


direct_cases = st.one_of(
    direct_events().map(lambda event: EventCase(event, carried_by_direct)),
    raw_data_messages().map(lambda event: EventCase(event, carried_by_direct)),
    timer_events().map(lambda event: EventCase(event, carried_by_timer)),
)


def test_direct_and_timer_events(cams: CamsEmulator, monkeypatch: pytest.MonkeyPatch):
    """GIVEN plain objects and timer payloads whose InstanceId is any JSON value, text of
    every category, around 64 characters, masked with '*', or valid
    WHEN each is invoked
    THEN nothing raises, the result matches the schema, and CAMS is called exactly for a
    valid, unprotected InstanceId."""
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", PROTECTED)

    def check(case: EventCase) -> str:
        run = invoke(cams, case.event)
        carried = case.carried(case.event)
        assert run.result is not None
        check_single_result(run.result, carried)
        assert deleted_ids(cams) == ([carried] if should_reach_cams(carried) else [])
        return str(run.result["Outcome"])

    fuzz = run_property("direct", direct_cases, check)
    assert fuzz.examples >= fuzz_examples("direct")
    assert_reached(fuzz, ["deleted", "already_deleted", "rejected"])


# -- CloudEvents ---------------------------------------------------------------------------------

ENVELOPE = load_event("eventbridge-cloudevent.json")
ENVELOPE_FIELDS = tuple(key for key in ENVELOPE if key != "data")


@st.composite
def cloud_event_data(draw: st.DrawFn) -> tuple[str, object]:
    """(field, value): `data` (object, JSON text, garbage, nested body) or `data_base64`."""
    request = draw(direct_events())
    as_text = json.dumps(request)
    wrapper = draw(st.sampled_from(MESSAGE_BODY_FIELDS))
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return "data", request
    if choice == 1:
        return "data", as_text
    if choice == 2:
        return "data_base64", base64.b64encode(as_text.encode()).decode()
    if choice == 3:
        broken = draw(st.sampled_from(["!", "=", "a", "===="]))
        return "data_base64", base64.b64encode(as_text.encode()).decode() + broken
    if choice == 4:  # Kafka/MNS/RocketMQ: the message as JSON text in a body field
        return "data", {**draw(extra_fields), wrapper: as_text}
    if choice == 5:
        return "data", {**draw(extra_fields), wrapper: request}
    if choice == 6:  # both: refused if the body names an instance too
        return "data", {"InstanceId": draw(instance_id_values), wrapper: as_text}
    if choice == 7:
        return "data", draw(st.one_of(any_text, json_values))
    if choice == 8:
        return "data_base64", draw(st.one_of(any_text, json_values))
    return "none", None


@st.composite
def cloud_events(draw: st.DrawFn) -> dict[str, Any]:
    event = dict(ENVELOPE)
    event.pop("data")
    # Mutate a few envelope fields (ids, sources, types of any JSON type); how many is drawn
    # first, so that a quarter of the envelopes stay whole.
    mutated = draw(st.integers(0, 3))
    names = st.lists(
        st.sampled_from(ENVELOPE_FIELDS), min_size=mutated, max_size=mutated, unique=True
    )
    for name in draw(names):
        event[name] = draw(json_values)
    if draw(st.booleans()):
        del event["datacontenttype"]
    if draw(st.integers(0, 9)) == 0:  # an InstanceId outside data too: refused
        event["InstanceId"] = draw(valid_ids)
    field, value = draw(cloud_event_data())
    if field != "none":
        event[field] = value
    return event


def test_cloud_events(cams: CamsEmulator, monkeypatch: pytest.MonkeyPatch):
    """GIVEN EventBridge CloudEvents with real envelope fields (some mutated) and data that
    is an object, JSON text, base64 (valid or not), a Kafka/MNS/RocketMQ body field, garbage
    or missing
    WHEN each is invoked
    THEN nothing raises, the result matches the schema, and CAMS is called exactly for the
    valid InstanceId inside data, if any."""
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", PROTECTED)

    def check(event: dict[str, Any]) -> str:
        run = invoke(cams, event)
        carried = carried_by_cloud_event(event)
        assert run.result is not None
        check_single_result(run.result, carried)
        assert deleted_ids(cams) == ([carried] if should_reach_cams(carried) else [])
        return str(run.result["Outcome"])

    fuzz = run_property("cloud_event", cloud_events(), check)
    assert fuzz.examples >= fuzz_examples("cloud_event")
    assert_reached(fuzz, ["deleted", "already_deleted", "rejected"])


# -- batches -------------------------------------------------------------------------------------


batch_elements = st.one_of(
    direct_events(),
    raw_data_messages(),
    st.builds(lambda instance_id: {"InstanceId": instance_id}, valid_ids),
    st.builds(lambda instance_id: json.dumps({"InstanceId": instance_id}), valid_ids),
    cloud_events(),
    direct_events().map(json.dumps),
    cloud_events().map(json.dumps),
    timer_events(),
    st.just(load_event("http-delete.json")),
    json_values,
    any_text,
)


@st.composite
def batches(draw: st.DrawFn) -> list[Any]:
    # The size drawn first, evenly: short lists would rarely hold several valid requests.
    size = draw(st.integers(0, BATCH_LIMIT + 1))
    elements: list[Any] = draw(st.lists(batch_elements, min_size=size, max_size=size))
    duplicates = draw(st.integers(0, 3)) if elements else 0
    for _ in range(duplicates):  # as at-least-once delivery makes them
        elements.insert(
            draw(st.integers(0, len(elements))),
            elements[draw(st.integers(0, len(elements) - 1))],
        )
    return elements


def test_batches(cams: CamsEmulator, monkeypatch: pytest.MonkeyPatch):
    """GIVEN event-streaming batches mixing objects, CloudEvents, JSON strings, garbage and
    duplicates, up to and above MAX_BATCH_SIZE
    WHEN each is invoked
    THEN nothing raises; a batch over the limit is refused whole with no call to CAMS;
    otherwise every item is reported in order and each distinct valid InstanceId reaches
    CAMS exactly once."""
    monkeypatch.setenv("MAX_BATCH_SIZE", str(BATCH_LIMIT))
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", PROTECTED)

    def check(batch: list[Any]) -> str:
        run = invoke(cams, batch)
        document = run.result
        assert document is not None
        assert_valid_result(document)
        assert document["Total"] == len(batch)
        if len(batch) > BATCH_LIMIT:
            assert document["Code"] == "InvalidParameter.BatchSize"
            assert document["Results"] == []
            assert "MAX_BATCH_SIZE" in document["Message"]
            assert deleted_ids(cams) == []
            return "refused"
        carried = [carried_by_batch_element(element) for element in batch]
        assert len(document["Results"]) == len(batch)
        assert sum(document["Counts"].values()) == len(batch)
        for value, item in zip(carried, document["Results"], strict=True):
            check_single_result(item, value)
        wanted = {str(value) for value in carried if should_reach_cams(value)}
        calls = [str(call) for call in deleted_ids(cams)]
        assert sorted(calls) == sorted(wanted)  # sorted, not set: each at most once
        assert document["Success"] is all(item["Success"] for item in document["Results"])
        return "several reach CAMS" if len(calls) > 1 else f"{len(calls)} reaches CAMS"

    fuzz = run_property("batch", batches(), check)
    assert fuzz.examples >= fuzz_examples("batch")
    assert_reached(fuzz, ["refused", "0 reaches CAMS", "1 reaches CAMS", "several reach CAMS"])


# -- HTTP trigger: requests built with known defects --------------------------------------------

STATUS_OF_DEFECT = {
    "route": 404,
    "method": 405,
    "size": 413,
    "base64": 400,
    "dry_run": 400,
    "query": 400,
    "media_type": 415,
    "json": 400,
    "instance_id": 400,
    "delete_body": 400,
    "unknown_field": 400,
}


@dataclass(frozen=True)
class HttpCase:
    event: dict[str, Any]
    token_required: bool
    env_dry_run: bool
    bad_token: bool
    defects: frozenset[str]
    allowed_method: str | None
    carried: object
    dry_run: bool

    def __repr__(self) -> str:  # a failing example stays readable with a 64 KiB body
        event = {**self.event, "body": f"<{len(self.event['body'])} chars>"}
        fields = {name: value for name, value in vars(self).items() if name != "event"}
        return f"HttpCase(event={event!r}, body={self.event['body'][:120]!r}, {fields!r})"


GOOD_AUTHORIZATION = (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer {TOKEN} ")
BAD_AUTHORIZATION = (
    "",
    "Bearer",
    "Bearer ",
    f"Basic {TOKEN}",
    TOKEN,
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}",
    f"Bearer {TOKEN.upper()}",
    f"Bearer\t{TOKEN}",
    f"Token {TOKEN}",
    "Bearer " + TOKEN_SHA256,  # the hash is not the token
)
JSON_MEDIA_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    " application/json ;charset=UTF-8",
    "application/cloudevents+json",
    "application/vnd.api+json",
)
OTHER_MEDIA_TYPES = (
    "",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "application/json-patch",
    "application/xml",
    "json",
    "*/*",
)
DRY_TRUE = ("true", "TRUE", "True", " true ", "1")
DRY_FALSE = ("false", "FALSE", "False", "0", " false")
DRY_BAD = ("", "yes", "no", "on", "2", "true,true", "tru", "null", "t", "dryRun")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT")


def _quote_all(text: str, template: str) -> str:
    return "".join(template % byte for byte in text.encode("utf-8"))


@st.composite
def id_segments(draw: st.DrawFn, sound: bool = False) -> str:
    """A raw (URL-encoded) path segment for an InstanceId, as a client might send it;
    `sound`: a valid InstanceId, correctly encoded."""
    value = draw(valid_ids if sound else st.one_of(valid_ids, invalid_id_strings))
    style = draw(st.integers(0, 4 if sound else 6))
    if style == 0:
        return quote(value, safe="")
    if style == 1:
        return _quote_all(value, "%%%02X")
    if style == 2:
        return _quote_all(value, "%%%02x")
    if style == 3:  # sent unencoded; '/' and '%' would change the meaning, so encode those
        return value.replace("%", "%25").replace("/", "%2F")
    if style == 4:  # encoded twice
        return quote(quote(value, safe=""), safe="")
    if style == 5:  # a broken escape
        return quote(value, safe="") + draw(st.sampled_from(["%", "%2", "%zz", "%G0"]))
    return draw(st.sampled_from(["%FF%FE", "%C3", "%ED%A0%80", "%00", "%2e%2e", "%2E"]))


path_words = st.one_of(
    st.sampled_from(["instances", "INSTANCES", "instance", "", "i-1", "..", "%2F"]),
    st.text(ANY_CHARACTER.filter(lambda char: char != "/"), max_size=12),
)


def route_of(raw_path: str) -> tuple[str | None, object]:
    """The documented routes, POST / and DELETE /instances/{InstanceId} (rawPath is
    URL-encoded): (the method the route takes, or None for no route; the InstanceId the
    path carries, decoded, or MISSING when it comes in the body)."""
    if raw_path in ("", "/"):
        return "POST", MISSING
    segments = raw_path.split("/")
    if len(segments) == 3 and segments[0] == "" and segments[1] == "instances":
        return "DELETE", unquote(segments[2])
    return None, MISSING


@st.composite
def raw_paths(draw: st.DrawFn, sound: bool = False) -> str:
    kind = draw(st.integers(0, 7 if sound else 11))
    if kind <= 4:
        return f"/instances/{draw(id_segments(sound))}"
    if kind <= 7:
        return draw(st.sampled_from(["/", ""]))
    words = draw(st.lists(path_words, min_size=1, max_size=4))
    return draw(st.sampled_from(["/", "", "//"])) + "/".join(words)


@st.composite
def post_bodies(
    draw: st.DrawFn, sound: bool = False, near_limit: bool = False
) -> tuple[bytes, object, bool]:
    """(body bytes, the InstanceId in it or MISSING, whether it is a JSON object);
    `sound`: a JSON object with a valid InstanceId and nothing else; `near_limit`: one a few
    bytes under or over 64 KiB."""
    kind = 5 if near_limit else draw(st.integers(0, 2 if sound else 9))
    if kind <= 2 and sound:
        instance_id = draw(valid_ids)
        return json.dumps({"InstanceId": instance_id}).encode(), instance_id, True
    if kind <= 4:
        request = draw(direct_events())
        if kind <= 2:
            request["InstanceId"] = draw(valid_ids)
        return json.dumps(request).encode(), request.get("InstanceId", MISSING), True
    if kind in (5, 6, 7):  # around the 64 KiB limit, in 1- to 4-byte characters
        instance_id = draw(valid_ids)
        filler = draw(st.sampled_from(["x", "é", "€", "😀", " "]))
        target = draw(st.integers(MAX_BODY_BYTES - 8, MAX_BODY_BYTES + 16))
        if filler == " ":  # whitespace between tokens: the body names only the InstanceId
            body = json.dumps({"InstanceId": instance_id}).encode()
        else:  # a padding field, which a body may not have
            head = json.dumps({"InstanceId": instance_id, "pad": ""}, ensure_ascii=False)[:-2]
            room = target - len(head.encode()) - 2
            pad = filler * (room // len(filler.encode()))
            body = (head + pad + '"}').encode()
        body += b" " * (target - len(body))  # whitespace after JSON is still JSON
        return body, instance_id, True
    if kind == 8:
        value = draw(st.one_of(st.lists(json_values, max_size=3), json_scalars))
        return json.dumps(value).encode(), MISSING, False
    return draw(st.sampled_from([b"", b"{", b"null"]) | any_text.map(str.encode)), MISSING, False


def body_defects(body: bytes, allowed_method: str | None) -> set[str]:
    """What the function refuses in a body beyond its size, type and InstanceId: any body
    on DELETE, and fields other than InstanceId and a dry run in a POST body that names an
    instance."""
    if allowed_method == "DELETE":
        return {"delete_body"} if body.strip() not in (b"", b"{}") else set()
    if allowed_method != "POST":
        return set()
    try:
        request = json.loads(body)
    except ValueError:
        return set()
    if not isinstance(request, dict) or "InstanceId" not in request:
        return set()
    others = [key for key in request if key != "InstanceId" and not is_dry_run_name(key)]
    return {"unknown_field"} if others else set()


@st.composite
def methods(draw: st.DrawFn, allowed: str | None, sound: bool) -> str:
    kind = draw(st.integers(0, 6 if sound else 9))
    if kind <= 6:  # mostly the route's own method, in any case
        expected = allowed or "DELETE"
        return draw(st.sampled_from([expected, expected.lower(), expected.title()]))
    if kind <= 8:
        return draw(st.sampled_from(METHODS))
    return draw(st.sampled_from(["", "DELETE ", "del", "M-SEARCH", "P0ST"]))


DRY_RUN_NAMES = ("dryRun", "dryrun", "DryRun", "DRYRUN")
UNKNOWN_QUERY_NAMES = ("verbose", "InstanceId", "dry_run", "dry-run", "force", "")


@st.composite
def dry_run_queries(draw: st.DrawFn, sound: bool) -> tuple[dict[str, str], bool, set[str]]:
    """(queryParameters, whether they ask for a dry run, their defects). dryRun is read in
    any case; any other parameter is refused (a misspelt dry run must never delete)."""
    query: dict[str, str] = {}
    defects: set[str] = set()
    if not sound and draw(st.integers(0, 4)) == 4:
        query[draw(st.sampled_from(UNKNOWN_QUERY_NAMES))] = "true"
        defects.add("query")
    name = draw(st.sampled_from(DRY_RUN_NAMES))
    kind = draw(st.integers(0, 2 if sound else 4))
    if kind == 1:
        return {**query, name: draw(st.sampled_from(DRY_TRUE))}, True, defects
    if kind == 2:
        return {**query, name: draw(st.sampled_from(DRY_FALSE))}, False, defects
    if kind == 3:
        malformed = st.one_of(
            st.sampled_from(DRY_BAD),
            any_text.filter(lambda t: t.strip().lower() not in {"true", "false", "1", "0"}),
        )
        return {**query, name: draw(malformed)}, False, defects | {"dry_run"}
    return query, False, defects


@st.composite
def authorizations(draw: st.DrawFn, sound: bool) -> tuple[dict[str, str], bool]:
    """(the Authorization header, if any, and whether it presents the token)."""
    kind = draw(st.integers(0, 3 if sound else 5))
    if kind == 4:
        return {}, False
    good = kind <= 3
    value = draw(st.sampled_from(GOOD_AUTHORIZATION if good else BAD_AUTHORIZATION))
    return {draw(st.sampled_from(["Authorization", "authorization"])): value}, good


@st.composite
def http_cases(draw: st.DrawFn) -> HttpCase:
    # A sound request draws only good choices: without it, few requests would have
    # no defect at all (each dimension has its own bad choices).
    sound = draw(st.integers(0, 9)) >= 6  # (hypothesis favours 0: rare choices sit higher)
    raw_path = draw(raw_paths(sound))
    allowed_method, carried = route_of(raw_path)
    method = draw(methods(allowed_method, sound))
    defects: set[str] = set()
    if allowed_method is None:
        defects.add("route")
    elif method.upper() != allowed_method:
        defects.add("method")

    headers: dict[str, str] = {"Accept": "*/*", "User-Agent": "fuzz/1.0"}
    body = b""
    near_limit = draw(st.integers(0, 9)) == 7
    if allowed_method == "POST" or near_limit or draw(st.integers(0, 3)) == 0:
        body, in_body, is_json_object = draw(post_bodies(sound, near_limit))
        if allowed_method == "POST":
            carried = in_body
            defects |= set() if is_json_object else {"json"}
    if allowed_method == "POST":
        # Also a wrong type on an otherwise sound request, so that 415 is not masked.
        json_type = draw(st.integers(0, 9)) != 8 and (
            sound or draw(st.integers(0, 4)) not in (2, 3)
        )
        media_type = draw(st.sampled_from(JSON_MEDIA_TYPES if json_type else OTHER_MEDIA_TYPES))
        if media_type or draw(st.booleans()):
            headers[draw(st.sampled_from(["Content-Type", "content-type", "CONTENT-TYPE"]))] = (
                media_type
            )
        defects |= set() if json_type else {"media_type"}
    defects |= body_defects(body, allowed_method)
    if len(body) > MAX_BODY_BYTES:
        defects.add("size")
    if allowed_method is not None and not is_valid_id(carried):
        defects.add("instance_id")

    encoded = draw(st.integers(0, 3)) == 0
    body_text = base64.b64encode(body).decode() if encoded else body.decode()
    if encoded and not sound and draw(st.integers(0, 3)) == 0:
        body_text += draw(st.sampled_from(["!", "*", " ", "-", "%"]))  # not base64
        defects.add("base64")

    query, dry_query, query_defects = draw(dry_run_queries(sound))
    defects |= query_defects
    authorization, good_token = draw(authorizations(sound))
    env_dry_run = draw(st.integers(0, 5)) == 3

    event = load_event("http-delete.json")
    event["rawPath"] = raw_path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = unquote(raw_path)
    event["headers"] = {**headers, **authorization}
    event["queryParameters"] = query
    event["body"] = body_text
    event["isBase64Encoded"] = encoded
    return HttpCase(
        event=event,
        token_required=draw(st.booleans()),
        env_dry_run=env_dry_run,
        bad_token=not good_token,
        defects=frozenset(defects),
        allowed_method=allowed_method,
        carried=carried,
        dry_run=dry_query or env_dry_run,
    )


def test_http_requests(cams: CamsEmulator, monkeypatch: pytest.MonkeyPatch):
    """GIVEN HTTP trigger requests: methods, raw paths with every kind of percent-encoding,
    Content-Type variations, Authorization with and without a configured token, base64 and
    oversized bodies, dryRun values, and DRY_RUN on or off
    WHEN each is invoked
    THEN a missing or wrong token is 401 whatever else is wrong; otherwise a defective
    request gets the status of one of its defects; a sound one is 200 and deletes exactly
    its InstanceId (or nothing, in a dry run); never 500, never a raise, never a secret."""

    def check(case: HttpCase) -> str:
        if case.token_required:
            monkeypatch.setenv("HTTP_BEARER_TOKEN_SHA256", TOKEN_SHA256)
        else:
            monkeypatch.delenv("HTTP_BEARER_TOKEN_SHA256", raising=False)
        monkeypatch.setenv("DRY_RUN", "true" if case.env_dry_run else "false")

        run = invoke(cams, case.event, secrets=(TOKEN,))
        assert run.result is not None
        body = check_http_response(run.result)
        status = run.result["statusCode"]
        calls = deleted_ids(cams)

        if case.token_required and case.bad_token:
            assert status == 401, body
            assert run.result["headers"]["WWW-Authenticate"].startswith("Bearer")
            assert calls == []
        elif case.defects:
            assert status in {STATUS_OF_DEFECT[defect] for defect in case.defects}, (
                case.defects,
                body,
            )
            assert calls == []
            if status == 405:
                assert run.result["headers"]["Allow"] == case.allowed_method
        else:
            assert status == 200, body
            assert body["InstanceId"] == case.carried
            if case.dry_run:
                assert body["Outcome"] == "dry_run"
                assert calls == []
            else:
                assert isinstance(case.carried, str)
                assert body["Outcome"] == expected_outcome(case.carried)
                assert calls == [case.carried]
        return f"{status} dry run" if status == 200 and case.dry_run else str(status)

    fuzz = run_property("http", http_cases(), check)
    assert fuzz.examples >= fuzz_examples("http")
    assert_reached(fuzz, ["200", "200 dry run", "400", "401", "404", "405", "413", "415"])


# -- HTTP trigger: envelopes with fields of any type -------------------------------------------

HTTP_FIELDS = ("headers", "queryParameters", "body", "isBase64Encoded", "rawPath", "version")
# Besides a field replaced by any JSON value: header values, the dry-run query parameter,
# or the method, as any value.
HTTP_MANGLES = (*HTTP_FIELDS, "header values", "dry-run query", "method")


@st.composite
def mangled_http_events(draw: st.DrawFn) -> dict[str, Any]:
    """An HTTP trigger event with up to three of its parts mangled. The number is drawn
    first, so that some events keep all their parts and the branch that calls CAMS stays
    reached: with each mangle drawn on its own, hardly any event kept them all."""
    event = draw(http_cases()).event
    count = draw(st.integers(0, 3))
    for mangle in draw(
        st.lists(st.sampled_from(HTTP_MANGLES), min_size=count, max_size=count, unique=True)
    ):
        if mangle == "header values":
            event["headers"] = draw(st.dictionaries(any_text, json_values, max_size=4))
        elif mangle == "dry-run query":
            event["queryParameters"] = {"dryRun": draw(json_values)}
        elif mangle == "method":
            event["requestContext"]["http"]["method"] = draw(any_text)
        else:
            event[mangle] = draw(json_values)
    return event


def test_http_envelopes_with_fields_of_any_type(
    cams: CamsEmulator, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN HTTP trigger events whose headers, query, body, flags and path are any JSON
    value, with and without a required token
    WHEN each is invoked
    THEN a well-formed response that is not 500, and CAMS only sees valid InstanceIds."""

    def check(case: tuple[dict[str, Any], bool]) -> str:
        event, token_required = case
        if token_required:
            monkeypatch.setenv("HTTP_BEARER_TOKEN_SHA256", TOKEN_SHA256)
        else:
            monkeypatch.delenv("HTTP_BEARER_TOKEN_SHA256", raising=False)
        run = invoke(cams, event, secrets=(TOKEN,))
        assert run.result is not None
        body = check_http_response(run.result)
        calls = deleted_ids(cams)
        if calls:
            assert run.result["statusCode"] == 200
            assert calls == [body["InstanceId"]]
        return str(run.result["statusCode"])

    fuzz = run_property("http_envelope", st.tuples(mangled_http_events(), st.booleans()), check)
    assert fuzz.examples >= fuzz_examples("http_envelope")
    assert_reached(fuzz, ["200", "400", "401", "404", "405"])


# -- a dry run asked for anywhere -----------------------------------------------------------

FLAG_SAMPLES = {
    name: load_event(name)
    for name in (
        "direct.json",
        "eventbridge-cloudevent.json",
        "eventbridge-kafka-batch.json",
        "eventbridge-mns-batch-strings.json",
        "rawdata-batch.json",
        "timer.json",
    )
}
# An EventBridge HTTP source's event: the caller's request, query string and headers in data.
FLAG_SAMPLES["http-source"] = {
    **ENVELOPE,
    "data": {
        "httpMethod": "POST",
        "path": "/retire",
        "headers": {"Content-Type": "application/json"},
        "queryString": {"team": "ops"},
        "body": json.dumps({"InstanceId": "cams-7f3a9c01"}),
    },
}
# Text fields that carry a message or a payload as JSON, and whole batch elements.
JSON_TEXT_FIELDS = frozenset({"data", "payload", *MESSAGE_BODY_FIELDS})
FLAG_SPELLINGS = ("DryRun", "dryRun", "dry_run", "Dry-Run", "DRYRUN")


def with_flag(value: Any, target: int, flag: tuple[str, object], seen: list[int]) -> Any:
    """`value` with `flag` set on its `target`-th object, counting depth-first and looking
    into JSON text in the fields that carry messages. `seen` counts the objects passed."""
    if isinstance(value, dict):
        index = seen[0]
        seen[0] += 1
        result = {
            key: with_flag_in_text(inner, target, flag, seen)
            if key in JSON_TEXT_FIELDS
            else with_flag(inner, target, flag, seen)
            for key, inner in value.items()
        }
        if index == target:
            result[flag[0]] = flag[1]
        return result
    if isinstance(value, list):
        return [with_flag(item, target, flag, seen) for item in value]
    return value


def with_flag_in_text(value: Any, target: int, flag: tuple[str, object], seen: list[int]) -> Any:
    parsed = loads_or_missing(value) if isinstance(value, str) else MISSING
    if not isinstance(parsed, dict | list):
        return with_flag(value, target, flag, seen)
    return json.dumps(with_flag(parsed, target, flag, seen))


def count_objects(value: Any) -> int:
    seen = [0]
    with_flag_in_text(value, -1, ("", None), seen)
    return seen[0]


@st.composite
def flagged_events(draw: st.DrawFn) -> tuple[Any, int | None]:
    """A sample event with a true dry-run flag (a JSON boolean, or query-string text, under
    its own key or as a Kafka-header-like name/value pair) set on one of its objects, any of
    them, and the index of the batch element that holds it."""
    sample = FLAG_SAMPLES[draw(st.sampled_from(sorted(FLAG_SAMPLES)))]
    name = draw(st.sampled_from(FLAG_SPELLINGS))
    value = draw(st.sampled_from([True, "true"]))
    flag: tuple[str, object] = draw(
        st.sampled_from([(name, value), ("header", {"key": name, "value": value})])
    )
    if isinstance(sample, list):
        element = draw(st.integers(0, len(sample) - 1))
        target = draw(st.integers(0, count_objects(sample[element]) - 1))
        event = list(sample)
        event[element] = with_flag_in_text(sample[element], target, flag, [0])
        return event, element
    target = draw(st.integers(0, count_objects(sample) - 1))
    return with_flag(sample, target, flag, [0]), None


def test_a_dry_run_asked_for_anywhere_is_never_a_deletion(cams: CamsEmulator):
    """GIVEN a sample event (direct, CloudEvent, EventBridge HTTP source, Kafka and MNS
    batches, RawData, timer) with a true dry-run flag, or a name/value pair naming one, added
    to any one of its objects, inside message text too
    WHEN it is invoked
    THEN the event, or the batch element holding the flag, is a dry run or is refused: on
    the way to the InstanceId the flag counts, and anywhere else it is refused, never
    ignored. Nothing is deleted for it."""

    def check(case: tuple[Any, int | None]) -> str:
        event, element = case
        run = invoke(cams, event)
        assert run.result is not None
        if element is None:
            document = run.result
            assert deleted_ids(cams) == []
        else:
            document = run.result["Results"][element]
        assert_valid_result(document)
        assert document["Outcome"] in ("dry_run", "rejected"), (document, event)
        if document["Outcome"] == "rejected":
            assert document["Code"] in ("InvalidParameter.DryRun", "InvalidParameter.RepeatedKey")
        return str(document["Outcome"])

    fuzz = run_property("dry_run_anywhere", flagged_events(), check)
    assert fuzz.examples >= fuzz_examples("dry_run_anywhere")
    assert_reached(fuzz, ["dry_run", "rejected"])


# -- raw bytes ---------------------------------------------------------------------------------

SAMPLES = tuple(
    json.dumps(load_event(name)).encode()
    for name in (
        "direct.json",
        "eventbridge-cloudevent.json",
        "eventbridge-kafka-batch.json",
        "eventbridge-mns-batch-strings.json",
        "http-post.json",
        "timer.json",
    )
)
CURATED_BYTES = (
    b"",
    b" \n\t",
    b"null",
    b"[]",
    b"{}",
    b'""',
    b"NaN",
    b"-Infinity",
    b"1e999999",
    b"9" * 5_000,  # beyond int's default digit limit: json.loads raises ValueError
    b'{"InstanceId": ' + b"9" * 5_000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,  # deeper than the recursion limit
    b'{"a":' * 900 + b"1" + b"}" * 900,
    b'{"InstanceId": ' + b"[" * 900 + b"]" * 900 + b"}",
    b"\xef\xbb\xbf" + SAMPLES[0],  # UTF-8 BOM
    json.dumps({"InstanceId": "9383883"}).encode("utf-16"),
    b'{"InstanceId": "not valid", "InstanceId": "9383883"}',  # a repeated key: refused
    b'{"InstanceId": "9383883"',
    b"\xff\xfe\xfd",
    b'{"InstanceId": "\xc3\x28"}',  # invalid UTF-8 inside a string
)


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.integers(0, 2))
        if action == 0:
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif action == 1:
            del data[position : position + draw(st.integers(1, 8))]
        else:
            data = data[:position]
    return bytes(data)


raw_events = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(CURATED_BYTES),
    mutated_samples(),
    json_values.map(lambda value: json.dumps(value).encode()),
)


def test_raw_bytes(cams: CamsEmulator):
    """GIVEN arbitrary bytes, truncated or corrupted sample events, JSON too deep or too
    large, BOMs, UTF-16, invalid UTF-8 and duplicate keys
    WHEN each is invoked
    THEN a schema-valid result or HTTP answer, no raise, and only valid InstanceIds at CAMS."""

    def check(data: bytes) -> str:
        run = invoke(cams, data)
        assert run.result is not None
        deleted_ids(cams)
        if "statusCode" in run.result:
            check_http_response(run.result)
            return "http"
        assert_valid_result(run.result)
        return str(run.result["Code"])

    fuzz = run_property("raw_bytes", raw_events, check)
    assert fuzz.examples >= fuzz_examples("raw_bytes")
    assert_reached(fuzz, ["InvalidEvent", "MissingParameter.InstanceId", "PartialFailure"])


def test_the_ci_profile_runs_at_least_2000_examples():
    """CI runs 2,000 fuzz examples or more, reproducibly: the CI counts add up to that,
    and the "ci" profile is derandomized."""
    total = sum(fuzz_examples(name, "ci") for name in FUZZ_WEIGHTS)

    assert total >= CI_MINIMUM_TOTAL
    assert settings.get_profile("ci").derandomize is True


# -- lone surrogates: echoed text must still encode as UTF-8 --------------------------------


def _http(name: str, **changes: Any) -> bytes:
    event = load_event(name)
    method = changes.pop("method", None)
    if method is not None:
        event["requestContext"]["http"]["method"] = method
    return json.dumps({**event, **changes}).encode()


LONE_SURROGATE_EVENTS = [
    pytest.param(b'{"InstanceId": "\\ud800"}', None, id="direct"),
    pytest.param(b'{"InstanceId": "cams-\\udcff"}', None, id="direct-low-surrogate"),
    pytest.param(b'[{"InstanceId": "\\ud800"}, {"InstanceId": "9383883"}]', None, id="batch"),
    pytest.param(
        json.dumps({**ENVELOPE, "data": {"InstanceId": "\ud800"}}).encode(), None, id="cloud-event"
    ),
    pytest.param(
        json.dumps({**ENVELOPE, "id": "\ud800", "data": {"InstanceId": "bad id"}}).encode(),
        None,
        id="cloud-event-id",
    ),
    pytest.param(
        _http("http-post.json", body=json.dumps({"InstanceId": "\ud800"})), 400, id="http-body"
    ),
    pytest.param(_http("http-delete.json", rawPath="/instances/\ud800"), 400, id="http-path"),
    pytest.param(_http("http-delete.json", method="GET\ud800"), 400, id="http-method"),  # not ASCII
]


@pytest.mark.parametrize(("event", "status"), LONE_SURROGATE_EVENTS)
def test_lone_surrogates_are_rejected_like_any_other_bad_character(
    cams: CamsEmulator, event: bytes, status: int | None
):
    """GIVEN a lone surrogate, sent as a JSON \\u escape, where the function echoes text
    WHEN the function receives it
    THEN it is rejected like any other bad input: no raise, no 500, no call to CAMS but for
    the valid item, and a log and an answer that can be written as UTF-8."""
    cams.reset(POOL)

    run = call_handler(event, context())  # its stdout refuses what UTF-8 cannot encode

    assert run.error is None, repr(run.error)
    assert run.result is not None
    if status is not None:
        check_http_response(run.result)
        assert run.result["statusCode"] == status
        run.result["body"].encode("utf-8")  # FC sends the body as UTF-8
    else:
        assert_valid_result(run.result)
    # The valid item of the batch is sent, once; nothing else is.
    expected = ["9383883"] if b"9383883" in event else []
    assert [call.instance_id for call in cams.calls()] == expected


with_a_surrogate = st.builds(
    lambda head, surrogate, tail: head + surrogate + tail,
    st.text(max_size=10),
    st.characters(categories=["Cs"]),
    st.text(max_size=10),
)


def test_text_with_surrogates_as_instance_id(cams: CamsEmulator):
    """GIVEN direct events whose InstanceId is text with a lone surrogate (the one unicode
    category the other fuzz tests leave out)
    WHEN each is invoked
    THEN it is rejected without raising."""

    def check(instance_id: str) -> None:
        run = invoke(cams, {"InstanceId": instance_id})
        assert run.result is not None
        check_single_result(run.result, instance_id)
        assert deleted_ids(cams) == []

    run_property("surrogates", with_a_surrogate, check)
