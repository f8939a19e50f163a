"""Logs: one JSON object per line on stdout, with the request id, the function name and
cold_start on every line, canonical lines per deletion and per invocation, no secrets."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cams_delete import logs
from cams_emulator import Fault
from tests.conftest import ROLE, Invoke, assert_no_secrets, event_bytes, load_event


def test_every_line_is_json_with_invocation_fields(emulator, invoke: Invoke, context):
    """GIVEN a batch event
    WHEN it is handled
    THEN every stdout line is a JSON object carrying request_id, function_name, cold_start."""
    emulator.add_instances("cams-7f3a9c02", "cams-7f3a9c03")

    run = invoke(event_bytes("eventbridge-kafka-batch.json"))

    assert run.logs, "the invocation logged nothing"
    assert len(run.logs) == len(run.output.splitlines())
    for line in run.logs:
        assert line["request_id"] == context.request_id
        assert line["function_name"] == context.function.name
        assert isinstance(line["cold_start"], bool)
        assert line["level"] in {"debug", "info", "warning", "error", "critical"}
        assert line["timestamp"].endswith("Z")


def test_canonical_deletion_and_invocation_lines(emulator, invoke: Invoke):
    """GIVEN a batch with two distinct instances, one of them twice
    WHEN it is handled
    THEN there is one deletion line per distinct instance, with outcome, code, CAMS
    request id, attempts and duration, and one invocation line with source, count, status."""
    emulator.add_instances("cams-7f3a9c02", "cams-7f3a9c03")

    run = invoke(event_bytes("eventbridge-kafka-batch.json"))

    deletions = run.lines("deletion")
    assert sorted(line["instance_id"] for line in deletions) == ["cams-7f3a9c02", "cams-7f3a9c03"]
    for line in deletions:
        assert line["outcome"] == "deleted"
        assert line["code"] == "OK"
        assert line["cams_request_id"]
        assert line["attempts"] == 1
        assert line["duration_ms"] >= 0
    [invocation] = run.lines("invocation")
    assert invocation["source"] == "batch"
    assert invocation["count"] == 3
    assert invocation["status"] == "succeeded"
    assert invocation["outcomes"] == {"deleted": 3}


def test_deletion_lines_name_the_events_that_asked(emulator, invoke: Invoke):
    """GIVEN a Kafka batch of three CloudEvents, two of them naming the same instance
    WHEN it is handled (that instance is deleted once)
    THEN each deletion line names the CloudEvent id(s) that asked for its instance, so a
    redelivery can be matched to the deletion it caused."""
    emulator.add_instances("cams-7f3a9c02", "cams-7f3a9c03")
    ids = [element["id"] for element in load_event("eventbridge-kafka-batch.json")]

    run = invoke(event_bytes("eventbridge-kafka-batch.json"))

    lines = {line["instance_id"]: line for line in run.lines("deletion")}
    assert lines["cams-7f3a9c02"]["event_ids"] == [ids[0], ids[2]]
    assert lines["cams-7f3a9c03"]["event_id"] == ids[1]
    assert "event_ids" not in lines["cams-7f3a9c03"]


def test_a_single_cloudevent_deletion_line_carries_its_id(emulator, invoke: Invoke):
    """GIVEN one EventBridge CloudEvent
    WHEN its instance is deleted
    THEN the deletion line carries the CloudEvent's id."""
    event = load_event("eventbridge-cloudevent.json")
    emulator.add_instances(event["data"]["InstanceId"])

    run = invoke(event)

    [line] = run.lines("deletion")
    assert line["outcome"] == "deleted"
    assert line["event_id"] == event["id"]


def test_a_cloudevent_refused_before_validation_is_found_by_its_id(emulator, invoke: Invoke):
    """GIVEN a batch of CloudEvents refused while reading them (a misspelt InstanceId
    field, a repeated key in data, data that is not an object), and one refused by
    validation
    WHEN it is handled
    THEN every deletion line carries the CloudEvent id it is about, as an accepted
    event's does, and nothing is deleted."""
    template = load_event("eventbridge-kafka-batch.json")[0]
    elements = [
        {**template, "id": "e-misspelt", "data": {"instanceId": "i-1"}},
        {**template, "id": "e-not-an-object", "data": 42},
        {**template, "id": "e-masked", "data": {"InstanceId": "2399393****"}},
    ]
    text = json.dumps(elements)
    repeated = {**template, "id": "e-repeated", "data": {"InstanceId": "i-1"}}
    text = (
        text[:-1]
        + ", "
        + json.dumps(repeated).replace(
            '"InstanceId": "i-1"', '"InstanceId": "i-1", "InstanceId": "i-2"'
        )
        + "]"
    )
    emulator.add_instances("i-1", "i-2")

    run = invoke(text.encode())

    lines = run.lines("deletion")
    assert [line["event_id"] for line in lines] == [
        "e-misspelt",
        "e-not-an-object",
        "e-masked",
        "e-repeated",
    ]
    assert {line["outcome"] for line in lines} == {"rejected"}
    assert emulator.journal() == []


LONG_TOKEN = "CAIS" + "q6Ft5B2yfSjIr5bSEsLRuPlGheCoRTHqOo0xP2tm" * 22  # real ones run to ~900


def _secret_path_refused() -> dict:
    from tests.function.test_http_trigger import http_event

    return http_event(
        path=f"/instances/{ROLE.access_key_secret}", queryParameters={"dryRun": "maybe"}
    )


@pytest.mark.parametrize(
    ("event", "context_token", "instance_shown"),
    [
        pytest.param(
            {"InstanceId": f"{ROLE.security_token} {ROLE.access_key_secret}"},
            ROLE.security_token,
            "[REDACTED] [REDACTED]",
            id="refused-instance-id",
        ),
        pytest.param(
            {"InstanceId": f"{LONG_TOKEN} x"}, LONG_TOKEN, "[REDACTED] x", id="long-token"
        ),
        pytest.param(
            {"InstanceId": ROLE.access_key_secret, "DryRun": True},
            ROLE.security_token,
            "[REDACTED]",
            id="valid-id-dry-run",
        ),
        pytest.param(_secret_path_refused, ROLE.security_token, "[REDACTED]", id="http-path"),
    ],
)
def test_the_roles_keys_reach_no_line_and_no_answer_that_echoes_the_input(
    emulator, invoke: Invoke, event: object, context_token: str, instance_shown: str
):
    """GIVEN input that holds the role's keys: an InstanceId refused before any call (so
    before the keys are otherwise needed), a token longer than an echoed InstanceId is
    cut to, a valid InstanceId that spells the secret, and an HTTP path naming it
    WHEN the lines are written and the answer returned
    THEN the keys are replaced in both, before any cut, and nothing is deleted."""
    from cams_local.fc import Credentials, Python310Context

    keys = Credentials(ROLE.access_key_id, ROLE.access_key_secret, context_token)
    run = invoke(event() if callable(event) else event, Python310Context(credentials=keys))

    answer = run.body if callable(event) else run.result
    assert answer is not None
    assert answer["InstanceId"] == instance_shown
    [line] = run.lines("deletion")
    assert line["instance_id"] == instance_shown
    everything = run.output + json.dumps(run.result)
    assert_no_secrets(everything)
    assert LONG_TOKEN[:64] not in everything
    assert emulator.journal() == []


def _batch_over_the_limit() -> list:
    return [{"InstanceId": f"{LONG_TOKEN}-{n}"} for n in range(101)]


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(lambda: _http(path=f"/x/{LONG_TOKEN}"), id="http-404-path"),
        pytest.param(
            lambda: _http(queryParameters={"q" * 44 + ROLE.access_key_secret: "1"}),
            id="query-name-cut-across-the-secret",
        ),
        pytest.param(
            lambda: {**load_event("eventbridge-cloudevent.json"), "id": LONG_TOKEN, "data": 42},
            id="cloudevent-id",
        ),
        pytest.param(_batch_over_the_limit, id="oversized-batch-held"),
        pytest.param(
            lambda: {"InstanceId": "i-1", "options": {LONG_TOKEN: {"DryRun": True}}},
            id="location-of-a-flag",
        ),
    ],
)
def test_text_cut_for_a_message_or_a_line_loses_the_keys_before_the_cut(
    emulator, invoke: Invoke, event: Any
):
    """GIVEN input that carries the role's token (or secret) where the function echoes
    only the first characters of it: a path, a query parameter's name, a CloudEvent id,
    the ids an oversized batch held, the location of a field
    WHEN it is refused
    THEN no part of the key long enough to matter reaches the answer or the log: the key
    is replaced before the text is cut."""
    from cams_local.fc import Credentials, Python310Context

    keys = Credentials(ROLE.access_key_id, ROLE.access_key_secret, LONG_TOKEN)
    run = invoke(event(), Python310Context(credentials=keys))

    everything = run.output + json.dumps(run.result)
    assert "[REDACTED]" in everything
    assert LONG_TOKEN[:24] not in everything
    assert ROLE.access_key_secret[:12] not in everything
    assert emulator.journal() == []


@pytest.mark.parametrize(
    ("fault_kind", "retryable"), [("business_error", False), ("internal_error", True)]
)
@pytest.mark.parametrize("through", ["event", "http", "async-http"])
def test_a_cams_code_that_spells_the_roles_secret_is_masked(
    emulator, invoke: Invoke, fault_kind: str, retryable: bool, through: str
):
    """GIVEN CAMS answering DeleteInstance with a Code that spells the role's secret,
    permanent or retryable
    WHEN an event or an HTTP request (synchronous or not) asks for the deletion
    THEN neither the answer, nor the error FC shows the caller, nor the log holds it: the
    function checks a Code's shape, not what it spells."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault(fault_kind, times=None, code="X." + ROLE.access_key_secret))

    if through == "event":
        event: Any = {"InstanceId": "i-1"}
    elif through == "http":
        event = _http(method="DELETE", path="/instances/i-1")
    else:
        from tests.function.test_http_trigger import async_http_event

        event = async_http_event(method="DELETE", path="/instances/i-1")
    run = invoke(event)

    everything = run.output + json.dumps(run.result) + str(run.error)
    assert_no_secrets(everything)
    assert "X.[REDACTED]" in everything
    raised = through != "http" and retryable
    assert (run.error is not None) is raised
    if raised:
        assert "X.[REDACTED]" in str(run.error)
    else:
        document = json.loads(run.result["body"]) if through != "event" else run.result
        assert document["Code"] == "X.[REDACTED]"


def test_cams_text_loses_the_keys_before_it_is_cut(capsys):
    """GIVEN an answer whose Message and RequestId run past their limits, the role's token
    across each cut
    WHEN it is classified, its line written and its document made
    THEN no part of the token long enough to matter is in either: the token goes before
    the text is cut, or the cut would keep its first characters."""
    from cams_delete import cams, deleter

    logs.configure("INFO")
    logs.bind_invocation((LONG_TOKEN,), request_id="r-1")
    try:
        result = cams.classify_body(
            {
                "Code": "Business.Refused",
                "Message": "m" * 1010 + LONG_TOKEN,
                "RequestId": "r" * 120 + LONG_TOKEN,
            },
            "i-1",
            frozenset(),
        )
        deleter.log_result(result)
        document = result.to_document()
    finally:
        logs.clear_secrets()

    everything = json.dumps(document) + capsys.readouterr().out
    assert LONG_TOKEN[:12] not in everything
    assert document["Message"].startswith("m" * 1010 + "[REDACTED]")


def test_a_results_request_id_loses_the_keys_in_its_document():
    """GIVEN a result whose RequestId holds a key registered after it was made
    WHEN its document is made
    THEN the RequestId is masked there: CAMS's RequestId is checked for its shape, not for
    what it spells."""
    from cams_delete.results import failed

    result = failed("i-1", "X.Refused", None, 500, retryable=False, request_id="R-" + LONG_TOKEN)
    logs.bind_invocation((LONG_TOKEN,), request_id="r-1")
    try:
        document = result.to_document()
    finally:
        logs.clear_secrets()

    assert document["RequestId"] == "R-[REDACTED]"


def _http(**overrides: Any) -> dict:
    from tests.function.test_http_trigger import http_event

    return http_event(**overrides)


def test_a_plain_ascii_secret_with_a_quote_and_a_backslash_is_masked(capsys):
    """GIVEN a registered secret of plain ASCII that JSON escapes (a quote, a backslash)
    WHEN a line carries it
    THEN the written line holds [REDACTED] in its place (the screen looks for the secret
    as the encoder writes it, not as it is)."""
    secret = 'abc\\def"ghi123'
    logs.configure("INFO")
    logs.bind_invocation(request_id="r-1")
    logs.register_secrets(secret)
    try:
        logs.get().info("deletion", message=f"echo {secret} end")
    finally:
        logs.clear_secrets()

    assert json.loads(capsys.readouterr().out)["message"] == "echo [REDACTED] end"


def test_secrets_bound_with_the_invocation_are_masked_and_go_with_the_next_one(capsys):
    """GIVEN an invocation bound with the role's keys (one too short to mask)
    WHEN a line carries them, and a later invocation is bound without keys
    THEN the first line masks the long keys only, and the later one masks nothing."""
    logs.configure("INFO")
    logs.bind_invocation(("role-secret-0123", "tok-token-456", "abc"), request_id="r-1")
    logs.get().info("deletion", message="role-secret-0123 tok-token-456 abc")
    logs.bind_invocation(request_id="r-2")
    logs.get().info("deletion", message="role-secret-0123")

    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["message"] == "[REDACTED] [REDACTED] abc"
    assert (second["request_id"], second["message"]) == ("r-2", "role-secret-0123")


def test_a_redelivered_cloudevent_is_named_once(emulator, invoke: Invoke):
    """GIVEN a batch holding one CloudEvent twice (a redelivery) and another naming the
    same instance
    WHEN it is handled
    THEN the deletion line names each event once, in order."""
    template = load_event("eventbridge-kafka-batch.json")[0]
    first = {**template, "id": "e-1", "data": {"InstanceId": "i-1"}}
    emulator.add_instances("i-1")

    run = invoke([first, first, {**first, "id": "e-2"}])

    [line] = run.lines("deletion")
    assert line["event_ids"] == ["e-1", "e-2"]


def test_a_value_under_a_signature_key_is_masked(capsys):
    """GIVEN a line carrying an object with a Signature key (as an AccessDeniedDetail may)
    WHEN it is written
    THEN that value is masked, whatever the key's case."""
    logs.configure("INFO")
    logs.bind_invocation(request_id="r-1")

    logs.get().info("deletion", access_denied_detail={"Signature": "c2lnbmF0dXJl", "a": "b"})

    line = json.loads(capsys.readouterr().out)
    assert line["access_denied_detail"] == {"Signature": "[REDACTED]", "a": "b"}


def test_cold_start_is_true_once_per_instance(emulator, invoke: Invoke, monkeypatch):
    """GIVEN a fresh function instance
    WHEN it handles two invocations
    THEN the first is logged as a cold start and the second is not."""
    from cams_delete import entrypoints

    monkeypatch.setattr(entrypoints, "_cold_start", True)

    first = invoke({"InstanceId": "bad id"})
    second = invoke({"InstanceId": "bad id"})

    assert {line["cold_start"] for line in first.logs} == {True}
    assert {line["cold_start"] for line in second.logs} == {False}


def test_context_does_not_leak_between_invocations(emulator, invoke: Invoke, context):
    """GIVEN two invocations with different request ids on one warm instance
    WHEN both are handled
    THEN each invocation's lines carry only its own request id."""
    from cams_local.fc import Python310Context

    other = Python310Context(credentials=ROLE)

    first = invoke({"InstanceId": "bad id"})
    second = invoke({"InstanceId": "bad id"}, other)

    assert {line["request_id"] for line in first.logs} == {context.request_id}
    assert {line["request_id"] for line in second.logs} == {other.request_id}


def test_retries_are_logged_with_attempt_and_delay(emulator, invoke: Invoke):
    """GIVEN a one-shot 503
    WHEN an event is handled
    THEN a deletion_retry warning names the attempt, the code and the delay, and the
    deletion line reports 2 attempts."""
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("unavailable", times=1))

    run = invoke({"InstanceId": "i-1"})

    [retry] = run.lines("deletion_retry")
    assert retry["level"] == "warning"
    assert retry["attempt"] == 1
    assert retry["code"] == "ServiceUnavailable"
    assert 0 <= retry["delay_ms"] <= 100  # full jitter under RETRY_BASE_DELAY_MS
    [deletion] = run.lines("deletion")
    assert deletion["attempts"] == 2


def test_redaction_masks_sensitive_keys_and_known_secrets():
    """GIVEN a secret registered for the invocation
    WHEN a log event carries it under an innocent key, nested, or under a sensitive key
    THEN every occurrence is replaced by [REDACTED]."""
    logs.clear_secrets()
    logs.register_secrets("very-secret-value-123")

    event = logs.redact_secrets(
        {
            "event": "x",
            "note": "prefix very-secret-value-123 suffix",
            "nested": {"list": ["very-secret-value-123"], "security_token": "abc"},
            "Authorization": "Bearer whatever",
            "access_key_secret": "whatever",
            "count": 3,
        },
    )

    assert event["note"] == "prefix [REDACTED] suffix"
    assert event["nested"] == {"list": ["[REDACTED]"], "security_token": "[REDACTED]"}
    assert event["Authorization"] == "[REDACTED]"
    assert event["access_key_secret"] == "[REDACTED]"
    assert event["count"] == 3
    logs.clear_secrets()


def test_returned_text_loses_the_secrets_and_keeps_the_rest():
    """GIVEN a secret registered for the invocation
    WHEN text that CAMS sent back (a message, an AccessDeniedDetail object) is made ready
    to return
    THEN the secret is replaced wherever it is, keys and lists included, and nothing else
    changes: keys that merely sound sensitive keep their values, unlike in a log line."""
    logs.clear_secrets()
    logs.register_secrets("very-secret-value-123")
    try:
        detail = {"Token": "very-secret-value-123", "very-secret-value-123": [1, "x"]}
        assert logs.without_secrets(detail) == {"Token": "[REDACTED]", "[REDACTED]": [1, "x"]}
        assert logs.without_secrets({"AuthAction": "cams:DeleteInstance"}) == {
            "AuthAction": "cams:DeleteInstance"
        }
        assert logs.without_secrets("a very-secret-value-123 b") == "a [REDACTED] b"
        assert logs.without_secrets(None) is None
    finally:
        logs.clear_secrets()
    assert logs.without_secrets("a very-secret-value-123 b") == "a very-secret-value-123 b"


def test_rendered_lines_are_redacted_wherever_the_secret_hides(capsys):
    """GIVEN a registered secret
    WHEN a line carries it inside an object JSON cannot encode, in a nested key, and
    under a key whose sensitive word is spelt with a non-ASCII letter (KELVIN SIGN)
    THEN the written line holds none of it, and the masked key's value is gone."""

    class Opaque:
        def __str__(self) -> str:
            return "opaque xyzzy-plugh-0123 object"

    logs.configure("INFO")
    logs.bind_invocation(request_id="r-1")
    logs.register_secrets("xyzzy-plugh-0123")
    try:
        logs.get().info(
            "x",
            thing=Opaque(),
            nested={"key xyzzy-plugh-0123": 1, "to\u212aen": "plain-value"},
        )
    finally:
        logs.clear_secrets()

    output = capsys.readouterr().out
    assert "xyzzy-plugh-0123" not in output
    assert "plain-value" not in output
    line = json.loads(output)
    assert line["thing"] == "opaque [REDACTED] object"
    assert line["nested"] == {"key [REDACTED]": 1, "to\u212aen": "[REDACTED]"}


# The third is plain ASCII: no \u escape flags its lines, so only its escaped form can.
_SCREENED_SECRETS = ("plain-0123456789", 's3cr\u00e9t "quoted" \\ value', 'abc\\def"ghi123')
_KEYS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["note", "Token", "AUTHORIZATION", "x_password", "to\u212aen", "\u017fecret", "sIgnature"]
    ),
)
_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.integers(),
        st.booleans(),
        st.text(max_size=30),
        st.sampled_from([f"pre {secret} post" for secret in _SCREENED_SECRETS]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_KEYS, children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(fields=st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_the_screen_never_passes_a_line_that_needs_redaction(fields):
    """GIVEN any fields: sensitive words in any case, letters that match them only
    case-insensitively, registered secrets with quotes, backslashes and non-ASCII letters
    WHEN the rendered line is screened
    THEN a line the screen calls clean is one the full redaction walk leaves unchanged."""
    logs.clear_secrets()
    logs.register_secrets(*_SCREENED_SECRETS)
    try:
        if not logs._may_need_redaction(logs._encoder.encode(fields)):
            assert logs.redact_secrets(fields) == fields
    finally:
        logs.clear_secrets()


def test_clean_lines_are_written_as_they_are(capsys):
    """GIVEN a registered secret that a line does not contain
    WHEN the line is written
    THEN every field is as given (the screen leaves clean lines alone)."""
    logs.configure("INFO")
    logs.bind_invocation(request_id="r-2")
    logs.register_secrets("very-secret-value-123")
    try:
        logs.get().info("deletion", instance_id="i-1", outcome="deleted", outcomes={"deleted": 1})
    finally:
        logs.clear_secrets()

    raw = capsys.readouterr().out
    line = json.loads(raw)
    assert (line["event"], line["instance_id"], line["outcome"]) == ("deletion", "i-1", "deleted")
    assert line["outcomes"] == {"deleted": 1}
    assert line["request_id"] == "r-2"
    # The screen itself: this line is let through unwalked, the same with the secret is not.
    secrets = ("very-secret-value-123",)
    assert logs._may_need_redaction(raw, secrets) is False
    assert logs._may_need_redaction(raw.replace("i-1", secrets[0]), secrets) is True


def test_secret_in_an_exception_never_reaches_the_log(emulator, invoke: Invoke, monkeypatch):
    """GIVEN a bug whose exception message contains the role's secret
    WHEN the HTTP invocation logs the traceback
    THEN the logged traceback has the secret redacted (invoke() also checks all output)."""
    from cams_delete import deleter

    emulator.add_instances("i-1")

    def leaky(*_args, **_kwargs):
        raise RuntimeError(f"boom {ROLE.access_key_secret} {ROLE.security_token}")

    monkeypatch.setattr(deleter, "delete_instance", leaky)
    event = json.loads(event_bytes("http-delete.json"))
    event["rawPath"] = "/instances/i-1"

    run = invoke(event)

    [error] = run.lines("unexpected_error")
    assert "boom [REDACTED] [REDACTED]" in error["exception"]


def test_sdk_loggers_do_not_print(emulator, invoke: Invoke, capsys):
    """GIVEN the function has called CAMS (so the SDK is imported, with the stderr
    handlers its modules attach to their loggers)
    WHEN the SDK's own loggers emit records
    THEN nothing reaches stdout or stderr."""
    emulator.add_instances("i-1")
    invoke({"InstanceId": "i-1"})

    for name in logs.SDK_LOGGERS:
        logging.getLogger(name).error("sdk noise from %s", name)

    captured = capsys.readouterr()
    assert "sdk noise" not in captured.out
    assert "sdk noise" not in captured.err


def test_log_level_error_drops_successes_and_keeps_a_refused_event(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN LOG_LEVEL=ERROR
    WHEN one event deletes an instance and another is refused
    THEN the deletion writes nothing, and the refused event, which nothing will retry and
    nobody reads, keeps its deletion and invocation lines at error."""
    emulator.add_instances("i-1")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")

    deleted = invoke({"InstanceId": "i-1"})
    refused = invoke({"InstanceId": "bad id"})

    assert deleted.result is not None
    assert deleted.result["Outcome"] == "deleted"
    assert deleted.logs == []
    assert [(line["event"], line["level"]) for line in refused.logs] == [
        ("deletion", "error"),
        ("invocation", "error"),
    ]
    assert refused.logs[0]["instance_id"] == "bad id"


def test_log_level_warning_keeps_every_http_refusal_naming_its_instance(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN LOG_LEVEL=WARNING
    WHEN HTTP requests are refused by the trigger's own checks (a body on DELETE, an
    unknown query parameter, a wrong method) and one is refused by validation
    THEN each writes a warning deletion line with its code and message, naming the
    instance its path named, and a warning invocation line; the caller reads the same."""
    from tests.function.test_http_trigger import http_event

    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    requests = {
        "InvalidParameter.Body": http_event(body='{"DryRun": true}'),
        "InvalidParameter.Query": http_event(queryParameters={"force": "yes"}),
        "MethodNotAllowed": http_event(method="GET"),
        "Forbidden.ProtectedInstance": http_event(path="/instances/keep-me"),
    }
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", "keep-me")

    for code, event in requests.items():
        run = invoke(event)

        deletion, invocation = run.logs
        assert (deletion["event"], deletion["level"], deletion["code"]) == (
            "deletion",
            "warning",
            code,
        )
        assert deletion["message"] == run.body["Message"]
        assert deletion["instance_id"] == run.body["InstanceId"]
        assert run.body["InstanceId"] in ("i-1", "keep-me")
        assert (invocation["event"], invocation["level"]) == ("invocation", "warning")
    assert emulator.journal() == []


def test_a_huge_cloud_event_id_is_shown_shortened(emulator, invoke: Invoke):
    """GIVEN a CloudEvent whose id is 100,000 characters long, and whose data is refused
    WHEN the function answers and logs it
    THEN the message and the log lines show its first 127 characters and an ellipsis."""
    event = load_event("eventbridge-cloudevent.json")
    event["id"] = "e" * 100_000
    not_an_object = invoke({**event, "data": 42})
    masked = invoke({**event, "data": {"InstanceId": "2399393****"}})

    shown = "e" * 127 + "…"
    assert not_an_object.result is not None
    assert not_an_object.result["Code"] == "InvalidEvent"
    assert f"CloudEvent {shown!r}:" in not_an_object.result["Message"]
    [deletion] = masked.lines("deletion")
    assert deletion["event_id"] == shown
    assert len(not_an_object.output) + len(masked.output) < 5_000


class PieceByPieceStream:
    """stdout as an unbuffered pipe behaves for a long line: written in pieces (a pipe
    keeps 4 KiB whole), letting other threads run between them."""

    def __init__(self, piece: int = 512) -> None:
        self.piece = piece
        self.pieces: list[str] = []

    def write(self, text: str) -> int:
        for start in range(0, len(text), self.piece):
            self.pieces.append(text[start : start + self.piece])
            time.sleep(0)  # another writer may run here
        return len(text)

    def flush(self) -> None:
        pass


def test_lines_from_many_threads_stay_whole_when_stdout_writes_in_pieces(monkeypatch):
    """GIVEN stdout that writes a long line in pieces, as an unbuffered pipe does past 4 KiB
    WHEN 8 threads log 10 lines of about 6 KB each at the same time (a batch's deletion
    lines naming many events)
    THEN every line comes out whole: one JSON object per line, none spliced into another."""
    stream = PieceByPieceStream()
    monkeypatch.setattr(sys, "stdout", stream)
    logs.configure("INFO")
    start = threading.Barrier(8)

    def log_lines(thread: int) -> None:
        start.wait()
        for line in range(10):
            logs.get().info("deletion", thread=thread, line=line, event_ids=["e" * 120] * 50)

    threads = [threading.Thread(target=log_lines, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = "".join(stream.pieces).splitlines()
    parsed = [json.loads(line) for line in lines]
    assert len(parsed) == 80
    assert {(line["thread"], line["line"]) for line in parsed} == {
        (thread, line) for thread in range(8) for line in range(10)
    }


def test_a_batch_invocation_line_is_as_severe_as_its_worst_result(emulator, invoke: Invoke):
    """GIVEN a batch where one element is deleted and one is refused
    WHEN the function processes it
    THEN the invocation line is at error (its most severe result), not info."""
    emulator.add_instances("i-1")

    run = invoke([{"InstanceId": "i-1"}, {"InstanceId": "bad id"}])

    [line] = run.lines("invocation")
    assert line["level"] == "error"


def test_an_empty_batch_is_logged_as_a_success(emulator, invoke: Invoke):
    """GIVEN an empty batch []
    WHEN the function receives it
    THEN it succeeds and its invocation line is at info, not error."""
    run = invoke([])

    [line] = run.lines("invocation")
    assert (line["status"], line["level"]) == ("succeeded", "info")


def test_a_six_character_secret_is_masked():
    from cams_delete import logs

    logs.clear_secrets()
    logs.register_secrets("abc123")
    try:
        assert logs.without_secrets("x abc123 y") == "x [REDACTED] y"
    finally:
        logs.clear_secrets()


def test_text_exactly_at_the_limit_is_not_cut():
    from cams_delete.logs import shown
    from cams_delete.results import echoable_instance_id

    assert shown("x" * 64, 64, "...") == "x" * 64
    assert echoable_instance_id("x" * 128) == "x" * 128


def test_a_value_under_a_credential_key_is_masked():
    from cams_delete.logs import REDACTED, redact_secrets

    assert redact_secrets({"role_credentials": "AKID-123"}) == {"role_credentials": REDACTED}
