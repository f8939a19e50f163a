"""The HTTP trigger: guards, routes and every status the function answers with."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from cams_local.fc import FunctionMeta, Python310Context
from tests.conftest import ROLE, Invoke, assert_valid_result, load_event, simulated_bug

TOKEN = "s3cr3t-bearer-token-for-tests"


def http_event(method: str = "DELETE", path: str = "/instances/i-1", **overrides) -> dict:
    event = load_event("http-delete.json")
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event.update(overrides)
    return event


def assert_json_response(run, status: int) -> dict:
    assert run.error is None, "an HTTP invocation never raises"
    assert run.result is not None
    assert run.result["statusCode"] == status
    assert run.result["isBase64Encoded"] is False
    assert run.result["headers"]["Content-Type"] == "application/json"
    reserved = [name for name in run.result["headers"] if name.lower().startswith("x-fc-")]
    assert reserved == [], "FC reserves x-fc- response headers, and sets x-fc-request-id itself"
    assert "Traceback" not in run.result["body"]
    body = run.body
    assert_valid_result(body)
    return body


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/instances/i-1", "DELETE"),
        ("POST", "/instances/i-1", "DELETE"),
        ("PUT", "/instances/i-1", "DELETE"),
        ("DELETE", "/", "POST"),
        ("GET", "/", "POST"),
        ("OPTIONS", "/", "POST"),
    ],
)
def test_other_methods_get_405_with_allow(emulator, invoke: Invoke, method, path, allow):
    """GIVEN a known path and a method it does not take
    WHEN the request arrives
    THEN 405 with an Allow header naming the method that works; nothing is called."""
    run = invoke(http_event(method, path))

    body = assert_json_response(run, 405)
    assert run.result is not None
    assert run.result["headers"]["Allow"] == allow
    assert body["Code"] == "MethodNotAllowed"
    assert emulator.journal() == []


@pytest.mark.parametrize("path", ["/instances", "/instances/a/b", "/other", "/instances/i-1/"])
def test_unknown_paths_get_404(emulator, invoke: Invoke, path):
    """GIVEN a path that is no route
    WHEN the request arrives
    THEN 404 NotFound naming the routes that exist."""
    run = invoke(http_event("DELETE", path))

    body = assert_json_response(run, 404)
    assert body["Code"] == "NotFound"
    assert "/instances/{InstanceId}" in body["Message"]


def test_url_encoded_slash_stays_inside_the_id_and_is_rejected(emulator, invoke: Invoke):
    """GIVEN DELETE /instances/a%2Fb (an encoded '/')
    WHEN the request arrives
    THEN the decoded ID 'a/b' is rejected as invalid, not routed elsewhere."""
    run = invoke(http_event("DELETE", "/instances/a%2Fb"))

    body = assert_json_response(run, 400)
    assert body["Code"] == "InvalidParameter.InstanceId"
    assert body["InstanceId"] == "a/b"


def test_url_encoded_id_is_decoded(emulator, invoke: Invoke):
    """GIVEN DELETE /instances/cams%2D1 (an encoded '-')
    WHEN the request arrives
    THEN the instance cams-1 is deleted."""
    emulator.add_instances("cams-1")

    run = invoke(http_event("DELETE", "/instances/cams%2D1"))

    body = assert_json_response(run, 200)
    assert body["InstanceId"] == "cams-1"
    assert emulator.instances() == set()


def test_body_over_64_kib_gets_413(emulator, invoke: Invoke):
    """GIVEN a POST body of 64 KiB + 1 byte
    WHEN the request arrives
    THEN 413 PayloadTooLarge, without parsing it."""
    event = http_event("POST", "/", body="x" * (64 * 1024 + 1))
    event["headers"]["Content-Type"] = "application/json"

    body = assert_json_response(invoke(event), 413)
    assert body["Code"] == "PayloadTooLarge"


def test_base64_body_over_64_kib_gets_413(emulator, invoke: Invoke):
    """GIVEN a base64 body that decodes to more than 64 KiB
    WHEN the request arrives
    THEN 413."""
    event = http_event("POST", "/", isBase64Encoded=True)
    event["body"] = base64.b64encode(b"x" * (64 * 1024 + 10)).decode()
    event["headers"]["Content-Type"] = "application/json"

    assert_json_response(invoke(event), 413)


def test_a_base64_body_one_byte_over_64_kib_gets_413(emulator, invoke: Invoke):
    """GIVEN POST / whose base64 body decodes to 64 KiB and one byte
    WHEN the request arrives
    THEN 413, as for the same bytes sent as text."""
    document = '{"InstanceId": "i-1"}'
    raw = (document + " " * (64 * 1024 + 1 - len(document))).encode()
    event = http_event(
        "POST", "/", body=base64.b64encode(raw).decode(), isBase64Encoded=True, headers=_JSON
    )

    assert assert_json_response(invoke(event), 413)["Code"] == "PayloadTooLarge"
    assert emulator.journal() == []


def test_body_of_exactly_64_kib_is_read(emulator, invoke: Invoke):
    """GIVEN a POST body of exactly 64 KiB (JSON padded with spaces)
    WHEN the request arrives
    THEN it is parsed: the limit is inclusive."""
    emulator.add_instances("edge-1")
    payload = json.dumps({"InstanceId": "edge-1"})
    event = http_event("POST", "/", body=payload + " " * (64 * 1024 - len(payload)))
    event["headers"]["Content-Type"] = "application/json"

    body = assert_json_response(invoke(event), 200)
    assert body["Outcome"] == "deleted"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_post_without_json_content_type_gets_415(emulator, invoke: Invoke, content_type):
    """GIVEN POST / with a body that is not declared as JSON
    WHEN the request arrives
    THEN 415 UnsupportedMediaType, and nothing is called."""
    event = http_event("POST", "/", body='{"InstanceId": "i-1"}')
    event["headers"].pop("Content-Type", None)
    if content_type:
        event["headers"]["Content-Type"] = content_type

    body = assert_json_response(invoke(event), 415)
    assert body["Code"] == "UnsupportedMediaType"
    assert emulator.journal() == []


def test_json_content_type_with_charset_is_accepted(emulator, invoke: Invoke):
    """GIVEN Content-Type: application/json; charset=utf-8
    WHEN POST / arrives
    THEN it is read as JSON."""
    emulator.add_instances("i-1")
    event = http_event("POST", "/", body='{"InstanceId": "i-1"}')
    event["headers"]["content-type"] = "application/json; charset=utf-8"

    assert_json_response(invoke(event), 200)


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"i-1"', ""])
def test_post_body_that_is_not_a_json_object_gets_400(emulator, invoke: Invoke, body):
    """GIVEN POST / whose body is not a JSON object
    WHEN the request arrives
    THEN 400 InvalidParameter.Body with an example of what to send."""
    event = http_event("POST", "/", body=body)
    event["headers"]["Content-Type"] = "application/json"

    result = assert_json_response(invoke(event), 400)
    assert result["Code"] == "InvalidParameter.Body"
    assert '{"InstanceId"' in result["Message"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('\ufeff{"InstanceId": "i-1"}', "The body starts with a byte order mark"),
        ('{"InstanceId": "i-1",}', "The body is not valid JSON (Expecting property name"),
        (b'{"InstanceId": "i-\xff"}', "The body is not UTF-8 text"),
    ],
    ids=["byte-order-mark", "trailing-comma", "not-utf-8"],
)
def test_a_post_body_that_does_not_parse_says_why(
    emulator, invoke: Invoke, body: str | bytes, reason: str
):
    """GIVEN POST / with a JSON content type and a body that does not parse
    WHEN the request arrives
    THEN 400 InvalidParameter.Body, whose message says what is wrong with it."""
    emulator.add_instances("i-1")
    raw = body if isinstance(body, bytes) else body.encode()
    event = http_event(
        "POST", "/", body=base64.b64encode(raw).decode(), isBase64Encoded=True, headers=_JSON
    )

    result = assert_json_response(invoke(event), 400)

    assert result["Code"] == "InvalidParameter.Body"
    assert result["Message"].startswith(reason)
    assert emulator.journal() == []


@pytest.mark.parametrize(
    ("body", "status"), [("{}", 200), ("{ }", 200), (" {\n} ", 200), ("[]", 400)]
)
def test_delete_takes_an_empty_object_as_no_body(emulator, invoke: Invoke, body: str, status: int):
    """GIVEN DELETE /instances/i-1 with a body that is an empty JSON object, however
    spaced, or something else
    WHEN the request arrives
    THEN an empty object counts as no body (it can hold no dry run); anything else is
    refused before any call."""
    emulator.add_instances("i-1")

    result = assert_json_response(invoke(http_event(body=body)), status)

    assert result["Outcome"] == ("deleted" if status == 200 else "rejected")
    assert len(emulator.journal()) == (1 if status == 200 else 0)


def test_invalid_dry_run_value_gets_400(emulator, invoke: Invoke):
    """GIVEN ?dryRun=maybe
    WHEN the request arrives
    THEN 400 InvalidParameter.DryRun, and nothing is deleted."""
    emulator.add_instances("i-1")

    result = assert_json_response(invoke(http_event(queryParameters={"dryRun": "maybe"})), 400)
    assert result["Code"] == "InvalidParameter.DryRun"
    assert emulator.instances() == {"i-1"}


def test_dry_run_false_in_query_cannot_override_dry_run_variable(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN DRY_RUN=true for the function
    WHEN a request says ?dryRun=false
    THEN the function still deletes nothing."""
    monkeypatch.setenv("DRY_RUN", "true")
    emulator.add_instances("i-1")

    result = assert_json_response(invoke(http_event(queryParameters={"dryRun": "false"})), 200)
    assert result["Outcome"] == "dry_run"
    assert emulator.instances() == {"i-1"}


def test_protected_instance_gets_403(emulator, invoke: Invoke, monkeypatch):
    """GIVEN PROTECTED_INSTANCE_IDS=i-1
    WHEN DELETE /instances/i-1 arrives
    THEN 403 Forbidden.ProtectedInstance, and CAMS is not called."""
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", "i-1")
    emulator.add_instances("i-1")

    result = assert_json_response(invoke(http_event()), 403)
    assert result["Code"] == "Forbidden.ProtectedInstance"
    assert emulator.journal() == []


def _with_repeated(event: dict, field: str | None, key: str, first: str, second: str) -> bytes:
    """The event as JSON text whose `field` (or the event itself) gives `key` twice."""
    part = event if field is None else event[field]
    part.pop(key, None)
    text = json.dumps(event)
    opening = "{" if field is None else f'"{field}": {{'
    start = text.index(opening) + len(opening)
    pairs = f"{json.dumps(key)}: {json.dumps(first)}, {json.dumps(key)}: {json.dumps(second)}"
    separator = ", " if part else ""
    return (text[:start] + pairs + separator + text[start:]).encode()


def _with_repeated_method(first: str, second: str) -> bytes:
    """The event as JSON text whose requestContext.http gives its method twice."""
    text = json.dumps(http_event(first))
    method = f'"method": {json.dumps(first)}'
    assert text.count(method) == 1
    return text.replace(method, f'{method}, "method": {json.dumps(second)}').encode()


def _with_repeated_context(event: dict) -> bytes:
    """The event as JSON text whose requestContext gives its http twice, a GET first."""
    text = json.dumps(event)
    context = '"requestContext": {'
    get = json.dumps({**event["requestContext"]["http"], "method": "GET"})
    return text.replace(context, f'{context}"http": {get}, ').encode()


def _with_context_field(key: str, value: object) -> dict:
    event = http_event()
    event["requestContext"][key] = value
    return event


_I_1 = '{"InstanceId": "i-1"}'
_JSON = {"Content-Type": "application/json"}
MALFORMED_ENVELOPES = [
    pytest.param(
        _with_repeated(http_event(), "queryParameters", "dryRun", "true", "false"),
        "InvalidParameter.RepeatedKey",
        id="query-key-twice",
    ),
    pytest.param(
        _with_repeated(http_event(), "headers", "X-Dry-Run", "true", "false"),
        "InvalidParameter.RepeatedKey",
        id="header-twice",
    ),
    pytest.param(
        _with_repeated(http_event(), None, "rawPath", "/", "/instances/i-1"),
        "InvalidParameter.RepeatedKey",
        id="path-twice",
    ),
    # Which method counts decides between a 405 and a deletion.
    pytest.param(
        _with_repeated_method("GET", "DELETE"),
        "InvalidParameter.RepeatedKey",
        id="method-twice",
    ),
    pytest.param(
        _with_repeated_context(http_event()),
        "InvalidParameter.RepeatedKey",
        id="request-context-http-twice",
    ),
    pytest.param(http_event(queryParameters="dryRun=true"), "InvalidEvent", id="query-as-text"),
    pytest.param(http_event(queryParameters={"dryRun": True}), "InvalidEvent", id="query-bool"),
    pytest.param(http_event(headers=["X-Dry-Run: true"]), "InvalidEvent", id="headers-as-list"),
    pytest.param(http_event(body={"DryRun": True}), "InvalidEvent", id="body-as-object"),
    pytest.param(http_event(DryRun=True), "InvalidEvent", id="flag-beside-the-request"),
    pytest.param(http_event(InstanceId="i-2"), "InvalidEvent", id="instance-beside-it"),
    pytest.param(
        http_event(headers={"X-Dry-Run": "true", "x-dry-run": "false"}),
        "InvalidParameter.RepeatedKey",
        id="header-twice-in-two-cases",
    ),
    pytest.param(
        http_event("POST", "/", rawPath=None, body=_I_1, headers=_JSON),
        "InvalidEvent",
        id="path-null",
    ),
    pytest.param(
        http_event("POST", "/", rawPath=42, body=_I_1, headers=_JSON),
        "InvalidEvent",
        id="path-a-number",
    ),
    pytest.param(
        http_event("po\u017ft", "/", body=_I_1, headers=_JSON),
        "InvalidEvent",
        id="method-not-ascii",
    ),
    # Fields FC's trigger never sends (an AWS-shaped event ported by hand): a dry run
    # there, at any depth, would go unread.
    pytest.param(
        http_event(queryStringParameters={"dryRun": "true"}), "InvalidEvent", id="aws-query-object"
    ),
    pytest.param(
        http_event(queryStringParameters={"simulate": "true"}),
        "InvalidEvent",
        id="aws-query-synonym",
    ),
    pytest.param(
        http_event(multiValueQueryStringParameters={"whatIf": ["1"]}),
        "InvalidEvent",
        id="aws-multi-value-query",
    ),
    pytest.param(http_event(rawQueryString="simulate=true"), "InvalidEvent", id="aws-raw-synonym"),
    pytest.param(
        http_event(multiValueHeaders={"X-Simulate": ["true"]}),
        "InvalidEvent",
        id="aws-multi-value-headers",
    ),
    pytest.param(http_event(rawQueryString="dryRun=true"), "InvalidEvent", id="aws-raw-query"),
    pytest.param(http_event(queryString={"dryRun": "true"}), "InvalidEvent", id="query-string"),
    pytest.param(
        http_event(options={"DryRun": True}), "InvalidParameter.DryRun", id="flag-in-a-field"
    ),
    pytest.param(_with_context_field("dryRun", True), "InvalidParameter.DryRun", id="in-context"),
]


def test_fields_fc_sends_and_others_that_ask_for_nothing_are_let_be(emulator, invoke: Invoke):
    """GIVEN a DELETE whose envelope has every field FC's trigger sends, and a field FC does
    not send that asks for no dry run and names no instance
    WHEN it arrives
    THEN the instance is deleted: only what could lose a dry run is refused."""
    emulator.add_instances("i-1")
    event = http_event(stageVariables={"stage": "prod"})
    assert {"accountId", "domainName", "requestId", "time"} <= set(event["requestContext"])

    result = assert_json_response(invoke(event), 200)

    assert result["Outcome"] == "deleted"
    assert emulator.instances() == set()


@pytest.mark.parametrize(("event", "code"), MALFORMED_ENVELOPES)
def test_an_http_envelope_fc_would_not_build_is_refused(
    emulator, invoke: Invoke, event: object, code: str
):
    """GIVEN an HTTP trigger event made by hand and sent by direct invocation, with a key
    given twice, a query, headers or body of the wrong type, or a flag beside the request
    WHEN the function receives it
    THEN 400 with a Code that says what is wrong, and nothing is deleted: each way of
    reading it could lose the caller's dry run. The refusal, and its log line, name the
    instance the path does, so that it can be found by it."""
    emulator.add_instances("i-1", "i-2")
    raw_path = (json.loads(event) if isinstance(event, bytes) else event).get("rawPath")
    named = "i-1" if raw_path == "/instances/i-1" else None

    run = invoke(event)

    result = assert_json_response(run, 400)
    assert result["Code"] == code
    [deletion] = run.lines("deletion")
    assert deletion["instance_id"] == result["InstanceId"] == named
    assert emulator.journal() == []


class TestBearerToken:
    @pytest.fixture(autouse=True)
    def require_token(self, monkeypatch):
        monkeypatch.setenv("HTTP_BEARER_TOKEN_SHA256", hashlib.sha256(TOKEN.encode()).hexdigest())

    @pytest.mark.parametrize(
        "authorization",
        [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"bearer {TOKEN}x"],
    )
    def test_missing_or_wrong_token_gets_401(self, emulator, invoke: Invoke, authorization):
        """GIVEN HTTP_BEARER_TOKEN_SHA256 is set
        WHEN a request lacks the token or carries another
        THEN 401 with WWW-Authenticate, and CAMS is not called."""
        emulator.add_instances("i-1")
        event = http_event()
        if authorization is not None:
            event["headers"]["Authorization"] = authorization

        run = invoke(event)

        result = assert_json_response(run, 401)
        assert result["Code"] == "Unauthorized"
        [deletion] = run.lines("deletion")
        assert deletion["instance_id"] == result["InstanceId"] == "i-1"  # the path's
        assert run.result is not None
        assert run.result["headers"]["WWW-Authenticate"].startswith("Bearer")
        assert emulator.journal() == []
        assert emulator.instances() == {"i-1"}

    def test_right_token_is_let_through_and_never_logged(self, emulator, invoke: Invoke):
        """GIVEN HTTP_BEARER_TOKEN_SHA256 is set
        WHEN a request carries the right token
        THEN the instance is deleted and the token appears in no output."""
        emulator.add_instances("i-1")
        event = http_event()
        event["headers"]["Authorization"] = f"Bearer {TOKEN}"

        run = invoke(event)

        assert_json_response(run, 200)
        assert TOKEN not in run.output
        assert TOKEN not in json.dumps(run.result)

    @pytest.mark.parametrize("word", ["invocation", "request_id", "Unauthorized"])
    def test_a_wrong_token_cannot_mask_the_log(
        self, emulator, invoke: Invoke, context: Python310Context, word: str
    ):
        """GIVEN HTTP_BEARER_TOKEN_SHA256 is set
        WHEN a request's token is a word that its own log line holds
        THEN the 401's invocation line is written in full: a wrong token is not taken
        for a secret to mask."""
        event = http_event()
        event["headers"]["Authorization"] = f"Bearer {word}"

        run = invoke(event)

        assert_json_response(run, 401)
        [line] = run.lines("invocation")
        assert line["status"] == 401
        assert line["code"] == "Unauthorized"
        assert line["request_id"] == context.request_id
        assert "[REDACTED]" not in run.output

    def test_auth_is_checked_before_the_route(self, emulator, invoke: Invoke):
        """GIVEN a token is required
        WHEN an unauthenticated request asks for an unknown path
        THEN 401, revealing nothing about routes."""
        assert_json_response(invoke(http_event("GET", "/admin")), 401)

    def test_event_invocations_are_not_affected(self, emulator, invoke: Invoke):
        """GIVEN a token is required for HTTP
        WHEN a direct event arrives
        THEN it is processed as usual."""
        emulator.add_instances("i-1")

        run = invoke({"InstanceId": "i-1"})

        assert run.result is not None
        assert run.result["Outcome"] == "deleted"


def test_invalid_configuration_gets_500_naming_the_variable(emulator, invoke: Invoke, monkeypatch):
    """GIVEN MAX_ATTEMPTS=zero
    WHEN an HTTP request arrives
    THEN 500 InvalidConfiguration whose message names MAX_ATTEMPTS; nothing is called."""
    monkeypatch.setenv("MAX_ATTEMPTS", "zero")

    run = invoke(http_event())

    result = assert_json_response(run, 500)
    assert result["Code"] == "InvalidConfiguration"
    assert "MAX_ATTEMPTS" in result["Message"]
    assert "zero" not in result["Message"], "the caller may not be the operator"
    [critical] = run.lines("invalid_configuration")
    assert "zero" in critical["reason"], "the log says what is wrong"
    [deletion] = run.lines("deletion")
    assert (deletion["code"], deletion["level"]) == ("InvalidConfiguration", "error")
    assert deletion["instance_id"] == result["InstanceId"] == "i-1"  # the path's
    assert emulator.journal() == []


def test_unexpected_bug_is_500_with_normalized_body_and_traceback_in_log_only(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a bug deep in the function (simulated by breaking http.respond)
    WHEN an HTTP request arrives
    THEN 500 UnexpectedError with a normalized body; the traceback is in the log only."""
    from cams_delete import http

    monkeypatch.setattr(http, "respond", simulated_bug)

    run = invoke(http_event())

    result = assert_json_response(run, 500)
    assert result["Code"] == "UnexpectedError"
    assert "simulated bug" not in run.result["body"]
    [error_line] = run.lines("unexpected_error")
    assert "Traceback" in error_line["exception"]
    assert "simulated bug" in error_line["exception"]


def test_a_bug_rendering_the_response_is_a_500_and_one_invocation_line(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a bug in rendering the response (simulated by breaking it once)
    WHEN DELETE /instances/i-1 arrives and the instance is deleted
    THEN the caller still gets a normalized 500, nothing is raised, and the one invocation
    line says 500: the status the caller got."""
    from cams_delete import http

    render = http.render
    calls = []

    def render_broken_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("simulated bug")
        return render(*args, **kwargs)

    monkeypatch.setattr(http, "render", render_broken_once)
    emulator.add_instances("i-1")

    run = invoke(http_event())

    assert run.error is None
    result = assert_json_response(run, 500)
    assert result["Code"] == "UnexpectedError"
    [deletion] = run.lines("deletion")
    assert deletion["outcome"] == "deleted"
    [invocation] = run.lines("invocation")
    assert invocation["source"] == "http"
    assert invocation["status"] == 500
    assert "simulated bug" in run.lines("unexpected_error")[0]["exception"]


@pytest.mark.parametrize(
    "broken", ["cams_delete.http.render", "cams_delete.results.DeletionResult.to_document"]
)
def test_a_response_that_cannot_be_rendered_at_all_is_still_a_normalized_500(
    emulator, invoke: Invoke, context: Python310Context, monkeypatch, broken: str
):
    """GIVEN a bug in rendering every response: the HTTP response, or any result's document
    WHEN DELETE /instances/i-1 arrives and the instance is deleted
    THEN the caller still gets a normalized 500 UnexpectedError, made without that code:
    an HTTP invocation never raises, so no frame of the function reaches FC's error; one
    invocation line says 500."""
    monkeypatch.setattr(broken, simulated_bug)
    emulator.add_instances("i-1")

    run = invoke(http_event())

    assert run.error is None
    result = assert_json_response(run, 500)
    assert result["Code"] == "UnexpectedError"
    assert context.request_id in result["Message"]
    assert "simulated bug" not in run.result["body"]
    [deletion] = run.lines("deletion")
    assert deletion["outcome"] == "deleted"
    [invocation] = run.lines("invocation")
    assert (invocation["source"], invocation["status"]) == ("http", 500)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_bug_in_an_http_request_names_the_paths_instance(
    emulator, invoke: Invoke, monkeypatch, asynchronous: bool
):
    """GIVEN a bug before the deletion of the instance a DELETE path names
    WHEN the request arrives
    THEN the bug's line names that instance, and so does the 500 the caller gets, so that
    the request can be found in the log and sent again."""
    monkeypatch.setattr("cams_delete.http.respond", simulated_bug)
    emulator.add_instances("i-1")

    run = invoke(async_http_event() if asynchronous else http_event())

    [bug] = run.lines("unexpected_error")
    assert bug["instance_id"] == "i-1"
    if not asynchronous:
        assert assert_json_response(run, 500)["InstanceId"] == "i-1"
    assert emulator.instances() == {"i-1"}


# Steps an HTTP request goes through outside http.respond's own guard: the role's keys
# looked up, the settings read (before the request is routed), and a refusal's line logged
# (after it).
_STEPS_BEFORE_AND_AFTER_THE_GUARD = [
    ("cams_delete.credentials.find", "/instances/i-1"),
    ("cams_delete.entrypoints.current_settings", "/instances/i-1"),
    ("cams_delete.deleter.log_result", "/nowhere"),
]


@pytest.mark.parametrize(("step", "path"), _STEPS_BEFORE_AND_AFTER_THE_GUARD)
def test_a_bug_outside_the_requests_guard_is_still_a_normalized_500(
    emulator, invoke: Invoke, monkeypatch, step: str, path: str
):
    """GIVEN a bug in a step of the invocation that http.respond's guard does not cover
    WHEN a synchronous HTTP request arrives
    THEN the caller gets a normalized 500 UnexpectedError, not FC's error with a stack
    trace (an HTTP invocation never raises); the traceback and one invocation line saying
    500 are logged, and nothing is deleted."""
    monkeypatch.setattr(step, simulated_bug)
    emulator.add_instances("i-1")

    run = invoke(http_event(path=path))

    result = assert_json_response(run, 500)
    assert result["Code"] == "UnexpectedError"
    assert "simulated bug" not in run.result["body"]
    assert "simulated bug" in run.lines("unexpected_error")[0]["exception"]
    [invocation] = run.lines("invocation")
    assert (invocation["source"], invocation["status"]) == ("http", 500)
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize(("step", "path"), _STEPS_BEFORE_AND_AFTER_THE_GUARD)
def test_a_bug_outside_the_guard_of_an_async_request_raises(
    emulator, invoke: Invoke, monkeypatch, step: str, path: str
):
    """GIVEN the same bugs
    WHEN the HTTP request is asynchronous (nobody reads its response)
    THEN the function raises UnexpectedFunctionError, so that FC keeps the request."""
    monkeypatch.setattr(step, simulated_bug)

    run = invoke(async_http_event(path=path))

    assert type(run.error).__name__ == "UnexpectedFunctionError"
    assert "simulated bug" not in str(run.error)
    assert [line["status"] for line in run.lines("invocation")] == ["error"]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_bug_before_the_log_is_bound_is_logged_under_its_own_request_id(
    emulator, invoke: Invoke, monkeypatch, asynchronous: bool
):
    """GIVEN a warm instance that answered one request, and a bug in looking up the role's
    keys, the step before the invocation's log context is bound
    WHEN the next request arrives
    THEN its unexpected_error and invocation lines carry its own request id, the one its
    500 (or FC's error) sends the reader to, not the previous request's."""
    emulator.add_instances("i-1")
    first = Python310Context(credentials=ROLE, function=FunctionMeta(timeout=30))
    assert invoke(http_event(), first).result is not None
    monkeypatch.setattr("cams_delete.credentials.find", simulated_bug)
    second = Python310Context(credentials=ROLE, function=FunctionMeta(timeout=30))

    run = invoke(async_http_event() if asynchronous else http_event(), second)

    assert second.request_id != first.request_id
    if not asynchronous:
        assert second.request_id in assert_json_response(run, 500)["Message"]
    bug_lines = run.lines("unexpected_error") + run.lines("invocation")
    assert len(bug_lines) == 2
    assert {line["request_id"] for line in bug_lines} == {second.request_id}
    assert {line["cold_start"] for line in bug_lines} == {False}


def test_a_request_is_answered_even_when_the_log_is_broken(emulator, invoke: Invoke, monkeypatch):
    """GIVEN a bug that makes every log line fail
    WHEN a synchronous HTTP request arrives
    THEN the caller still gets a normalized 500 UnexpectedError, with nothing of the bug
    in it."""
    monkeypatch.setattr("cams_delete.logs.get", simulated_bug)
    emulator.add_instances("i-1")

    run = invoke(http_event())

    result = assert_json_response(run, 500)
    assert result["Code"] == "UnexpectedError"
    assert "simulated bug" not in run.output


@pytest.mark.parametrize("name", ["dryRun", "dryrun", "DryRun", "DRYRUN"])
def test_dry_run_query_in_any_case_deletes_nothing(emulator, invoke: Invoke, name):
    """GIVEN ?DryRun=true (Alibaba Cloud's own spelling) or another case of dryRun
    WHEN DELETE /instances/i-1 arrives
    THEN it is a dry run: nothing is deleted."""
    emulator.add_instances("i-1")

    result = assert_json_response(invoke(http_event(queryParameters={name: "true"})), 200)
    assert result["Outcome"] == "dry_run"
    assert emulator.instances() == {"i-1"}


def test_a_dry_run_query_named_twice_in_two_cases_is_refused(emulator, invoke: Invoke):
    """GIVEN ?dryRun=true&dryrun=false: two keys to FC, so not joined by a comma
    WHEN DELETE /instances/i-1 arrives
    THEN 400 InvalidParameter.DryRun: whichever counted, the other could undo the dry run;
    nothing is deleted."""
    emulator.add_instances("i-1")
    event = http_event(queryParameters={"dryRun": "true", "dryrun": "false"})

    result = assert_json_response(invoke(event), 400)

    assert result["Code"] == "InvalidParameter.DryRun"
    assert emulator.journal() == []


@pytest.mark.parametrize("name", ["dry_run", "force", "InstanceId"])
def test_unknown_query_parameters_get_400(emulator, invoke: Invoke, name):
    """GIVEN a query parameter the function does not know (a misspelt dry run, say)
    WHEN DELETE /instances/i-1 arrives
    THEN 400 InvalidParameter.Query, and nothing is deleted."""
    emulator.add_instances("i-1")

    result = assert_json_response(invoke(http_event(queryParameters={name: "true"})), 400)
    assert result["Code"] == "InvalidParameter.Query"
    assert name in result["Message"]
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize("name", ["dryRun", "dry_run"])
def test_dry_run_field_in_the_post_body(emulator, invoke: Invoke, name: str):
    """GIVEN POST / with {"InstanceId": "i-1", "dryRun": true}, or dry_run
    WHEN the request arrives
    THEN it is a dry run: nothing is deleted."""
    emulator.add_instances("i-1")
    event = http_event("POST", "/", body=json.dumps({"InstanceId": "i-1", name: True}))
    event["headers"]["Content-Type"] = "application/json"

    result = assert_json_response(invoke(event), 200)
    assert result["Outcome"] == "dry_run"
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize("body", ['{"DryRun": true}', '{"InstanceId": "i-1"}', "dry run please"])
def test_a_body_on_delete_is_refused_not_ignored(emulator, invoke: Invoke, body: str):
    """GIVEN DELETE /instances/i-1 with a body (a DryRun in it would otherwise be lost)
    WHEN the request arrives
    THEN 400 InvalidParameter.Body pointing at ?dryRun=true, and nothing is deleted."""
    emulator.add_instances("i-1")
    event = http_event(body=body)
    event["headers"]["Content-Type"] = "application/json"

    result = assert_json_response(invoke(event), 400)
    assert result["Code"] == "InvalidParameter.Body"
    assert "?dryRun=true" in result["Message"]
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize("body", ["", "  ", "{}"])
def test_an_empty_body_on_delete_is_fine(emulator, invoke: Invoke, body: str):
    """GIVEN DELETE /instances/i-1 with an empty body, or {} (some clients always send one)
    WHEN the request arrives
    THEN the instance is deleted."""
    emulator.add_instances("i-1")

    result = assert_json_response(invoke(http_event(body=body)), 200)
    assert result["Outcome"] == "deleted"


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ('{"InstanceId": "i-1", "dryrn": 1}', "InvalidParameter.Body", "'dryrn'"),
        ('{"InstanceId": "i-1", "dryrn": true}', "InvalidParameter.DryRun", "dryrn says yes or no"),
        (
            '{"InstanceId": "i-1", "dryRun": true, "dryRun": false}',
            "InvalidParameter.RepeatedKey",
            "'dryRun'",
        ),
    ],
    ids=["unknown-field", "unknown-yes-or-no", "key-given-twice"],
)
def test_a_post_body_that_could_hide_a_dry_run_is_refused(
    emulator, invoke: Invoke, body: str, code: str, named: str
):
    """GIVEN POST / whose body has an unknown field (a misspelt dry run?), one that says yes
    or no, or gives a key twice (parsers disagree on which value counts)
    WHEN the request arrives
    THEN 400 with a Code naming the field, and nothing is deleted."""
    emulator.add_instances("i-1")
    event = http_event("POST", "/", body=body)
    event["headers"]["Content-Type"] = "application/json"

    result = assert_json_response(invoke(event), 400)
    assert result["Code"] == code
    assert named in result["Message"]
    assert emulator.instances() == {"i-1"}


@pytest.mark.parametrize(
    ("method", "name", "value"),
    [
        ("DELETE", "Dry-Run", "true"),
        ("DELETE", "X-Dry-Run", "1"),
        ("POST", "X-Dry-Run", "true"),
        ("DELETE", "Is-Dry-Run", "true"),
        ("DELETE", "X-Dry-Run-Mode", "on"),
        ("DELETE", "X-Simulate", "true"),
        ("POST", "What-If", "1"),
        ("DELETE", "X-Validate-Only", "true"),
    ],
)
def test_a_dry_run_header_is_refused_not_ignored(emulator, invoke: Invoke, method, name, value):
    """GIVEN DELETE /instances/i-1, or POST / naming i-1, with a header that reads as a dry
    run, or as another name for one (X-Simulate, What-If)
    WHEN the request arrives
    THEN 400 InvalidParameter.DryRun pointing at ?dryRun=true, and nothing is deleted: the
    header is not read, and ignoring it would delete."""
    emulator.add_instances("i-1")
    if method == "POST":
        event = http_event("POST", "/", body=json.dumps({"InstanceId": "i-1"}))
        event["headers"]["Content-Type"] = "application/json"
    else:
        event = http_event()
    event["headers"][name] = value

    result = assert_json_response(invoke(event), 400)
    assert result["Code"] == "InvalidParameter.DryRun"
    assert "?dryRun=true" in result["Message"]
    assert emulator.instances() == {"i-1"}


def test_a_dry_run_header_that_says_false_is_let_be(emulator, invoke: Invoke):
    """GIVEN DELETE /instances/i-1 with Dry-Run: false
    WHEN the request arrives
    THEN the instance is deleted: ignoring the header does what it says."""
    emulator.add_instances("i-1")
    event = http_event()
    event["headers"]["Dry-Run"] = "false"

    result = assert_json_response(invoke(event), 200)
    assert result["Outcome"] == "deleted"


def async_http_event(header: str = "Async", **overrides) -> dict:
    event = http_event(**overrides)
    event["headers"]["X-Fc-Invocation-Type"] = header
    return event


@pytest.mark.parametrize("header", ["Async", "async", "Async, Async"])
def test_an_async_request_that_may_succeed_later_raises_for_fcs_retry(
    emulator, invoke: Invoke, header: str
):
    """GIVEN an HTTP request invoked asynchronously (X-Fc-Invocation-Type: Async), whose
    response nobody reads, while CAMS is unavailable
    WHEN every attempt fails
    THEN the function raises RetryableDeletionError, so FC's async retry and on-failure
    destination take over, instead of returning a 503 that would be dropped."""
    from cams_emulator import Fault

    emulator.add_instances("i-1")
    emulator.add_fault(Fault("unavailable", times=None))

    run = invoke(async_http_event(header))

    assert type(run.error).__name__ == "RetryableDeletionError"
    [invocation] = run.lines("invocation")
    assert invocation["status"] == 503
    assert emulator.instances() == {"i-1"}


def test_an_async_request_that_cannot_succeed_returns(emulator, invoke: Invoke):
    """GIVEN an asynchronous HTTP request that is refused for good (a bad InstanceId)
    WHEN it arrives
    THEN the normalized response is returned: retrying could not help."""
    result = assert_json_response(invoke(async_http_event(rawPath="/instances/bad%20id")), 400)
    assert result["Code"] == "InvalidParameter.InstanceId"


def test_an_async_request_with_bad_configuration_raises(emulator, invoke: Invoke, monkeypatch):
    """GIVEN bad configuration and an asynchronous HTTP request
    WHEN it arrives
    THEN the function raises InvalidConfigurationError, so the request is kept for retry."""
    monkeypatch.setenv("MAX_ATTEMPTS", "zero")

    run = invoke(async_http_event())

    assert type(run.error).__name__ == "InvalidConfigurationError"
    assert emulator.journal() == []


def test_a_sync_request_never_raises_even_when_cams_is_down(emulator, invoke: Invoke):
    """GIVEN an HTTP request invoked synchronously (X-Fc-Invocation-Type: Sync) while CAMS
    is unavailable
    WHEN every attempt fails
    THEN the caller gets 503 with Retry-After; nothing is raised."""
    from cams_emulator import Fault

    emulator.add_instances("i-1")
    emulator.add_fault(Fault("unavailable", times=None))

    run = invoke(async_http_event("Sync"))

    result = assert_json_response(run, 503)
    assert result["Retryable"] is True
    assert "Retry-After" in run.result["headers"]


def test_the_right_token_echoed_back_reaches_no_output(emulator, invoke: Invoke, monkeypatch):
    """GIVEN HTTP_BEARER_TOKEN_SHA256 is set and a request carries the right token
    WHEN its path (unknown: a 404 names it) holds the token too
    THEN the token appears in no log line and not in the response."""
    monkeypatch.setenv("HTTP_BEARER_TOKEN_SHA256", hashlib.sha256(TOKEN.encode()).hexdigest())
    event = http_event("DELETE", f"/nowhere/{TOKEN}")
    event["headers"]["Authorization"] = f"Bearer {TOKEN}"

    run = invoke(event)

    assert run.result is not None
    assert run.result["statusCode"] == 404
    assert TOKEN not in run.output
    assert TOKEN not in json.dumps(run.result)


@pytest.mark.parametrize(
    ("authorization", "upper_hash"),
    [
        (f"bearer {TOKEN}", False),
        (f"BEARER {TOKEN}", False),
        (f"Bearer {TOKEN} ", False),
        (f"Bearer {TOKEN}", True),
    ],
    ids=["lower-scheme", "upper-scheme", "trailing-space", "upper-case-hash"],
)
def test_the_right_token_is_accepted_however_it_is_spelt(
    emulator, invoke: Invoke, monkeypatch, authorization, upper_hash
):
    """GIVEN HTTP_BEARER_TOKEN_SHA256 set (in lower or upper case hex)
    WHEN a request carries the right token with the scheme in any case or a trailing space
    THEN it is let through (RFC 7235: the scheme is case-insensitive)."""
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    monkeypatch.setenv("HTTP_BEARER_TOKEN_SHA256", digest.upper() if upper_hash else digest)
    emulator.add_instances("i-1")
    event = http_event()
    event["headers"]["Authorization"] = authorization

    run = invoke(event)

    assert run.result is not None
    assert run.result["statusCode"] == 200
    assert emulator.instances() == set()


@pytest.mark.parametrize(
    "overrides",
    [{"queryParameters": {"force": "yes"}}, {"rawPath": "/instances/bad%20id"}],
    ids=["trigger-check", "validation"],
)
def test_an_async_http_refusal_is_logged_at_error(emulator, invoke: Invoke, monkeypatch, overrides):
    """GIVEN LOG_LEVEL=ERROR
    WHEN an asynchronous HTTP request (whose response nobody reads) is refused
    THEN its deletion and invocation lines are written at error, as an event's are."""
    monkeypatch.setenv("LOG_LEVEL", "ERROR")

    run = invoke(async_http_event(**overrides))

    assert [(line["event"], line["level"]) for line in run.logs] == [
        ("deletion", "error"),
        ("invocation", "error"),
    ]


@pytest.mark.parametrize("media_type", ["Application/JSON", "application/merge-patch+json"])
def test_post_takes_any_json_media_type(emulator, invoke: Invoke, media_type):
    """GIVEN POST / with a JSON body and Content-Type in capitals or a +json type
    WHEN it arrives
    THEN the instance is deleted (not 415)."""
    emulator.add_instances("cams-7f3a9c10")
    event = load_event("http-post.json")
    event["headers"]["Content-Type"] = media_type

    run = invoke(event)

    assert run.result is not None
    assert run.result["statusCode"] == 200
