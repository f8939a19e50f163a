"""Bad input gets a clear Code and Message, and CAMS is never called for it."""

from __future__ import annotations

import json
import sys

import pytest

from cams_emulator import CamsEmulator
from tests.conftest import Invoke, assert_valid_result, event_bytes, load_event

BAD_INSTANCE_IDS = [
    pytest.param({}, "MissingParameter.InstanceId", "required", id="missing"),
    pytest.param({"InstanceId": ""}, "InvalidParameter.InstanceId", "empty", id="empty"),
    pytest.param({"InstanceId": None}, "InvalidParameter.InstanceId", "not null", id="null"),
    pytest.param({"InstanceId": 9383883}, "InvalidParameter.InstanceId", "a number", id="number"),
    pytest.param({"InstanceId": ["a"]}, "InvalidParameter.InstanceId", "an array", id="array"),
    pytest.param({"InstanceId": True}, "InvalidParameter.InstanceId", "a boolean", id="bool"),
    pytest.param(
        {"InstanceId": "2399393****"}, "InvalidParameter.InstanceId", "masked", id="masked"
    ),
    pytest.param({"InstanceId": "a" * 65}, "InvalidParameter.InstanceId", "limit is 64", id="long"),
    pytest.param({"InstanceId": "cams 1"}, "InvalidParameter.InstanceId", "whitespace", id="space"),
    pytest.param({"InstanceId": "cams\n1"}, "InvalidParameter.InstanceId", "control", id="newline"),
    pytest.param({"InstanceId": "cams\x001"}, "InvalidParameter.InstanceId", "control", id="nul"),
    pytest.param({"InstanceId": "../etc"}, "InvalidParameter.InstanceId", "'/'", id="slash"),
    pytest.param({"InstanceId": "cams-é"}, "InvalidParameter.InstanceId", "'é'", id="unicode"),
    pytest.param({"InstanceId": ".."}, "InvalidParameter.InstanceId", "no letter", id="dots"),
    pytest.param({"InstanceId": "-"}, "InvalidParameter.InstanceId", "no letter", id="dash"),
    pytest.param(
        {"InstanceId": "undefined"}, "InvalidParameter.InstanceId", "missing value", id="undefined"
    ),
    pytest.param({"InstanceId": "None"}, "InvalidParameter.InstanceId", "missing value", id="None"),
    pytest.param(
        {"InstanceId": "null"}, "InvalidParameter.InstanceId", "missing value", id="null-as-text"
    ),
    pytest.param({"InstanceId": "NaN"}, "InvalidParameter.InstanceId", "missing value", id="NaN"),
    pytest.param({"instanceId": "x1"}, "MissingParameter.InstanceId", "case-sensitive", id="case"),
    *(
        pytest.param(
            {"InstanceId": word},
            "InvalidParameter.InstanceId",
            "placeholder",
            id=f"template-{word}",
        )
        for word in ("string", "REPLACE_ME", "your-instance-id", "InstanceId", "TODO", "xxxx")
    ),
]


@pytest.mark.parametrize(("event", "code", "hint"), BAD_INSTANCE_IDS)
def test_bad_instance_id_in_a_direct_event_is_rejected(
    emulator, invoke: Invoke, event: dict, code: str, hint: str
):
    """GIVEN a direct invocation with a bad or missing InstanceId
    WHEN the function receives it
    THEN the result is rejected with a Code and a Message that says what to fix,
    nothing is raised, and CAMS is not called."""
    run = invoke(event)

    assert run.error is None
    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Outcome"] == "rejected"
    assert run.result["Success"] is False
    assert run.result["Retryable"] is False
    assert run.result["Code"] == code
    assert hint in run.result["Message"]
    assert emulator.journal() == []


@pytest.mark.parametrize(("event", "code", "hint"), BAD_INSTANCE_IDS)
def test_bad_instance_id_over_http_is_a_400(
    emulator, invoke: Invoke, event: dict, code: str, hint: str
):
    """GIVEN POST / whose JSON body has a bad or missing InstanceId
    WHEN the function receives it
    THEN it answers 400 with the same Code, and CAMS is not called."""

    request = load_event("http-post.json")
    request["body"] = json.dumps(event)

    run = invoke(request)

    assert run.result is not None
    assert run.result["statusCode"] == 400
    assert_valid_result(run.body)
    assert run.body["Code"] == code
    assert hint in run.body["Message"]
    assert emulator.journal() == []


def test_masked_sample_fixture_explains_the_mask(emulator, invoke: Invoke):
    """GIVEN the documentation's masked sample ID, as a user might paste it
    WHEN the function receives it
    THEN the message says the '*' characters hide digits."""
    run = invoke(event_bytes("invalid-masked-instance-id.json"))

    assert run.result is not None
    assert "masked" in run.result["Message"]
    assert "'*'" in run.result["Message"]


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b'"just a string"', "a string"),
        (b"42", "a number"),
        (b"null", "null"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
    ],
)
def test_unrecognised_events_are_rejected_with_invalid_event(
    emulator, invoke: Invoke, raw: bytes, hint: str
):
    """GIVEN bytes that are no event shape the function knows
    WHEN the function receives them
    THEN the result is rejected with Code InvalidEvent and a message naming the problem."""
    run = invoke(raw)

    assert run.error is None
    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Code"] == "InvalidEvent"
    assert hint in run.result["Message"]
    assert emulator.journal() == []


def test_cloudevent_without_instance_id_names_the_field(emulator, invoke: Invoke):
    """GIVEN a CloudEvent whose data lacks InstanceId
    WHEN the function receives it
    THEN the message names data.InstanceId and the event id."""
    event = load_event("eventbridge-cloudevent.json")
    del event["data"]["InstanceId"]

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "MissingParameter.InstanceId"
    assert "data.InstanceId" in run.result["Message"]
    assert event["id"] in run.result["Message"]


def test_cloudevent_with_non_object_data(emulator, invoke: Invoke):
    """GIVEN a CloudEvent whose data is plain text
    WHEN the function receives it
    THEN it is rejected as InvalidEvent."""
    event = load_event("eventbridge-cloudevent.json")
    event["data"] = "cams-7f3a9c01"

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "InvalidEvent"


def test_batch_with_bad_items_reports_each_and_deletes_the_good(emulator, invoke: Invoke):
    """GIVEN a batch mixing a good item, a bad ID, a non-object and a broken JSON string
    WHEN the function receives it
    THEN the good instance is deleted, every bad item is reported in place, and CAMS is
    called only for the good one."""
    emulator.add_instances("good-1")

    run = invoke([{"InstanceId": "good-1"}, {"InstanceId": "bad id"}, 7, "{broken"])

    assert run.error is None
    assert run.result is not None
    assert_valid_result(run.result)
    outcomes = [item["Outcome"] for item in run.result["Results"]]
    assert outcomes == ["deleted", "rejected", "rejected", "rejected"]
    assert run.result["Success"] is False
    assert run.result["Code"] == "PartialFailure"
    assert run.result["Message"] == "3 of 4 items did not succeed"
    assert run.result["Counts"] == {
        "deleted": 1,
        "already_deleted": 0,
        "dry_run": 0,
        "rejected": 3,
        "failed": 0,
    }
    assert [call.instance_id for call in emulator.calls()] == ["good-1"]


def test_batch_over_the_limit_is_rejected_whole(emulator, invoke: Invoke, monkeypatch):
    """GIVEN MAX_BATCH_SIZE=3 and a batch of 4 valid items
    WHEN the function receives it
    THEN the whole batch is rejected with a message naming the limit, and nothing is deleted."""
    monkeypatch.setenv("MAX_BATCH_SIZE", "3")
    emulator.add_instances("b1", "b2", "b3", "b4")

    run = invoke([{"InstanceId": f"b{n}"} for n in range(1, 5)])

    assert run.error is None
    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Code"] == "InvalidParameter.BatchSize"
    assert "MAX_BATCH_SIZE=3" in run.result["Message"]
    assert run.result["Counts"]["rejected"] == 4
    assert emulator.journal() == []
    assert len(emulator.instances()) == 4
    # Nothing in it is retried: the log says what it held, so it can be sent again.
    [refused] = run.lines("batch_rejected")
    assert refused["level"] == "error"
    assert refused["held"] == ["b1", "b2", "b3", "b4"]
    [invocation] = run.lines("invocation")
    assert invocation["outcomes"] == {"rejected": 4}
    assert invocation["code"] == "InvalidParameter.BatchSize"


@pytest.mark.parametrize(
    ("sample", "held"),
    [
        (
            "eventbridge-mns-batch-strings.json",
            ["2a8f9c3e-51d0-4b7e-9c1a-mns00001", "2a8f9c3e-51d0-4b7e-9c1a-mns00002"],
        ),
        ("rawdata-batch.json", ["cams-7f3a9c05", "cams-7f3a9c06"]),
    ],
)
def test_an_oversized_batch_says_what_it_held_whatever_its_elements_shape(
    sample: str, held: list[str], emulator, invoke: Invoke, monkeypatch
):
    """GIVEN MAX_BATCH_SIZE=1 and a sample batch whose elements are JSON strings, or source
    records without an envelope (a Kafka record's `value` names the instance)
    WHEN the function receives it
    THEN the batch_rejected line holds each element's CloudEvent id, or the InstanceId its
    record names, read as the batch would have been."""
    monkeypatch.setenv("MAX_BATCH_SIZE", "1")

    run = invoke(event_bytes(sample))

    assert run.result is not None
    assert run.result["Code"] == "InvalidParameter.BatchSize"
    [refused] = run.lines("batch_rejected")
    assert refused["held"] == held
    assert emulator.journal() == []


def test_an_oversized_batch_counts_and_places_the_elements_it_cannot_name(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN MAX_BATCH_SIZE=2 and a batch of five, three of whose elements name no instance
    or event id as text (a number, text that is not JSON, no InstanceId)
    WHEN the function receives it
    THEN its batch_rejected line names the two it can, counts the other three as unnamed,
    and gives their places in the batch, so that every element can be found again."""
    monkeypatch.setenv("MAX_BATCH_SIZE", "2")
    batch = [
        {"InstanceId": "a"},
        {"InstanceId": 9383883},
        "not json",
        {"specversion": "1.0", "id": 7, "data": {"InstanceId": "b"}},
        {"Instance": "x"},
    ]

    run = invoke(batch)

    assert run.result is not None
    assert run.result["Code"] == "InvalidParameter.BatchSize"
    [refused] = run.lines("batch_rejected")
    assert refused["held"] == ["a", "b"]
    assert refused["unnamed"] == 3
    assert refused["unnamed_at"] == [1, 2, 4]
    assert emulator.journal() == []


def test_protected_instance_is_refused_before_any_call(emulator, invoke: Invoke, monkeypatch):
    """GIVEN PROTECTED_INSTANCE_IDS names an instance
    WHEN an event asks to delete it
    THEN it is rejected with Forbidden.ProtectedInstance and CAMS is never called."""
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", "keep-me, other")
    emulator.add_instances("keep-me")

    run = invoke({"InstanceId": "keep-me"})

    assert run.result is not None
    assert run.result["Outcome"] == "rejected"
    assert run.result["Code"] == "Forbidden.ProtectedInstance"
    assert emulator.instances() == {"keep-me"}
    assert emulator.journal() == []


def test_dry_run_variable_deletes_nothing(emulator, invoke: Invoke, monkeypatch):
    """GIVEN DRY_RUN=true
    WHEN a valid event arrives
    THEN the result is dry_run, successful, and nothing is deleted or called."""
    monkeypatch.setenv("DRY_RUN", "true")
    emulator.add_instances("cams-7f3a9c01")

    run = invoke(event_bytes("eventbridge-cloudevent.json"))

    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Outcome"] == "dry_run"
    assert run.result["Success"] is True
    assert emulator.instances() == {"cams-7f3a9c01"}
    assert emulator.journal() == []


def test_dry_run_still_rejects_bad_input(emulator, invoke: Invoke, monkeypatch):
    """GIVEN DRY_RUN=true
    WHEN the InstanceId is invalid
    THEN the dry run reports the rejection, not a pass."""
    monkeypatch.setenv("DRY_RUN", "true")

    run = invoke({"InstanceId": "2399393****"})

    assert run.result is not None
    assert run.result["Outcome"] == "rejected"


@pytest.mark.parametrize("name", ["DryRun", "dryRun", "dryrun"])
def test_dry_run_field_in_an_event_deletes_nothing(emulator, invoke: Invoke, name):
    """GIVEN a direct event or a CloudEvent whose object says DryRun: true
    WHEN the function receives it
    THEN it is a dry run: CAMS is not called."""
    emulator.add_instances("cams-7f3a9c01")
    cloud_event = load_event("eventbridge-cloudevent.json")
    cloud_event["data"][name] = True

    direct = invoke({"InstanceId": "cams-7f3a9c01", name: True})
    from_bus = invoke(cloud_event)

    assert direct.result is not None
    assert from_bus.result is not None
    assert direct.result["Outcome"] == from_bus.result["Outcome"] == "dry_run"
    assert emulator.journal() == []


@pytest.mark.parametrize(
    "name",
    [
        "dry_run",
        "Dry-Run",
        "DRY_RUN",
        "dry run",
        "Dry\tRun",
        "Dry\u00a0Run",
        "\uff24\uff52\uff59\uff32\uff55\uff4e",  # full-width, as some input methods type
        "Dry\u2010Run",  # a typographic hyphen
        "Dry\u200bRun",  # a zero-width space
        "Dry\u3164Run",  # a Hangul filler: a letter to Python, blank to the eye
        "Dry\uffa0Run",  # its half-width form
        "\u115fDryRun\u1160",  # the choseong and jungseong fillers
        "X-Dry-Run",
    ],
)
def test_dry_run_spelt_another_way_deletes_nothing(emulator, invoke: Invoke, name):
    """GIVEN an event whose dry-run flag is spelt with a separator (dry_run, Dry-Run, a tab,
    a no-break space, a typographic hyphen, a zero-width space, a blank Hangul filler), in
    full-width letters, or as the X-Dry-Run header is
    WHEN the function receives it
    THEN it is still a dry run: a misspelt dry run never turns into a deletion."""
    emulator.add_instances("i-1")

    run = invoke({"InstanceId": "i-1", name: True})

    assert run.result is not None
    assert run.result["Outcome"] == "dry_run"
    assert emulator.journal() == []


def _http_source_event(**data: object) -> dict:
    """An EventBridge HTTP-source event: the caller's request in data, its body the
    request to the function."""
    request = {
        "headers": {"Content-Type": "application/json"},
        "httpMethod": "POST",
        "path": "/",
        "queryString": {},
        "body": '{"InstanceId": "i-1"}',
    }
    return _cloud_event_with({**request, **data})


def _cloud_event_with(data: object, **envelope: object) -> dict:
    event = load_event("eventbridge-cloudevent.json")
    event["data"] = data
    event.update(envelope)
    return event


@pytest.mark.parametrize(
    "event",
    [
        # DryRun beside the message, the InstanceId inside it
        _cloud_event_with({"DryRun": True, "body": '{"InstanceId": "i-1"}'}),
        # a CloudEvent extension attribute on the envelope
        _cloud_event_with({"InstanceId": "i-1"}, dryrun=True),
        # an EventBridge HTTP source: the caller's query string beside the body
        _cloud_event_with(
            {
                "httpMethod": "POST",
                "queryString": {"dryRun": "true"},
                "body": '{"InstanceId": "i-1"}',
            }
        ),
        # a RawData element: the flag on the record, the InstanceId in its value
        [{"topic": "t", "DryRun": True, "value": '{"InstanceId": "i-1"}'}],
    ],
    ids=["beside-the-body", "envelope-attribute", "http-source-query", "rawdata-record"],
)
def test_dry_run_anywhere_on_the_way_to_the_instance_deletes_nothing(
    emulator, invoke: Invoke, event
):
    """GIVEN a dry-run flag on an object that encloses the one naming the instance
    WHEN the function receives the event
    THEN it is a dry run: CAMS is not called."""
    emulator.add_instances("i-1")

    run = invoke(event)

    assert run.result is not None
    document = run.result["Results"][0] if "Results" in run.result else run.result
    assert document["Outcome"] == "dry_run"
    assert emulator.journal() == []


def test_unreadable_dry_run_in_an_http_source_query_is_refused(emulator, invoke: Invoke):
    """GIVEN an EventBridge HTTP-source event whose query string says dryRun=maybe
    WHEN the function receives it
    THEN it is rejected with InvalidParameter.DryRun and nothing is deleted."""
    emulator.add_instances("i-1")
    event = _cloud_event_with({"queryString": {"DryRun": "maybe"}, "body": '{"InstanceId": "i-1"}'})

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "InvalidParameter.DryRun"
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize("flag", ["yes", "true", 1, None])
def test_unreadable_dry_run_field_is_refused_not_ignored(emulator, invoke: Invoke, flag):
    """GIVEN an event whose DryRun is not a JSON boolean
    WHEN the function receives it
    THEN it is rejected with InvalidParameter.DryRun rather than deleting."""
    emulator.add_instances("i-1")

    run = invoke({"InstanceId": "i-1", "DryRun": flag})

    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Code"] == "InvalidParameter.DryRun"
    assert emulator.instances() == {"i-1"}


def test_protected_ids_match_without_regard_to_case(emulator, invoke: Invoke, monkeypatch):
    """GIVEN PROTECTED_INSTANCE_IDS=Keep-Me
    WHEN an event names keep-me
    THEN it is refused all the same."""
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", "Keep-Me")
    emulator.add_instances("keep-me")

    run = invoke({"InstanceId": "keep-me"})

    assert run.result is not None
    assert run.result["Code"] == "Forbidden.ProtectedInstance"
    assert emulator.journal() == []


@pytest.mark.parametrize(
    ("configured", "sent"), [("9383883", "09383883"), ("0009383883", "9383883"), ("0", "000")]
)
def test_a_protected_number_is_refused_with_leading_zeros_too(
    emulator, invoke: Invoke, monkeypatch, configured: str, sent: str
):
    """GIVEN a protected InstanceId of digits
    WHEN an event names the same number with more or fewer leading zeros
    THEN it is refused: CAMS's ID format is undocumented, and a service that reads such an
    ID as a number would delete the protected instance."""
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", configured)

    run = invoke({"InstanceId": sent})

    assert run.result is not None
    assert run.result["Code"] == "Forbidden.ProtectedInstance"
    assert run.result["InstanceId"] == sent
    assert emulator.journal() == []


def test_other_numbers_are_not_protected_by_a_number(emulator, invoke: Invoke, monkeypatch):
    """GIVEN PROTECTED_INSTANCE_IDS=9383883
    WHEN an event names 93838830 (the same digits and one more)
    THEN it is deleted: only the same number is protected."""
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", "9383883")
    emulator.add_instances("93838830")

    run = invoke({"InstanceId": "93838830"})

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"


@pytest.mark.parametrize("spelling", ["Keep-Me", "KEEP-ME"])
def test_a_protected_id_is_refused_as_configured_and_in_capitals(
    emulator, invoke: Invoke, monkeypatch, spelling: str
):
    """GIVEN PROTECTED_INSTANCE_IDS=Keep-Me
    WHEN an event names it exactly as configured, or in capitals
    THEN it is refused, and the instance stays."""
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", "Keep-Me")
    emulator.add_instances(spelling)

    run = invoke({"InstanceId": spelling})

    assert run.result is not None
    assert run.result["Code"] == "Forbidden.ProtectedInstance"
    assert emulator.instances() == {spelling}


@pytest.mark.parametrize(
    "event",
    [
        {"body": {"InstanceId": "i-a"}},
        {"value": '{"InstanceId": "i-a"}'},
        # an API-gateway-style request: not FC's HTTP trigger, so none of its guards ran
        {"httpMethod": "POST", "path": "/", "headers": {}, "body": '{"InstanceId": "i-a"}'},
        {
            "triggerTime": "2026-11-27T09:00:00Z",
            "triggerName": "t",
            "payload": '{"messageBody": {"InstanceId": "i-a"}}',
        },
    ],
    ids=["body", "value", "api-gateway-shape", "timer-payload"],
)
def test_a_request_sent_directly_is_not_looked_into(emulator, invoke: Invoke, event: dict):
    """GIVEN an event sent to the function directly (not a CloudEvent or a batch element)
    whose InstanceId is only inside a body, value or messageBody field
    WHEN the function receives it
    THEN it is rejected as missing an InstanceId: only event-streaming messages are looked
    into, and nothing is deleted."""
    emulator.add_instances("i-a")

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "MissingParameter.InstanceId"
    assert emulator.instances() == {"i-a"}


def test_a_long_dry_run_spelling_still_counts(emulator, invoke: Invoke):
    """GIVEN a RawData record whose dry-run flag is spelt with many separators
    WHEN the batch is handled
    THEN it is a dry run: the spelling rule has no length limit."""
    emulator.add_instances("i-a")

    run = invoke([{"dry______run_____": True, "value": {"InstanceId": "i-a"}}])

    assert run.result is not None
    assert run.result["Results"][0]["Outcome"] == "dry_run"
    assert emulator.instances() == {"i-a"}


def _cloud_event_bytes(data_text: str) -> bytes:
    """The sample CloudEvent with its data replaced by raw JSON text (which may repeat keys,
    as json.dumps never would)."""
    event = load_event("eventbridge-cloudevent.json")
    event["data"] = "DATA"
    return json.dumps(event).encode().replace(b'"DATA"', data_text.encode())


REPEATED_KEYS = [
    pytest.param(
        b'{"InstanceId": "i-1", "DryRun": true, "DryRun": false}', "DryRun", id="dry-run-flag"
    ),
    pytest.param(b'{"InstanceId": "i-other", "InstanceId": "i-1"}', "InstanceId", id="instance-id"),
    pytest.param(
        _cloud_event_bytes('{"InstanceId": "i-1", "InstanceId": "i-1"}'), "InstanceId", id="data"
    ),
    pytest.param(
        _cloud_event_bytes('{"InstanceId": "i-1"}').replace(
            b'"data"', b'"data": {"InstanceId": "i-other"}, "data"'
        ),
        "data",
        id="cloud-event-envelope",
    ),
    pytest.param(
        _cloud_event_bytes(json.dumps('{"InstanceId": "i-1", "dryRun": true, "dryRun": false}')),
        "dryRun",
        id="data-as-text",
    ),
    pytest.param(
        b'{"triggerTime": "2026-11-27T09:00:00Z", "triggerName": "t",'
        b' "payload": "{\\"InstanceId\\": \\"i-1\\", \\"InstanceId\\": \\"i-1\\"}"}',
        "InstanceId",
        id="timer-payload",
    ),
]


@pytest.mark.parametrize(("event", "key"), REPEATED_KEYS)
def test_a_key_given_twice_is_refused(emulator, invoke: Invoke, event: bytes, key: str):
    """GIVEN an event in which an object on the way to the InstanceId names a key twice
    (json.loads would keep the last value, other parsers the first)
    WHEN the function receives it
    THEN it is rejected with InvalidParameter.RepeatedKey naming the key, and CAMS is not
    called: `"DryRun": true, "DryRun": false` must not delete."""
    emulator.add_instances("i-1", "i-other")
    assert json.loads(event)  # the bytes are JSON: only the repeated key is wrong

    run = invoke(event)

    assert run.error is None
    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Outcome"] == "rejected"
    assert run.result["Code"] == "InvalidParameter.RepeatedKey"
    assert f"names {key!r} more than once" in run.result["Message"]
    assert emulator.journal() == []


NAMED_DESPITE_A_REPEATED_KEY = [
    pytest.param(b'{"InstanceId": "i-1", "DryRun": true, "DryRun": false}', id="direct"),
    pytest.param(
        _cloud_event_bytes('{"InstanceId": "i-1", "DryRun": true, "DryRun": false}'),
        id="cloud-event-data",
    ),
    pytest.param(
        _cloud_event_bytes('{"InstanceId": "i-1"}').replace(b'"id"', b'"id": "x", "id"'),
        id="cloud-event-envelope",
    ),
    pytest.param(
        b'{"triggerTime": "2026-11-27T09:00:00Z", "triggerName": "t", "triggerName": "u",'
        b' "payload": "{\\"InstanceId\\": \\"i-1\\"}"}',
        id="timer-envelope",
    ),
]


@pytest.mark.parametrize("event", NAMED_DESPITE_A_REPEATED_KEY)
def test_a_repeated_key_refusal_names_the_instance_it_kept(emulator, invoke: Invoke, event: bytes):
    """GIVEN a request that names one InstanceId once, in an object that repeats another key
    (or inside an envelope that does)
    WHEN the function refuses it
    THEN its result and its deletion line name that InstanceId, so that a search of the log
    by instance finds the refusal; CAMS is not called."""
    emulator.add_instances("i-1")
    assert json.loads(event)

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "InvalidParameter.RepeatedKey"
    assert run.result["InstanceId"] == "i-1"
    [line] = run.lines("deletion")
    assert line["instance_id"] == "i-1"
    assert emulator.journal() == []


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(b'{"InstanceId": "i-other", "InstanceId": "i-1"}', id="instance-id"),
        pytest.param(
            _cloud_event_bytes('{"InstanceId": "i-1"}').replace(
                b'"data"', b'"data": {"InstanceId": "i-other"}, "data"'
            ),
            id="cloud-event-data",
        ),
    ],
)
def test_a_repeated_key_refusal_names_no_instance_when_the_instance_is_repeated(
    emulator, invoke: Invoke, event: bytes
):
    """GIVEN a request whose InstanceId itself (or the object that holds it) is given twice
    WHEN the function refuses it
    THEN its result names no instance: which one was meant is what is unknown."""
    emulator.add_instances("i-1", "i-other")

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "InvalidParameter.RepeatedKey"
    assert run.result["InstanceId"] is None
    assert emulator.journal() == []


def test_a_repeated_key_refuses_only_its_own_batch_element(emulator, invoke: Invoke):
    """GIVEN a Kafka-style RawData batch whose first record's value names InstanceId twice
    WHEN the batch is handled
    THEN that record is rejected naming the key, and the other record's instance is deleted."""
    emulator.add_instances("i-1", "i-2")
    batch = (
        b'[{"topic": "t", "value": "{\\"InstanceId\\": \\"i-1\\", \\"InstanceId\\": \\"i-x\\"}"},'
        b' {"topic": "t", "value": "{\\"InstanceId\\": \\"i-2\\"}"}]'
    )

    run = invoke(batch)

    assert run.result is not None
    first, second = run.result["Results"]
    assert first["Code"] == "InvalidParameter.RepeatedKey"
    assert "'InstanceId'" in first["Message"]
    assert second["Outcome"] == "deleted"
    assert emulator.instances() == {"i-1"}


def test_parsing_marks_only_objects_that_repeat_a_key():
    """GIVEN JSON in which one nested object repeats two keys, one of them three times
    WHEN the function parses it
    THEN that object alone is marked, naming each repeated key once in order, and reads as
    json.loads would read it; the objects around it are plain."""
    from cams_delete.sources import RepeatedKeys, parse_json

    parsed = parse_json(b'{"outer": {"b": 1, "a": 2, "b": 3, "a": 4, "b": 5}, "c": {"d": 6}}')

    assert parsed == json.loads(
        b'{"outer": {"b": 1, "a": 2, "b": 3, "a": 4, "b": 5}, "c": {"d": 6}}'
    )
    assert isinstance(parsed["outer"], RepeatedKeys)
    assert parsed["outer"].repeated == ("b", "a")
    assert not isinstance(parsed, RepeatedKeys)
    assert not isinstance(parsed["c"], RepeatedKeys)


def _timer(payload: dict, **envelope: object) -> dict:
    return {
        "triggerTime": "2026-11-27T09:00:00Z",
        "triggerName": "t",
        "payload": json.dumps(payload),
        **envelope,
    }


STRAY_FLAGS = [
    pytest.param({"InstanceId": "i-1", "options": {"DryRun": True}}, "options.DryRun", id="nested"),
    pytest.param(
        {"InstanceId": "i-1", "steps": [{"check": 1}, {"dry_run": "yes"}]},
        "steps[1].dry_run",
        id="in-a-list",
    ),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1", "meta": {"dryRun": True}}),
        "data.meta.dryRun",
        id="cloud-event-data",
    ),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1"}, extension={"dryrun": True}),
        "extension.dryrun",
        id="cloud-event-envelope",
    ),
    pytest.param(
        _cloud_event_with({"value": json.dumps({"InstanceId": "i-1", "x": {"DryRun": True}})}),
        "data.value.x.DryRun",
        id="inside-a-message",
    ),
    pytest.param(
        [{"topic": "t", "headers": {"Dry-Run": "true"}, "value": '{"InstanceId": "i-1"}'}],
        "headers.Dry-Run",
        id="rawdata-record",
    ),
    pytest.param(
        _timer({"InstanceId": "i-1", "o": {"DryRun": True}}), "payload.o.DryRun", id="timer"
    ),
]


@pytest.mark.parametrize(("event", "location"), STRAY_FLAGS)
def test_a_dry_run_flag_off_the_way_is_refused_not_ignored(
    emulator, invoke: Invoke, event: object, location: str
):
    """GIVEN an event whose dry-run flag sits inside some other field, not beside the
    InstanceId nor on an object enclosing it, where the function would not read it
    WHEN the function receives it
    THEN it is rejected with InvalidParameter.DryRun naming where the flag is, and nothing is
    deleted: a misplaced dry run never turns into a deletion."""
    emulator.add_instances("i-1")

    run = invoke(event)

    assert run.result is not None
    document = run.result["Results"][0] if "Results" in run.result else run.result
    assert_valid_result(document)
    assert document["Code"] == "InvalidParameter.DryRun"
    assert f"at {location} is not where one counts" in document["Message"]
    assert emulator.journal() == []


SECOND_INSTANCES = [
    pytest.param({"InstanceId": "i-1", "instanceId": "i-2"}, "instanceId", id="other-case"),
    pytest.param({"InstanceId": "i-1", "INSTANCE_ID": "i-2"}, "INSTANCE_ID", id="other-spelling"),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1", "instanceID": "i-2"}),
        "data.instanceID",
        id="cloud-event-data",
    ),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1"}, InstanceId="i-2"),
        "InstanceId",
        id="cloud-event-envelope",
    ),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1", "body": {"InstanceId": "i-2"}}),
        "data.body.InstanceId",
        id="beside-a-message-that-names-one",
    ),
    pytest.param(
        _cloud_event_with({"instanceId": "i-2", "value": '{"InstanceId": "i-1"}'}),
        "data.instanceId",
        id="on-the-record-that-holds-the-message",
    ),
    pytest.param(
        [{"InstanceId": "i-1", "value": '{"InstanceId": "i-2"}'}],
        "value.InstanceId",
        id="rawdata-record",
    ),
    pytest.param(
        [{"InstanceId": "i-1", "value": '[{"InstanceId": "i-2"}]'}],
        "value[0].InstanceId",
        id="in-a-message-that-is-a-list",
    ),
    pytest.param(
        _cloud_event_with(
            {
                "httpMethod": "POST",
                "body": {"InstanceId": "i-1"},
                "queryString": {"instanceId": "i-2"},
            }
        ),
        "data.queryString.instanceId",
        id="in-an-http-source-query-string",
    ),
    pytest.param(_timer({"InstanceId": "i-1"}, InstanceId="i-2"), "InstanceId", id="timer"),
    # A list of further instances beside the one read would be dropped without a word.
    pytest.param({"InstanceId": "i-1", "InstanceIds": ["i-2"]}, "InstanceIds", id="a-list"),
    # Alibaba Cloud's RPC APIs name the elements of a list InstanceId.1, InstanceId.2...
    pytest.param({"InstanceId": "i-1", "InstanceId.2": "i-2"}, '["InstanceId.2"]', id="rpc-list"),
    pytest.param({"InstanceId": "i-1", "InstanceId[]": "i-2"}, '["InstanceId[]"]', id="brackets"),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1", "instance_id_list": ["i-2"]}),
        "data.instance_id_list",
        id="a-list-in-cloudevent-data",
    ),
    # On the request itself, names of instances read more widely.
    pytest.param({"InstanceId": "i-1", "Instances": ["i-2"]}, "Instances", id="instances"),
    pytest.param({"InstanceId": "i-1", "InstanceList": ["i-2"]}, "InstanceList", id="list"),
    pytest.param(
        {"InstanceId": "i-1", "TargetInstanceIds": ["i-2"]}, "TargetInstanceIds", id="prefixed"
    ),
    pytest.param(
        {"InstanceId": "i-1", "InstanceIdsToDelete": "i-2"}, "InstanceIdsToDelete", id="suffixed"
    ),
    # A direct customer's CustSpaceId is its instance ID.
    pytest.param({"InstanceId": "i-1", "CustSpaceId": "i-2"}, "CustSpaceId", id="cust-space"),
    pytest.param(
        {"InstanceId": "i-1", "Targets": [{"InstanceId": "i-2"}]},
        "Targets[0].InstanceId",
        id="in-a-list-of-objects",
    ),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1", "Instances": [{"Id": "i-2"}]}),
        "data.Instances",
        id="instances-in-cloudevent-data",
    ),
]


@pytest.mark.parametrize(("event", "location"), SECOND_INSTANCES)
def test_an_event_that_names_two_instances_is_refused(
    emulator, invoke: Invoke, event: object, location: str
):
    """GIVEN an event that names a second instance besides the InstanceId the function
    reads: in another case or spelling, or as a list (InstanceIds), beside it, in a
    message beside it, or on an envelope or record around it
    WHEN the function receives it
    THEN it is rejected with InvalidParameter.InstanceId naming where the second one is,
    and neither is deleted: which one the caller meant is unknown."""
    emulator.add_instances("i-1", "i-2")

    run = invoke(event)

    assert run.result is not None
    document = run.result["Results"][0] if "Results" in run.result else run.result
    assert_valid_result(document)
    assert document["Outcome"] == "rejected"
    assert document["Code"] == "InvalidParameter.InstanceId"
    assert f"{location} names an instance too" in document["Message"]
    assert emulator.journal() == []


@pytest.mark.parametrize(
    "event",
    [
        {"InstanceId": "i-1", "Instances": ["i-2"]},
        {"InstanceId": "i-1", "simulate": True},
        _cloud_event_with({"InstanceId": "i-1", "options": {"DryRun": True}}),
        b'{"InstanceId": "i-1", "options": {"a": 1, "a": 2}}',
    ],
    ids=[
        "second-instance",
        "dry-run-synonym",
        "misplaced-flag-in-cloudevent-data",
        "repeated-key",
    ],
)
def test_a_refused_request_names_the_instance_it_did_not_delete(
    emulator, invoke: Invoke, event: object
):
    """GIVEN a request refused for what lies beside its InstanceId
    WHEN the function receives it
    THEN the result and the deletion line name that InstanceId: an event's refusal is read
    in the log, which must say which instance is still there."""
    emulator.add_instances("i-1", "i-2")

    run = invoke(event)

    assert run.result is not None
    assert run.result["Outcome"] == "rejected"
    [line] = run.lines("deletion")
    assert run.result["InstanceId"] == line["instance_id"] == "i-1"
    assert emulator.instances() == {"i-1", "i-2"}


@pytest.mark.parametrize("size", [1, 2])
def test_a_refused_record_is_named_in_its_line(emulator, invoke: Invoke, size: int):
    """GIVEN a RawData batch whose last record names its instance as instanceId, a record
    with no event id, alone or after one that is deleted
    WHEN the function receives it
    THEN the refused record's line says where in the batch it was and the value it named,
    so that it can be found and sent again."""
    emulator.add_instances("i-1", "i-2")
    records = [
        {"topic": "t", "partition": 0, "offset": 1, "value": '{"InstanceId": "i-1"}'},
        {"topic": "t", "partition": 0, "offset": 2, "value": '{"instanceId": "i-2"}'},
    ]

    run = invoke(records[-size:])

    assert run.result is not None
    outcomes = [item["Outcome"] for item in run.result["Results"]]
    assert outcomes == ["deleted", "rejected"][-size:]
    refused = [line for line in run.lines("deletion") if line["outcome"] == "rejected"]
    assert len(refused) == 1
    assert refused[0]["batch_index"] == size - 1
    assert "found 'instanceId' ('i-2')" in refused[0]["message"]
    assert "i-2" in emulator.instances()
    assert run.lines("invocation")[0]["source"] == "batch"


MISNAMED_FLAGS = [
    pytest.param({"InstanceId": "i-1", "isDryRun": True}, "isDryRun", id="prefixed"),
    pytest.param({"InstanceId": "i-1", "DryRunMode": "true"}, "DryRunMode", id="suffixed"),
    pytest.param({"InstanceId": "i-1", "dry:run": True}, '["dry:run"]', id="colon"),
    pytest.param({"InstanceId": "i-1", "DRY_RUN_MODE": "on"}, "DRY_RUN_MODE", id="capitals"),
    pytest.param({"InstanceId": "i-1", "isdryrun": True}, "isdryrun", id="one-word"),
    pytest.param({"InstanceId": "i-1", "DRYrunMode": "on"}, "DRYrunMode", id="odd-capitals"),
    # A word that only ends in "dry" is refused too: a rename costs less than a deletion.
    pytest.param({"InstanceId": "i-1", "laundryRunId": 7}, "laundryRunId", id="laundry"),
    pytest.param({"InstanceId": "i-1", "Dry\u00b7Run": 1}, '["Dry\\u00b7Run"]', id="middle-dot"),
    # Lookalike letters, as pasted text carries them: Cyrillic U+0443, Armenian U+057D.
    pytest.param({"InstanceId": "i-1", "Dr\u0443Run": True}, '["Dr\\u0443Run"]', id="cyrillic-y"),
    pytest.param({"InstanceId": "i-1", "DryR\u057dn": True}, '["DryR\\u057dn"]', id="armenian-u"),
    pytest.param(
        {"InstanceId": "i-1", "is_\u0434ry_\u0433un": True},
        '["is_\\u0434ry_\\u0433un"]',
        id="two-lookalikes",
    ),
    # A long key is read whole: the flag at its end is found.
    pytest.param(
        {"InstanceId": "i-1", "x" * 300 + "DryRun": True}, '["' + "x" * 29 + '..."]', id="long"
    ),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1", "opts": {"is_dry_run": True}}),
        "data.opts.is_dry_run",
        id="nested",
    ),
    pytest.param(
        _cloud_event_with({"InstanceId": "i-1", "queryString": {"dryRunOnly": "true"}}),
        "data.queryString.dryRunOnly",
        id="in-a-query-string",
    ),
]


@pytest.mark.parametrize(("event", "location"), MISNAMED_FLAGS)
def test_a_dry_run_flag_under_a_name_not_read_is_refused(
    emulator, invoke: Invoke, event: object, location: str
):
    """GIVEN an event with a field whose name holds "dry run" but is not one the function
    reads as a flag (isDryRun, DryRunMode, dry:run...), saying anything but false
    WHEN the function receives it
    THEN it is rejected with InvalidParameter.DryRun naming the field, and nothing is
    deleted: a misspelt dry run never turns into a deletion."""
    emulator.add_instances("i-1")

    run = invoke(event)

    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Code"] == "InvalidParameter.DryRun"
    assert f"{location} reads like a dry-run flag" in run.result["Message"]
    assert emulator.journal() == []


def test_a_flag_with_an_accent_reads_as_one(emulator, invoke: Invoke):
    """GIVEN an event whose dry-run flag carries a combining accent (Dry\u0301Run)
    WHEN the function receives it
    THEN it reads as DryRun: the dry run is honoured and nothing is deleted."""
    emulator.add_instances("i-1")

    run = invoke({"InstanceId": "i-1", "Dry\u0301Run": True})

    assert run.result is not None
    assert run.result["Outcome"] == "dry_run"
    assert emulator.instances() == {"i-1"}
    assert emulator.journal() == []


@pytest.mark.parametrize(
    "key",
    [
        "\u5907\u6ce8\u5907\u6ce8run",  # Chinese, then "run": no script of lookalikes
        "\u043f\u0440\u043e\u0433\u043e\u043d",  # a Russian word of six letters
        "\u0438\u043c\u044f\u0438\u043d\u0441\u0442\u0430\u043d\u0441",  # ten of them
        "Gr\u00f6\u00dfe",
    ],
)
def test_a_key_in_another_script_is_no_flag_and_no_instance(emulator, invoke: Invoke, key: str):
    """GIVEN an event with an extra field named in another script, of a flag's or an
    InstanceId's length
    WHEN the function receives it
    THEN the instance is deleted: a word of another script is not read as a Latin name.
    (Its value is a number: a yes or no under a name nothing reads is refused for that.)"""
    emulator.add_instances("i-1")

    run = invoke({"InstanceId": "i-1", key: 1})

    assert run.result is not None
    assert run.result["Outcome"] == "deleted", run.result["Message"]
    assert emulator.instances() == set()


@pytest.mark.parametrize(
    "event",
    [
        {"InstanceId": "i-1", "options": {"DryRun": False}},
        {"InstanceId": "i-1", "queries": [{"dryRun": "false"}]},
        {"InstanceId": "i-1", "body": "laundry run, not JSON"},
        {"InstanceId": "i-1", "comment": "retired after a dry run last week"},
        {"InstanceId": "i-1", "Instance": {"Name": "dry-run", "Status": "Running"}},
        {"InstanceId": "i-1", "headers": [{"key": "Dry-Run", "value": "false"}]},
        {"InstanceId": "i-1", "isDryRun": False},
        {"InstanceId": "i-1", "queryString": "verbose=1"},
        {"InstanceId": "i-1", "source": {"INSTANCE_ID": "MQ_INST_1", "instanceId": "q-1"}},
        {"InstanceId": "i-1", "CustSpaceId": "i-1"},
        {"InstanceId": "i-1", "SourceInstanceId": "i-0", "InstanceIdType": "cust"},
        {"InstanceId": "i-1", "History": [{"InstanceId": "i-1", "Action": "Suspend"}]},
        {"InstanceId": "i-1", "simulate": False, "whatIf": "false"},
        {"InstanceId": "i-1", "confirm": True, "execute": "yes", "wetRun": 1},
        {"InstanceId": "i-1", "commit": "3f2a9c1", "apply": "2026-12-01T00:00:00Z"},
        {"InstanceId": "i-1", "mode": "delete", "reason": "simulation", "note": "noop"},
        {"InstanceId": "i-1", "name": "dry-run"},
        {"InstanceId": "i-1", "Instance": {"Stage": "dry-run", "simulation": True}},
        _cloud_event_with({"topic": "simulation", "value": '{"InstanceId": "i-1"}'}),
        _cloud_event_with({"InstanceId": "i-1"}, source="dry-run", simulation="true"),
        _timer({"InstanceId": "i-1"}, triggerName="noop"),
        _http_source_event(
            headers={"X-Request-Id": "r-1", "X-Simulate": "false"},
            queryString={"confirm": "true", "source": "cleanup"},
        ),
        {"InstanceId": "i-1", "tags": ["prod", "dry-run-tested"], "payload": "daily cleanup"},
        {"InstanceId": "i-1", "retries": 0, "reason": "no longer used", "Owner": {"Active": True}},
    ],
    ids=[
        "false",
        "false-as-text",
        "text-not-about-a-dry-run",
        "text-that-is-no-message",
        "a-name-without-a-value",
        "a-pair-that-says-false",
        "a-misnamed-flag-that-says-false",
        "query-text-not-about-a-dry-run",
        "an-instance-of-something-else-nested-deeper",
        "the-same-instance-as-a-cust-space-id",
        "one-instance-id-about-something-else",
        "the-same-instance-in-a-list",
        "another-name-for-a-dry-run-that-says-false",
        "names-for-going-ahead-that-say-true",
        "names-for-going-ahead-that-say-something-else",
        "a-mode-that-is-no-dry-run-and-other-words",
        "a-name-without-a-value-beside-the-instance",
        "words-for-a-dry-run-nested-deeper",
        "a-record-whose-topic-is-such-a-word",
        "a-cloudevent-whose-attributes-are",
        "a-timer-named-noop",
        "an-http-source-whose-headers-and-query-ask-nothing",
        "words-and-text-that-are-no-dry-run",
        "fields-that-are-no-switch-and-a-switch-nested-deeper",
    ],
)
def test_what_off_the_way_asks_no_dry_run_is_let_be(emulator, invoke: Invoke, event):
    """GIVEN an event with, off the way to the InstanceId, a dry-run flag or name/value pair
    that says false, an object named dry-run with no value, message text that is not JSON
    and does not mention a dry run, other text that does, or the id of an instance of
    something else nested in another field
    WHEN the function receives it
    THEN the instance is deleted: only flags, and message text, are read for a dry run, and
    only the objects on the way, their messages and query strings, for a second instance."""
    emulator.add_instances("i-1")

    run = invoke(event)

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"
    assert emulator.instances() == set()


@pytest.mark.parametrize(
    ("event", "location"),
    [
        pytest.param({"InstanceId": "i-1", "simulate": True}, "simulate", id="simulate"),
        pytest.param({"InstanceId": "i-1", "what_if": "1"}, "what_if", id="what-if"),
        pytest.param({"InstanceId": "i-1", "noOp": True}, "noOp", id="no-op"),
        pytest.param({"InstanceId": "i-1", "preview": True}, "preview", id="preview"),
        pytest.param({"InstanceId": "i-1", "plan_only": "1"}, "plan_only", id="plan-only"),
        pytest.param({"InstanceId": "i-1", "confirm": False}, "confirm", id="confirm-false"),
        pytest.param({"InstanceId": "i-1", "execute": "false"}, "execute", id="execute-false"),
        pytest.param({"InstanceId": "i-1", "wet_run": 0}, "wet_run", id="wet-run-zero"),
        pytest.param({"InstanceId": "i-1", "Confirmed": "No"}, "Confirmed", id="confirmed-no"),
        pytest.param({"InstanceId": "i-1", "apply": None}, "apply", id="apply-null"),
        pytest.param(
            _cloud_event_with({"InstanceId": "i-1", "validateOnly": True}),
            "data.validateOnly",
            id="validate-only-in-cloudevent-data",
        ),
        pytest.param({"InstanceId": "i-1", "mode": "dry-run"}, "mode", id="mode-dry-run"),
        pytest.param({"InstanceId": "i-1", "Mode": "DRY_RUN"}, "Mode", id="mode-capitals"),
        pytest.param(
            [{"topic": "t", "value": '{"InstanceId": "i-1", "run": "DryRun"}'}],
            "value.run",
            id="a-word-in-a-record-message",
        ),
        pytest.param(
            _timer({"InstanceId": "i-1", "checkMode": True}),
            "payload.checkMode",
            id="check-mode-in-a-timer-payload",
        ),
    ],
)
def test_another_name_for_a_dry_run_is_refused(
    emulator, invoke: Invoke, event: object, location: str
):
    """GIVEN a request that asks for a dry run as other tools name one, under a key of its
    own (simulate, what_if, noOp, validateOnly, preview) that is not false, under a name
    for going ahead (confirm, execute, wet_run) that says no, or as the word it gives
    for what to do ("mode": "dry-run")
    WHEN the function receives it
    THEN it is refused with InvalidParameter.DryRun naming the field, and nothing is
    deleted: the function reads only DryRun, and a dry run it would not read must not
    become a deletion."""
    assert_refused_as_a_dry_run(emulator, invoke, event, f"{location} may ask for a dry run")


def assert_refused_as_a_dry_run(
    emulator: CamsEmulator, invoke: Invoke, event: object, problem: str
) -> None:
    """The event naming i-1 is refused with InvalidParameter.DryRun saying `problem` and
    how to ask for a dry run, naming i-1, and CAMS is not called."""
    emulator.add_instances("i-1")

    run = invoke(event)

    assert run.result is not None
    document = run.result["Results"][0] if "Results" in run.result else run.result
    assert_valid_result(document)
    assert document["Code"] == "InvalidParameter.DryRun"
    assert document["InstanceId"] == "i-1"
    assert problem in document["Message"]
    assert '"DryRun": true' in document["Message"]
    assert emulator.journal() == []
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize(
    ("event", "location"),
    [
        pytest.param({"InstanceId": "i-1", "delete": False}, "delete", id="delete-false"),
        pytest.param({"InstanceId": "i-1", "Delete": "no"}, "Delete", id="delete-no"),
        pytest.param({"InstanceId": "i-1", "approved": False}, "approved", id="approved-false"),
        pytest.param({"InstanceId": "i-1", "DryRum": True}, "DryRum", id="misspelt-dry-run"),
        pytest.param({"InstanceId": "i-1", "dyrRun": "true"}, "dyrRun", id="transposed"),
        pytest.param({"InstanceId": "i-1", "checkOnly": "On"}, "checkOnly", id="check-only"),
        pytest.param({"InstanceId": "i-1", "test": True}, "test", id="test"),
        pytest.param({"InstanceId": "i-1", "delete": "  false   "}, "delete", id="padded"),
        pytest.param({"InstanceId": "i-1", "DryRum": "y"}, "DryRum", id="y"),
        pytest.param(
            _cloud_event_with({"InstanceId": "i-1", "proceed": False}),
            "data.proceed",
            id="in-cloudevent-data",
        ),
        pytest.param(
            [{"topic": "t", "value": '{"InstanceId": "i-1", "dryRn": true}'}],
            "value.dryRn",
            id="in-a-record-message",
        ),
        pytest.param(
            _timer({"InstanceId": "i-1", "delete": "false"}), "payload.delete", id="in-a-timer"
        ),
    ],
)
def test_a_yes_or_no_field_nothing_reads_is_refused(
    emulator, invoke: Invoke, event: object, location: str
):
    """GIVEN a request with a field of its own that says yes or no (a JSON boolean, or
    "true", "no", "on"...) under a name the function reads nowhere: a switch that may say
    not to delete ("delete": false), or a misspelt DryRun ("DryRum": true)
    WHEN the function receives it
    THEN it is refused with InvalidParameter.DryRun naming the field, and nothing is
    deleted: the function cannot tell such a switch from one it would wrongly ignore."""
    assert_refused_as_a_dry_run(emulator, invoke, event, f"{location} says yes or no")


def test_a_dry_run_flag_on_a_timer_event_counts(emulator, invoke: Invoke):
    """GIVEN a timer event whose envelope says DryRun: true beside the payload
    WHEN the function receives it
    THEN it is a dry run: the envelope encloses the payload."""
    emulator.add_instances("i-1")

    run = invoke(_timer({"InstanceId": "i-1"}, DryRun=True))

    assert run.result is not None
    assert run.result["Outcome"] == "dry_run"
    assert emulator.instances() == {"i-1"}


def test_the_search_for_stray_flags_goes_deeper_than_the_recursion_limit():
    """GIVEN an object whose other field nests lists twice as deep as Python may recurse,
    with a dry-run flag at the bottom
    WHEN the function looks through it for a stray dry-run flag
    THEN it finds the flag, rather than failing on the depth, and shows the end of its
    location, where the flag's name is."""
    from cams_delete.flags import find_unread

    depth = 2 * sys.getrecursionlimit()
    nested: object = {"DryRun": True}
    for _ in range(depth):
        nested = [nested]

    found = find_unread({"InstanceId": "i-1", "x": nested}, "data.", skip=("InstanceId",))

    assert found is not None
    assert found.location == "…" + ("data.x" + "[0]" * depth + ".DryRun")[-128:]


def test_the_search_for_stray_flags_takes_memory_in_proportion_to_its_depth():
    """GIVEN an object whose other field has a 30,000-character key over 100,000 empty lists
    WHEN the function looks through it for a stray dry-run flag
    THEN it finds none using under 100 kB: it holds one iterator per level, and spells out
    no location until one is needed (a 128 MB function would otherwise run out of memory
    on an event of a few MB)."""
    import tracemalloc

    from cams_delete.flags import find_unread

    event = {"InstanceId": "i-1", "k" * 30_000: [[] for _ in range(100_000)]}

    tracemalloc.start()
    try:
        found = find_unread(event, "", skip=("InstanceId",))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert found is None
    assert peak < 100_000


def test_a_long_key_is_read_for_a_flag_without_expanding_it_whole():
    """GIVEN a key of 300,000 characters, each of which NFKC turns into 18 (U+FDFA)
    WHEN the function asks whether it names a dry-run flag
    THEN the answer is no, found using under 100 kB: it stops after a few letters."""
    import tracemalloc

    from cams_delete.flags import is_dry_run_name

    key = "\ufdfa" * 300_000

    tracemalloc.start()
    try:
        named = is_dry_run_name(key)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert named is False
    assert peak < 100_000


@pytest.mark.parametrize(
    ("event", "location"),
    [
        ({"InstanceId": "i-1", "a.b": {"DryRun": True}}, '["a.b"].DryRun'),
        ({"InstanceId": "i-1", "a": {"b c": [{"dry_run": True}]}}, 'a["b c"][0].dry_run'),
        ({"InstanceId": "i-1", "k" * 40: {"DryRun": True}}, '["' + "k" * 29 + '..."].DryRun'),
    ],
    ids=["dotted-key", "spaced-key", "long-key"],
)
def test_a_stray_flags_location_reads_one_way_only(emulator, invoke: Invoke, event, location):
    """GIVEN a stray dry-run flag under a key with a dot or a space in it, or a long one
    WHEN the function refuses it
    THEN the location writes that key as JSON in brackets, so it cannot be read as nesting,
    shortened when long."""
    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "InvalidParameter.DryRun"
    assert f"at {location} is not where one counts" in run.result["Message"]


ALSO_READ_FOR_FLAGS = [
    pytest.param(
        b'{"InstanceId": "i-1", "queryString": {"dryRun": "true", "dryRun": "false"}}',
        "InvalidParameter.RepeatedKey",
        id="query-string-repeats-its-flag",
    ),
    pytest.param(
        b'{"InstanceId": "i-1", "options": {"DryRun": true, "DryRun": false}}',
        "InvalidParameter.RepeatedKey",
        id="nested-object-repeats-a-flag",
    ),
    pytest.param(
        b'{"InstanceId": "i-1", "meta": {"options": {"DryRun": true}, "options": {}}}',
        "InvalidParameter.RepeatedKey",
        id="nested-object-repeats-what-holds-a-flag",
    ),
    pytest.param(
        b'{"InstanceId": "i-1", "body": "{\\"DryRun\\": true}"}',
        "InvalidParameter.DryRun",
        id="message-text-beside-the-instance",
    ),
    pytest.param(
        b'[{"value": "{\\"InstanceId\\": \\"i-1\\"}",'
        b' "body": "{\\"InstanceId\\": \\"i-1\\", \\"DryRun\\": true}"}]',
        "InvalidEvent",
        id="two-message-fields",
    ),
    pytest.param(
        b'{"InstanceId": "i-1", "body": "\\ufeff{\\"DryRun\\": true}"}',
        "InvalidParameter.DryRun",
        id="unparsable-message-text-mentioning-a-dry-run",
    ),
    pytest.param(
        b'[{"topic": "t", "headers": {"headers": [{"key": "DryRun", "value": "true"}]},'
        b' "value": "{\\"InstanceId\\": \\"i-1\\"}"}]',
        "InvalidParameter.DryRun",
        id="kafka-header-pair",
    ),
    pytest.param(
        json.dumps(
            _cloud_event_with(
                {
                    "httpMethod": "POST",
                    "headers": {"X-Dry-Run": "true"},
                    "queryString": {},
                    "body": '{"InstanceId": "i-1"}',
                }
            )
        ).encode(),
        "InvalidParameter.DryRun",
        id="http-source-header",
    ),
    pytest.param(
        b'{"InstanceId": "i-1", "queryString": {"opts": {"dryRun": "true"}}}',
        "InvalidParameter.DryRun",
        id="flag-nested-in-a-query-string",
    ),
    pytest.param(
        b'{"InstanceId": "i-1", "queryString": [{"dryRun": "true"}]}',
        "InvalidParameter.DryRun",
        id="query-string-as-a-list",
    ),
    pytest.param(
        b'{"triggerTime": "t", "triggerName": "n", "payload": "{\\"InstanceId\\": \\"i-1\\"}",'
        b' "payload": "{\\"InstanceId\\": \\"i-1\\", \\"DryRun\\": true}"}',
        "InvalidParameter.RepeatedKey",
        id="timer-envelope-repeats-its-payload",
    ),
    pytest.param(
        json.dumps(_timer({"InstanceId": "i-1"}, extra={"DryRun": True})).encode(),
        "InvalidParameter.DryRun",
        id="timer-envelope-nests-a-flag",
    ),
]


@pytest.mark.parametrize(("event", "code"), ALSO_READ_FOR_FLAGS)
def test_objects_read_for_flags_are_held_to_the_same_rules(
    emulator, invoke: Invoke, event: bytes, code: str
):
    """GIVEN a query string or another object beside the InstanceId that repeats a key or
    nests a flag, or a timer envelope that does
    WHEN the function receives it
    THEN it is refused, and nothing is deleted: a parser keeping the first of two values, or
    a flag one level further in, would have meant a dry run."""
    emulator.add_instances("i-1")
    assert json.loads(event)

    run = invoke(event)

    assert run.result is not None
    document = run.result["Results"][0] if "Results" in run.result else run.result
    assert document["Code"] == code
    assert emulator.journal() == []


def test_a_cloud_event_with_both_data_and_data_base64_is_refused(emulator, invoke: Invoke):
    """GIVEN a CloudEvent with data naming an instance and data_base64 asking for a dry run
    of it (the CloudEvents JSON format allows one of the two)
    WHEN the function receives it
    THEN it is refused as InvalidEvent saying to send one, and nothing is deleted."""
    import base64

    emulator.add_instances("i-1")
    asked = base64.b64encode(b'{"InstanceId": "i-1", "DryRun": true}').decode()
    event = _cloud_event_with({"InstanceId": "i-1"}, data_base64=asked)

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "InvalidEvent"
    assert "both data and data_base64" in run.result["Message"]
    assert emulator.journal() == []


@pytest.mark.parametrize("encoded", ["not base64!", "bm90IGpzb24=", 42], ids=str)
def test_data_base64_that_is_not_json_says_so(emulator, invoke: Invoke, encoded: object):
    """GIVEN a CloudEvent whose data_base64 is not base64, decodes to text that is not JSON
    ("not json"), or is not a string
    WHEN the function receives it
    THEN InvalidEvent says data_base64 must be base64 of JSON text."""
    event = load_event("eventbridge-cloudevent.json")
    del event["data"]
    event["data_base64"] = encoded

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "InvalidEvent"
    assert "data_base64 must be base64 of JSON text" in run.result["Message"]


def test_a_byte_order_mark_is_named(emulator, invoke: Invoke):
    """GIVEN an event that starts with a UTF-8 byte order mark
    WHEN the function receives it
    THEN InvalidEvent says so, rather than pointing at a character the caller cannot see."""
    run = invoke(b"\xef\xbb\xbf" + event_bytes("direct.json"))

    assert run.result is not None
    assert run.result["Code"] == "InvalidEvent"
    assert "byte order mark" in run.result["Message"]


@pytest.mark.parametrize(
    ("event", "code", "hint"),
    [
        pytest.param(
            {"InstanceId": "i-1", "header": {"key": "DryRun", "value": "true"}},
            "InvalidParameter.DryRun",
            "the dry-run flag at header is not where one counts",
            id="name-value-pair-on-the-object",
        ),
        pytest.param(
            {"InstanceId": "i-1", "tags": [{"Name": "dry-run", "Value": "yes"}]},
            "InvalidParameter.DryRun",
            "the dry-run flag at tags[0] is not where one counts",
            id="name-value-pair-in-a-tag-list",
        ),
        pytest.param(
            {"InstanceId": "i-1", "h": {"key": "DryRun", "value": "false", "Value": "true"}},
            "InvalidParameter.DryRun",
            "the dry-run flag at h is not where one counts",
            id="pair-with-two-values-one-true",
        ),
        pytest.param(
            {"InstanceId": "i-1", "key": "DryRun", "value": "true"},
            "InvalidParameter.DryRun",
            "key and its value name a dry-run flag as a name/value pair",
            id="the-request-itself-a-name-value-pair",
        ),
        pytest.param(
            [{"topic": "t", "key": "dry-run", "value": '{"InstanceId": "i-1"}'}],
            "InvalidParameter.DryRun",
            "key and its value name a dry-run flag as a name/value pair",
            id="a-record-keyed-dry-run",
        ),
        pytest.param(
            [{"InstanceId": "i-1", "body": "isDryRun=true"}],
            "InvalidParameter.DryRun",
            "body mentions a dry run but is not a JSON object the function can read",
            id="unparsable-message-text-with-a-prefixed-flag",
        ),
        pytest.param(
            {"InstanceId": "i-1", "queryString": "dryRun=true"},
            "InvalidParameter.DryRun",
            "queryString mentions a dry run",
            id="query-text",  # a query string is read only as an object
        ),
        pytest.param(
            {"InstanceId": "i-1", "queryString": "XDryRun=1"},
            "InvalidParameter.DryRun",
            "queryString mentions a dry run",
            id="query-text-with-a-prefixed-flag",
        ),
        pytest.param(
            {"InstanceId": "i-1", "body": "dry%20run=1&InstanceId=i-1"},
            "InvalidParameter.DryRun",
            "body mentions a dry run",
            id="form-encoded-message-text",
        ),
        pytest.param(
            {"InstanceId": "i-1", "queryString": "%64ry%52un=true"},
            "InvalidParameter.DryRun",
            "queryString mentions a dry run",
            id="query-text-with-encoded-letters",
        ),
        pytest.param(
            {"InstanceId": "i-1", "body": "\uff24ry\uff32un: yes"},
            "InvalidParameter.DryRun",
            "body mentions a dry run",
            id="message-text-in-full-width-letters",
        ),
        pytest.param(
            {"InstanceId": "i-1", "body": "dry%2520run=1"},
            "InvalidParameter.DryRun",
            "body mentions a dry run",
            id="message-text-encoded-twice",
        ),
        pytest.param(
            {"InstanceId": "i-1", "queryString": "%EF%BC%A4ry%EF%BC%B2un%3Dtrue"},
            "InvalidParameter.DryRun",
            "queryString mentions a dry run",
            id="query-text-encoded-full-width",
        ),
        pytest.param(
            {"InstanceId": "i-1", "body": "Dry\u3164Run=1"},
            "InvalidParameter.DryRun",
            "body mentions a dry run",
            id="message-text-with-a-blank-filler",
        ),
        # An EventBridge HTTP source: what the FC trigger refuses in a request's headers
        # and query, refused in the event's too.
        pytest.param(
            _http_source_event(headers={"X-Simulate": "true"}),
            "InvalidParameter.DryRun",
            "data.headers.X-Simulate may ask for a dry run",
            id="http-source-simulate-header",
        ),
        pytest.param(
            _http_source_event(queryString={"whatIf": "1"}),
            "InvalidParameter.DryRun",
            "data.queryString.whatIf may ask for a dry run",
            id="http-source-query-synonym",
        ),
        pytest.param(
            _http_source_event(queryString={"mode": "dry-run"}),
            "InvalidParameter.DryRun",
            "data.queryString.mode may ask for a dry run",
            id="http-source-query-mode",
        ),
        pytest.param(
            _http_source_event(queryString={"confirm": "false"}),
            "InvalidParameter.DryRun",
            "data.queryString.confirm may ask for a dry run",
            id="http-source-query-no-go-ahead",
        ),
        pytest.param(
            [
                {
                    "topic": "t",
                    "headers": [{"key": "isDryRun", "value": "true"}],
                    "value": '{"InstanceId": "i-1"}',
                }
            ],
            "InvalidParameter.DryRun",
            "the dry-run flag at headers[0] is not where one counts",
            id="a-kafka-header-pair-misnaming-a-flag",
        ),
        pytest.param(
            {"InstanceId": "i-1", "args": ["--verbose", "--dry-run"]},
            "InvalidParameter.DryRun",
            "args[1] may ask for a dry run",
            id="a-dry-run-word-in-a-list",
        ),
        pytest.param(
            {"InstanceId": "i-1", "payload": '{"DryRun": true}'},
            "InvalidParameter.DryRun",
            "payload mentions a dry run",
            id="json-text-in-a-payload-field",
        ),
        pytest.param(
            b'{"InstanceId": "i-1", "body": "\\ufeff{\\"DryRun\\": true}"}',
            "InvalidParameter.DryRun",
            "body mentions a dry run but is not a JSON object the function can read",
            id="unparsable-message-text",
        ),
        pytest.param(
            {"InstanceId": "i-1", "Instan\u0441eId": "i-2"},  # a Cyrillic U+0441 for its c
            "InvalidParameter.InstanceId",
            "names an instance too",
            id="a-second-instance-under-a-lookalike-name",
        ),
        pytest.param(
            [{"value": '{"InstanceId": "i-1"}', "body": '{"InstanceId": "i-1", "DryRun": true}'}],
            "InvalidEvent",
            "has value and body, and which one is the message is unknown",
            id="two-message-fields",
        ),
    ],
)
def test_refusals_say_where_and_what_to_fix(
    emulator, invoke: Invoke, event: object, code: str, hint: str
):
    """GIVEN a name/value pair that names a dry run beside the InstanceId or is the request
    or record itself, message text or query text that mentions one (as a word or a
    capitalised part of one) but does not parse, a second InstanceId under a lookalike
    name, or a record with two message fields
    WHEN the function receives it
    THEN it is refused with a Code and a Message that says where the problem is, and
    nothing is deleted."""
    emulator.add_instances("i-1")

    run = invoke(event)

    assert run.result is not None
    document = run.result["Results"][0] if "Results" in run.result else run.result
    assert document["Code"] == code
    assert hint in document["Message"]
    assert emulator.journal() == []


def test_a_dry_run_and_a_deletion_of_one_instance_in_a_batch(emulator, invoke: Invoke):
    """GIVEN a batch that asks for a dry run of i-1 and, in another element, its deletion
    WHEN the function receives it
    THEN each element gets its own answer: the dry run says that it deleted nothing, and
    the deletion deletes i-1, once."""
    emulator.add_instances("i-1")

    run = invoke([{"InstanceId": "i-1", "DryRun": True}, {"InstanceId": "i-1"}])

    assert run.result is not None
    dry_run, deletion = run.result["Results"]
    assert dry_run["Outcome"] == "dry_run"
    assert "this request deleted nothing" in dry_run["Message"]
    assert deletion["Outcome"] == "deleted"
    assert len(emulator.calls()) == 1
    assert emulator.instances() == set()


@pytest.mark.parametrize(
    "event",
    [
        _cloud_event_with({"InstanceId": "i-1", "DryRun": False}, dryrun=True),
        [{"topic": "t", "DryRun": True, "value": '{"InstanceId": "i-1", "DryRun": false}'}],
        _timer({"InstanceId": "i-1", "DryRun": False}, DryRun=True),
    ],
    ids=["cloudevent-envelope", "rawdata-record", "timer-envelope"],
)
def test_a_false_flag_inside_never_undoes_a_dry_run_outside(emulator, invoke: Invoke, event):
    """GIVEN an outer object that says DryRun true and the inner one, beside the
    InstanceId, that says false
    WHEN the function receives the event
    THEN it is a dry run: a true flag anywhere on the way wins, and nothing is deleted."""
    emulator.add_instances("i-1")

    run = invoke(event)

    assert run.result is not None
    document = run.result["Results"][0] if "Results" in run.result else run.result
    assert document["Outcome"] == "dry_run"
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize(
    "key",
    [
        "\uff29nstanceId",
        "\uff29\uff4e\uff53\uff54\uff41\uff4e\uff43\uff45\uff29\uff44",
        "InstanceId\u3164",  # a blank Hangul filler after it
    ],
)
def test_a_second_instance_id_in_full_width_letters_is_refused(emulator, invoke: Invoke, key):
    """GIVEN a request naming InstanceId i-1 and, under a full-width spelling of
    InstanceId (10 letters once normalised), or one with a blank filler letter, i-2
    WHEN the function receives it
    THEN it is refused as naming two instances, and CAMS is not called."""
    emulator.add_instances("i-1", "i-2")

    run = invoke({"InstanceId": "i-1", key: "i-2"})

    assert run.result is not None
    assert run.result["Code"] == "InvalidParameter.InstanceId"
    assert emulator.journal() == []


def test_dry_dot_run_is_a_dry_run(emulator, invoke: Invoke):
    """GIVEN {"InstanceId": "i-1", "Dry.Run": true} (the docs: any case, with _ - . or spaces)
    WHEN the function receives it
    THEN it is a dry run."""
    emulator.add_instances("i-1")

    run = invoke({"InstanceId": "i-1", "Dry.Run": True})

    assert run.result is not None
    assert run.result["Outcome"] == "dry_run"


def test_a_location_of_exactly_the_limit_is_shown_whole():
    from cams_delete.flags import _location

    assert _location("p" * 128, []) == "p" * 128


def test_a_refused_batch_lists_every_element_each_cut(emulator, invoke: Invoke, monkeypatch):
    """GIVEN MAX_BATCH_SIZE=1 and a batch of 25 requests, the first naming a 1000-character
    InstanceId
    WHEN it is refused
    THEN one batch_rejected line holds all 25, in order, none longer than 128 characters
    (README): nothing of what was delivered is missing from the log."""
    monkeypatch.setenv("MAX_BATCH_SIZE", "1")
    batch = [{"InstanceId": "a" * 1000}] + [{"InstanceId": f"b{n}"} for n in range(24)]

    run = invoke(batch)

    [refused] = run.lines("batch_rejected")
    assert len(refused["held"]) == 25
    assert refused["held"][1:] == [f"b{n}" for n in range(24)]
    assert max(map(len, refused["held"])) <= 128
    assert (refused["part"], refused["parts"], refused["unnamed"]) == (1, 1, 0)


def test_a_large_refused_batch_is_named_in_lines_of_100(emulator, invoke: Invoke, monkeypatch):
    """GIVEN MAX_BATCH_SIZE=100 and a batch of 250 requests
    WHEN it is refused
    THEN three batch_rejected lines, numbered 1 to 3 of 3, name all 250 in order between
    them, and CAMS is never called."""
    monkeypatch.setenv("MAX_BATCH_SIZE", "100")
    ids = [f"i-{n}" for n in range(250)]

    run = invoke([{"InstanceId": instance_id} for instance_id in ids])

    lines = run.lines("batch_rejected")
    assert [(line["part"], line["parts"]) for line in lines] == [(1, 3), (2, 3), (3, 3)]
    assert [len(line["held"]) for line in lines] == [100, 100, 50]
    assert [name for line in lines for name in line["held"]] == ids
    assert {line["level"] for line in lines} == {"error"}
    assert emulator.journal() == []


def test_a_refused_batch_beyond_10000_elements_counts_the_rest(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN MAX_BATCH_SIZE=1 and a batch of 10,005 requests
    WHEN it is refused
    THEN its lines name the first 10,000 and say that 5 more went unnamed."""
    monkeypatch.setenv("MAX_BATCH_SIZE", "1")

    run = invoke([{"InstanceId": f"i-{n}"} for n in range(10_005)])

    lines = run.lines("batch_rejected")
    assert len(lines) == 100
    assert sum(len(line["held"]) for line in lines) == 10_000
    assert lines[-1]["held"][-1] == "i-9999"
    assert {line["unnamed"] for line in lines} == {5}
    assert run.result is not None
    assert run.result["Total"] == 10_005
