"""The FC 3.0 HTTP trigger event built from a raw request, and the response read back."""

from __future__ import annotations

import base64
import json

import index
from cams_delete import sources
from cams_local.trigger import HttpRequest, build_event, response_from_result


def request(target: str = "/instances/cams-1", **overrides) -> HttpRequest:
    fields = {
        "method": "DELETE",
        "target": target,
        "protocol": "HTTP/1.1",
        "headers": [("Host", "localhost:9000"), ("User-Agent", "curl/8.4.0")],
        "body": b"",
        "source_ip": "127.0.0.1",
    }
    return HttpRequest(**(fields | overrides))


def test_event_has_the_fc3_shape_and_the_function_recognises_it():
    """GIVEN a DELETE with a query string
    WHEN it becomes an event
    THEN it has FC's fields (timeEpoch a string) and the function sees an HTTP trigger."""
    event = build_event(request("/instances/cams-1?dryRun=true"), request_id="1-x", now=1.5)

    assert event["version"] == "v1"
    assert event["rawPath"] == "/instances/cams-1"
    assert event["queryParameters"] == {"dryRun": "true"}
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "DELETE",
        "path": "/instances/cams-1",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "curl/8.4.0",
    }
    assert context["requestId"] == "1-x"
    assert context["timeEpoch"] == "1500"
    assert context["time"] == "1970-01-01T00:00:01Z"
    assert context["domainName"] == "localhost"
    assert context["domainPrefix"] == "localhost"
    recognised = sources.recognise(json.dumps(event).encode())
    assert isinstance(recognised, sources.HttpTriggerEvent)


def test_raw_path_stays_encoded_and_path_is_decoded():
    """GIVEN a path with an encoded slash and a raw space
    WHEN it becomes an event
    THEN rawPath is URL-encoded (the %2F kept) and http.path is decoded."""
    event = build_event(request("/instances/a%2Fb c"), request_id="1-x")

    assert event["rawPath"] == "/instances/a%2Fb%20c"
    assert event["requestContext"]["http"]["path"] == "/instances/a/b c"


def test_repeated_headers_and_query_keys_are_comma_joined():
    """GIVEN a header sent twice (in different case) and a query key sent twice
    WHEN they become an event
    THEN each arrives once, its values joined with commas, the first spelling kept."""
    headers = [("X-Multi", "a"), ("x-multi", "b"), ("Accept", "*/*")]
    event = build_event(request("/?k=1&k=2&e=", headers=headers), request_id="1-x")

    assert event["headers"]["X-Multi"] == "a,b"
    assert "x-multi" not in event["headers"]
    assert event["queryParameters"] == {"k": "1,2", "e": ""}


def test_binary_body_is_base64_and_text_body_is_not():
    """GIVEN a body that is not UTF-8, and one that is
    WHEN they become events
    THEN the first is base64 with isBase64Encoded, the second is text as sent."""
    binary = build_event(request(body=b"\xff\x00\xfe"), request_id="1-x")
    text = build_event(request(body='{"InstanceId": "é"}'.encode()), request_id="1-x")

    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\x00\xfe"
    assert text["isBase64Encoded"] is False
    assert text["body"] == '{"InstanceId": "é"}'


def test_the_handler_answers_a_built_event(context):
    """GIVEN a built event for a method the path does not take
    WHEN the real handler gets it as bytes
    THEN its answer reads back as a 405 response with Allow."""
    event = build_event(request(method="GET"), request_id="1-x")

    response = response_from_result(index.handler(json.dumps(event).encode(), context))

    assert response.status == 405
    assert response.headers["Allow"] == "DELETE"
    assert json.loads(response.body)["Code"] == "MethodNotAllowed"


def test_response_body_marked_base64_is_decoded():
    """GIVEN a handler result whose body is base64
    WHEN it is read back
    THEN the response carries the decoded bytes."""
    result = {"statusCode": 201, "headers": {"A": "b"}, "isBase64Encoded": True, "body": "AAE="}

    response = response_from_result(result)

    assert (response.status, response.headers, response.body) == (201, {"A": "b"}, b"\x00\x01")
