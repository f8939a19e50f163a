"""Every event shape FC delivers, from the fixtures in events/, through the real SDK
to the emulator: one normalized result per instance, valid against the schema."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Invoke, assert_valid_result, event_bytes, load_event


def test_eventbridge_cloudevent_deletes_the_instance_in_data(emulator, invoke: Invoke):
    """GIVEN an event-driven CloudEvent whose data.InstanceId names an existing instance
    WHEN the function receives it
    THEN CAMS deletes exactly that instance and the result says so."""
    emulator.add_instances("cams-7f3a9c01", "bystander")

    run = invoke(event_bytes("eventbridge-cloudevent.json"))

    assert run.error is None
    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Outcome"] == "deleted"
    assert run.result["Success"] is True
    assert run.result["Code"] == "OK"
    assert run.result["InstanceId"] == "cams-7f3a9c01"
    assert run.result["RequestId"]
    assert run.result["Message"] is None  # CAMS's literal "NULL"
    assert run.result["Attempts"] == 1
    assert emulator.instances() == {"bystander"}
    assert [call.instance_id for call in emulator.calls()] == ["cams-7f3a9c01"]


def test_redelivered_cloudevent_is_already_deleted_and_succeeds(emulator, invoke: Invoke):
    """GIVEN a CloudEvent that was delivered and handled once
    WHEN EventBridge delivers it again (at-least-once delivery)
    THEN the second run succeeds as already_deleted, without raising."""
    emulator.add_instances("cams-7f3a9c01")
    first = invoke(event_bytes("eventbridge-cloudevent.json"))

    second = invoke(event_bytes("eventbridge-cloudevent.json"))

    assert first.result is not None
    assert first.result["Outcome"] == "deleted"
    assert second.error is None
    assert second.result is not None
    assert_valid_result(second.result)
    assert second.result["Outcome"] == "already_deleted"
    assert second.result["Success"] is True
    assert second.result["Code"] == "InvalidInstanceId.NotFound"


def test_kafka_batch_keeps_input_order_and_deletes_a_duplicate_once(emulator, invoke: Invoke):
    """GIVEN an event-streaming batch of Kafka CloudEvents, one InstanceId appearing twice
    WHEN the function receives it
    THEN results come back in input order, and CAMS is asked once per distinct instance."""
    emulator.add_instances("cams-7f3a9c02", "cams-7f3a9c03")

    run = invoke(event_bytes("eventbridge-kafka-batch.json"))

    assert run.error is None
    assert run.result is not None
    assert_valid_result(run.result)
    ids = [item["InstanceId"] for item in run.result["Results"]]
    assert ids == ["cams-7f3a9c02", "cams-7f3a9c03", "cams-7f3a9c02"]
    assert [item["Outcome"] for item in run.result["Results"]] == ["deleted"] * 3
    assert run.result["Success"] is True
    assert run.result["Total"] == 3
    assert run.result["Counts"]["deleted"] == 3
    assert sorted(call.instance_id for call in emulator.calls()) == [
        "cams-7f3a9c02",
        "cams-7f3a9c03",
    ]
    assert emulator.instances() == set()


def test_batch_of_json_strings_is_understood(emulator, invoke: Invoke):
    """GIVEN a batch whose elements are JSON-encoded strings (older samples), MNS bodies inside
    WHEN the function receives it
    THEN each element is parsed and its instance deleted."""
    emulator.add_instances("9383883", "9383884")

    run = invoke(event_bytes("eventbridge-mns-batch-strings.json"))

    assert run.result is not None
    assert_valid_result(run.result)
    assert [item["InstanceId"] for item in run.result["Results"]] == ["9383883", "9383884"]
    assert run.result["Counts"]["deleted"] == 2
    assert emulator.instances() == set()


def test_rawdata_batch_of_kafka_records(emulator, invoke: Invoke):
    """GIVEN a Kafka batch delivered with the RawData schema (each record without its
    CloudEvent envelope, the request as JSON text in value)
    WHEN the function receives it
    THEN every instance named is deleted."""
    emulator.add_instances("cams-7f3a9c05", "cams-7f3a9c06")

    run = invoke(event_bytes("rawdata-batch.json"))

    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Success"] is True
    assert [item["InstanceId"] for item in run.result["Results"]] == [
        "cams-7f3a9c05",
        "cams-7f3a9c06",
    ]
    assert emulator.instances() == set()


@pytest.mark.parametrize(
    "element",
    [
        {"InstanceId": "i-raw"},
        {"messageId": "m-1", "messageBody": '{"InstanceId": "i-raw"}'},
        {"topic": "t", "systemProperties": {}, "body": {"InstanceId": "i-raw"}},
    ],
    ids=["plain", "mns", "rocketmq"],
)
def test_rawdata_elements_of_every_source(emulator, invoke: Invoke, element: dict):
    """GIVEN a RawData batch element as each source delivers it
    WHEN the function receives the batch
    THEN the instance it names is deleted."""
    emulator.add_instances("i-raw")

    run = invoke([element])

    assert run.result is not None
    assert run.result["Results"][0]["Outcome"] == "deleted"
    assert emulator.instances() == set()


@pytest.mark.parametrize(
    ("fixture", "instance_id"),
    [("direct.json", "cams-7f3a9c07"), ("timer.json", "cams-7f3a9c08")],
)
def test_direct_and_timer_payloads(emulator, invoke: Invoke, fixture: str, instance_id: str):
    """GIVEN a direct object ({"InstanceId"}) or a timer trigger whose payload holds one
    WHEN the function receives it
    THEN that instance is deleted and one result comes back."""
    emulator.add_instances(instance_id)

    run = invoke(event_bytes(fixture))

    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["InstanceId"] == instance_id
    assert run.result["Outcome"] == "deleted"
    assert emulator.instances() == set()


@pytest.mark.parametrize(
    ("fixture", "instance_id"),
    [("http-delete.json", "cams-7f3a9c09"), ("http-post.json", "cams-7f3a9c10")],
)
def test_http_routes_delete(emulator, invoke: Invoke, fixture: str, instance_id: str):
    """GIVEN an FC HTTP trigger event for DELETE /instances/{id} or POST / with a JSON body
    WHEN the function receives it
    THEN it answers 200 with a JSON body, and the instance is gone."""
    emulator.add_instances(instance_id)

    run = invoke(event_bytes(fixture))

    assert run.result is not None
    assert run.result["statusCode"] == 200
    assert run.result["isBase64Encoded"] is False
    assert run.result["headers"]["Content-Type"] == "application/json"
    assert_valid_result(run.body)
    assert run.body["Outcome"] == "deleted"
    assert run.body["InstanceId"] == instance_id
    assert emulator.instances() == set()


def test_http_dry_run_deletes_nothing(emulator, invoke: Invoke):
    """GIVEN DELETE /instances/{id}?dryRun=true
    WHEN the function receives it
    THEN it answers 200 dry_run and CAMS is never called."""
    emulator.add_instances("cams-7f3a9c11")

    run = invoke(event_bytes("http-dry-run.json"))

    assert run.result is not None
    assert run.result["statusCode"] == 200
    assert run.body["Outcome"] == "dry_run"
    assert run.body["Code"] == "DryRunOperation"
    assert emulator.instances() == {"cams-7f3a9c11"}
    assert emulator.calls() == []


def test_cloudevent_with_data_as_json_string(emulator, invoke: Invoke):
    """GIVEN a CloudEvent whose data arrives as a JSON string
    WHEN the function receives it
    THEN the string is parsed and the instance deleted."""
    emulator.add_instances("cams-7f3a9c01")
    event = load_event("eventbridge-cloudevent.json")
    event["data"] = json.dumps(event["data"])

    run = invoke(event)

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"


def test_cloudevent_with_data_base64(emulator, invoke: Invoke):
    """GIVEN a CloudEvent carrying data_base64 instead of data
    WHEN the function receives it
    THEN the decoded JSON names the instance."""
    import base64

    emulator.add_instances("cams-7f3a9c01")
    event = load_event("eventbridge-cloudevent.json")
    event["data_base64"] = base64.b64encode(json.dumps(event.pop("data")).encode()).decode()

    run = invoke(event)

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"


def test_http_post_with_base64_body(emulator, invoke: Invoke):
    """GIVEN an HTTP trigger event whose JSON body is base64 (isBase64Encoded true)
    WHEN the function receives it
    THEN the body is decoded before it is read."""
    import base64

    emulator.add_instances("cams-7f3a9c10")
    event = load_event("http-post.json")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True

    run = invoke(event)

    assert run.result is not None
    assert run.result["statusCode"] == 200
    assert run.body["Outcome"] == "deleted"


def test_empty_batch_succeeds_with_nothing_to_do(emulator, invoke: Invoke):
    """GIVEN an empty event-streaming batch
    WHEN the function receives it
    THEN it succeeds with zero results and calls nothing."""
    run = invoke([])

    assert run.result is not None
    assert_valid_result(run.result)
    assert run.result["Total"] == 0
    assert run.result["Success"] is True
    assert emulator.journal() == []


def test_a_rocketmq_batch_deletes_the_instance_in_its_body(emulator, invoke: Invoke):
    """GIVEN EventBridge's RocketMQ delivery: the request in data.body, beside
    systemProperties whose INSTANCE_ID names the queue's instance
    WHEN the batch, its one CloudEvent alone, and its record with the RawData schema arrive
    THEN each deletes the CAMS instance in the body: the queue's instance id is about
    something else, and is let be."""
    [event] = load_event("eventbridge-rocketmq-batch.json")
    assert event["data"]["systemProperties"]["INSTANCE_ID"].startswith("MQ_INST_")

    outcomes = []
    for delivery in ([event], event, [event["data"]]):
        emulator.add_instances("cams-7f3a9c13")
        run = invoke(delivery)
        assert run.result is not None
        document = run.result["Results"][0] if "Results" in run.result else run.result
        outcomes.append(document["Outcome"])

    assert outcomes == ["deleted", "deleted", "deleted"]
    assert [call.instance_id for call in emulator.calls()] == ["cams-7f3a9c13"] * 3


def test_data_base64_with_characters_outside_the_alphabet_is_refused(emulator, invoke: Invoke):
    """GIVEN a CloudEvent whose data_base64 is base64 of an InstanceId plus stray characters
    WHEN the function receives it
    THEN it is refused, and nothing is deleted."""
    import base64

    emulator.add_instances("i-1")
    encoded = base64.b64encode(b'{"InstanceId": "i-1"}').decode()
    event = load_event("eventbridge-cloudevent.json")
    del event["data"]
    event["data_base64"] = encoded[:4] + "!" + encoded[4:]

    run = invoke(event)

    assert run.result is not None
    assert run.result["Code"] == "InvalidEvent"
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize(
    "event",
    [
        {"triggerTime": "2026-11-27T09:00:00Z", "triggerName": "t", "InstanceId": "i-1"},  # S4
        {"requestContext": {"http": {"method": "POST"}}, "InstanceId": "i-1"},  # S7
        {"InstanceId": "i-1", "body": {"meta": {"InstanceId": "q-1"}}},  # F8
        {"InstanceId": "i-1", "options": {"body": "no dry run here"}},  # F12
    ],
    ids=[
        "timer-fields-without-payload",
        "http-context-without-rawPath",
        "instance-id-deep-in-a-body",
        "text-mentioning-dry-run-deep-down",
    ],
)
def test_objects_that_only_resemble_another_shape_are_direct_requests(
    emulator, invoke: Invoke, event
):
    """GIVEN a direct request that has some of a timer's or an HTTP trigger's fields, or an
    InstanceId / dry-run text nested below where one is read
    WHEN the function receives it
    THEN it is read as a direct request and its InstanceId deleted."""
    emulator.add_instances("i-1")

    run = invoke(event)

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"


def test_is_base64_encoded_must_be_the_json_true(emulator, invoke: Invoke):
    """GIVEN an HTTP envelope whose isBase64Encoded is the string "true" and whose body is
    plain JSON
    WHEN it arrives
    THEN the body is read as it is (only the JSON true marks base64)."""
    emulator.add_instances("cams-7f3a9c10")
    event = load_event("http-post.json")
    event["isBase64Encoded"] = "true"

    run = invoke(event)

    assert run.result is not None
    assert run.result["statusCode"] == 200
