"""Configuration: every variable checked, a bad value fails fast naming the variable."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from cams_delete import cams, entrypoints
from cams_delete.config import BEARER_HASH_COMMAND, ConfigError, load_settings
from cams_emulator import Fault
from cams_local.fc import FunctionMeta, Python310Context
from tests.conftest import ROLE, Invoke

REPO = Path(__file__).resolve().parents[2]


def test_defaults():
    """GIVEN no variables
    WHEN settings load
    THEN the documented defaults hold."""
    settings = load_settings({})

    assert settings.region == "ap-southeast-1"
    assert settings.endpoint == "cams.ap-southeast-1.aliyuncs.com"
    assert settings.protocol == "https"
    assert "InvalidInstanceId.NotFound" in settings.not_found_codes
    assert {"InstanceStatus", "OperationConflict"} <= settings.retry_later_codes
    assert settings.protected_instance_ids == frozenset()
    assert settings.dry_run is False
    assert settings.log_level == "INFO"
    assert settings.max_attempts == 4
    assert settings.max_concurrency == 8
    assert settings.max_batch_size == 100
    assert settings.bearer_token_sha256 is None


def test_endpoint_follows_region():
    assert load_settings({"CAMS_REGION": "cn-hangzhou"}).endpoint == "cams.cn-hangzhou.aliyuncs.com"


def test_lists_are_trimmed():
    settings = load_settings(
        {
            "PROTECTED_INSTANCE_IDS": " a , b,,",
            "CAMS_NOT_FOUND_CODES": "X.NotFound, Y",
            "CAMS_RETRY_LATER_CODES": " Instance.Busy ,,Z",
        }
    )

    assert settings.protected_instance_ids == {"a", "b"}
    assert settings.not_found_codes == {"X.NotFound", "Y"}
    assert settings.retry_later_codes == {"Instance.Busy", "Z"}


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"CAMS_REGION": "Asia Pacific"}, "CAMS_REGION"),
        ({"CAMS_ENDPOINT": "https://cams.example.com/"}, "CAMS_ENDPOINT"),
        ({"CAMS_ENDPOINT": "127.0.0.1:99999"}, "CAMS_ENDPOINT"),
        ({"CAMS_ENDPOINT": "cams..ap-southeast-1.aliyuncs.com"}, "CAMS_ENDPOINT"),
        ({"CAMS_ENDPOINT": "."}, "CAMS_ENDPOINT"),
        ({"CAMS_ENDPOINT": "-cams.example.com"}, "CAMS_ENDPOINT"),
        ({"CAMS_ENDPOINT": "cams.example.com."}, "CAMS_ENDPOINT"),
        ({"CAMS_PROTOCOL": "ftp"}, "CAMS_PROTOCOL"),
        ({"CAMS_PROTOCOL": "http"}, "CAMS_PROTOCOL"),
        ({"CAMS_PROTOCOL": "http", "CAMS_ENDPOINT": "cams.example.com"}, "CAMS_PROTOCOL"),
        # Private addresses are not loopback: the role's keys would cross a network in clear.
        ({"CAMS_PROTOCOL": "http", "CAMS_ENDPOINT": "10.0.0.5:80"}, "CAMS_PROTOCOL"),
        ({"CAMS_PROTOCOL": "http", "CAMS_ENDPOINT": "192.168.1.10"}, "CAMS_PROTOCOL"),
        ({"CAMS_PROTOCOL": "http", "CAMS_ENDPOINT": "169.254.100.200"}, "CAMS_PROTOCOL"),
        ({"CAMS_NOT_FOUND_CODES": "a b"}, "CAMS_NOT_FOUND_CODES"),
        ({"CAMS_RETRY_LATER_CODES": "Busy\nNow"}, "CAMS_RETRY_LATER_CODES"),
        # Gone and busy at once: which one a retry of it would mean is anyone's guess.
        (
            {"CAMS_NOT_FOUND_CODES": "X.NotFound", "CAMS_RETRY_LATER_CODES": "X.NotFound"},
            "CAMS_RETRY_LATER_CODES",
        ),
        ({"PROTECTED_INSTANCE_IDS": "ok,not ok"}, "PROTECTED_INSTANCE_IDS"),
        ({"DRY_RUN": "maybe"}, "DRY_RUN"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"MAX_ATTEMPTS": "0"}, "MAX_ATTEMPTS"),
        ({"MAX_ATTEMPTS": "four"}, "MAX_ATTEMPTS"),
        ({"MAX_CONCURRENCY": "1000"}, "MAX_CONCURRENCY"),
        ({"MAX_BATCH_SIZE": "-1"}, "MAX_BATCH_SIZE"),
        ({"HTTP_BEARER_TOKEN_SHA256": "not-a-hash"}, "HTTP_BEARER_TOKEN_SHA256"),
        ({"RETRY_BASE_DELAY_MS": "500", "RETRY_MAX_DELAY_MS": "100"}, "RETRY_MAX_DELAY_MS"),
        ({"DEADLINE_MARGIN_MS": "0"}, "DEADLINE_MARGIN_MS"),
    ],
)
def test_bad_values_name_their_variable(environ, variable):
    """GIVEN one bad value
    WHEN settings load
    THEN ConfigError names that variable and says why."""
    with pytest.raises(ConfigError) as raised:
        load_settings(environ)

    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")


def test_the_bearer_hash_command_makes_a_value_the_function_takes(tmp_path):
    """GIVEN a bearer token, and the command the error, the README and the template give for
    HTTP_BEARER_TOKEN_SHA256
    WHEN the command runs in a shell, and its output is the variable's value
    THEN the function takes it as the token's SHA-256; sha256sum's own output, which ends
    in "  -", is refused with a message that gives the command."""
    token = "s3cr3t token-" + "x" * 20
    made = subprocess.run(
        ["bash", "-c", BEARER_HASH_COMMAND], env={"TOKEN": token, "PATH": os.environ["PATH"]},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    value = made.stdout.rstrip("\n")

    assert load_settings({"HTTP_BEARER_TOKEN_SHA256": value}).bearer_token_sha256 == (
        hashlib.sha256(token.encode()).hexdigest()
    )
    with pytest.raises(ConfigError) as raised:
        load_settings({"HTTP_BEARER_TOKEN_SHA256": f"{value}  -"})
    assert BEARER_HASH_COMMAND in str(raised.value)
    for document in ("README.md", "template.yml"):
        text = (REPO / document).read_text().replace("\\|", "|")  # a table cell escapes |
        assert BEARER_HASH_COMMAND in text, document


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8080", "localhost:1", "[::1]:9000", "127.9.9.9"])
def test_http_is_allowed_for_loopback(endpoint):
    assert load_settings({"CAMS_PROTOCOL": "http", "CAMS_ENDPOINT": endpoint}).protocol == "http"


def test_initializer_fails_fast_on_bad_configuration(monkeypatch, capsys):
    """GIVEN CAMS_PROTOCOL=http with a public endpoint
    WHEN FC runs the initializer
    THEN it raises, naming the variable, and logs the reason at critical level."""
    monkeypatch.setenv("CAMS_PROTOCOL", "http")

    context = Python310Context(credentials=ROLE)
    with pytest.raises(entrypoints.InvalidConfigurationError, match="CAMS_PROTOCOL"):
        entrypoints.initialize(context)

    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["level"] == "critical"
    assert line["variable"] == "CAMS_PROTOCOL"
    assert line["request_id"] == context.request_id
    assert line["cold_start"] is True


def test_the_initializers_error_names_the_variable_not_its_value(monkeypatch, capsys):
    """GIVEN a setting whose value is wrong
    WHEN FC runs the initializer
    THEN the error, which FC sends to every caller (HTTP ones too), names the variable and
    the request id but not the value; the log line, for the operator, says what is wrong."""
    monkeypatch.setenv("CAMS_PROTOCOL", "gopher-value-9")
    context = Python310Context(credentials=ROLE)

    with pytest.raises(entrypoints.InvalidConfigurationError) as raised:
        entrypoints.initialize(context)

    assert "CAMS_PROTOCOL" in str(raised.value)
    assert context.request_id in str(raised.value)
    assert "gopher-value-9" not in str(raised.value)
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert "gopher-value-9" in line["reason"]


def test_initializer_succeeds_and_loads_the_sdk(emulator, capsys):
    """GIVEN a valid configuration
    WHEN FC runs the initializer
    THEN the SDK's client module is imported and one 'initialized' line is logged."""
    import sys

    context = Python310Context(credentials=ROLE)
    entrypoints.initialize(context)

    assert "alibabacloud_cams20200606.client" in sys.modules
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["event"] == "initialized"
    assert line["request_id"] == context.request_id
    assert line["function_name"] == context.function.name
    assert line["cold_start"] is True


def test_an_initializer_that_cannot_load_the_sdk_logs_why_and_shows_no_traceback(
    monkeypatch, capsys
):
    """GIVEN an SDK that fails to import (a package built for another runtime)
    WHEN FC runs the initializer
    THEN it raises the function's own error, which FC sends to every caller: a summary
    naming the request id, no frame below the entry point, no chained cause; the log has
    the reason and the traceback."""

    def broken_sdk() -> None:
        raise ImportError("No module named '_cffi_backend'")

    monkeypatch.setattr(cams, "load_sdk", broken_sdk)
    context = Python310Context(credentials=ROLE)

    with pytest.raises(entrypoints.InitializationError) as raised:
        entrypoints.initialize(context)

    assert context.request_id in str(raised.value)
    assert "_cffi_backend" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    frames = [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert frames[1:] == ["initialize"]  # below the test's own frame
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["level"]) == ("initialization_failed", "error")
    assert line["request_id"] == context.request_id
    assert "_cffi_backend" in line["exception"]
    assert line["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.parametrize("value", ["", "  ", " , "])
def test_an_empty_not_found_list_means_the_default(emulator, invoke: Invoke, monkeypatch, value):
    """GIVEN CAMS_NOT_FOUND_CODES set but empty, as templates write an unset variable
    WHEN a delete of an instance that is already gone arrives (a redelivery)
    THEN the default code still counts: the result is already_deleted, not a permanent
    failure that would discard the event."""
    monkeypatch.setenv("CAMS_NOT_FOUND_CODES", value)

    run = invoke({"InstanceId": "i-gone"})

    assert load_settings({"CAMS_NOT_FOUND_CODES": value}).not_found_codes == {
        "InvalidInstanceId.NotFound"
    }
    assert run.error is None
    assert run.result is not None
    assert run.result["Outcome"] == "already_deleted"
    assert run.result["Success"] is True
    assert [call.instance_id for call in emulator.calls()] == ["i-gone"]


@pytest.mark.parametrize("value", ["", " , "])
def test_an_empty_retry_later_list_means_the_default(emulator, invoke: Invoke, monkeypatch, value):
    """GIVEN CAMS_RETRY_LATER_CODES set but empty
    WHEN CAMS answers that the instance is busy (InstanceStatus.Invalid)
    THEN the default families still count: the event is kept for a retry, not ended."""
    monkeypatch.setenv("CAMS_RETRY_LATER_CODES", value)
    emulator.add_instances("i-1")
    emulator.add_fault(Fault("business_error", code="InstanceStatus.Invalid", times=None))

    run = invoke({"InstanceId": "i-1"})

    assert type(run.error).__name__ == "RetryableDeletionError"
    assert emulator.instances() == {"i-1"}


def test_bad_configuration_logs_how_many_requests_the_batch_held(invoke: Invoke, monkeypatch):
    """GIVEN MAX_BATCH_SIZE=lots
    WHEN a batch of three arrives
    THEN it raises, and the invocation line counts the three requests it held."""
    monkeypatch.setenv("MAX_BATCH_SIZE", "lots")

    run = invoke([{"InstanceId": "i-1"}, {"InstanceId": "i-2"}, {"InstanceId": "i-3"}])

    assert run.error is not None
    [invocation] = run.lines("invocation")
    assert invocation["source"] == "batch"
    assert invocation["status"] == "error"
    assert invocation["count"] == 3


def test_bad_configuration_makes_an_event_raise(invoke: Invoke, monkeypatch):
    """GIVEN MAX_BATCH_SIZE=lots
    WHEN an event arrives
    THEN the invocation raises (FC retries it and keeps it for the on-failure destination)
    rather than dropping it."""
    monkeypatch.setenv("MAX_BATCH_SIZE", "lots")

    run = invoke({"InstanceId": "i-1"})

    assert run.error is not None
    assert "MAX_BATCH_SIZE" in str(run.error)
    assert "lots" not in str(run.error)  # FC shows it to the caller: the name, not the value
    [line] = run.lines("invalid_configuration")
    assert "'lots'" in line["reason"]


def test_a_timeout_shorter_than_the_margin_is_a_configuration_error(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a function timeout of 1 s and the default DEADLINE_MARGIN_MS of 1000
    WHEN an event arrives
    THEN InvalidConfigurationError names DEADLINE_MARGIN_MS (not a DeadlineExceeded that
    FC would retry forever), its log line the timeout, and CAMS is not called."""
    emulator.add_instances("i-1")
    short = Python310Context(credentials=ROLE, function=FunctionMeta(timeout=1))

    run = invoke({"InstanceId": "i-1"}, short)

    assert type(run.error).__name__ == "InvalidConfigurationError"
    assert "DEADLINE_MARGIN_MS" in str(run.error)
    [line] = run.lines("invalid_configuration")
    assert "timeout (1 s)" in line["reason"]
    assert emulator.journal() == []


def test_the_initializer_refuses_a_timeout_shorter_than_the_margin(monkeypatch):
    """GIVEN DEADLINE_MARGIN_MS=2900 and a function timeout of 3 s
    WHEN FC runs the initializer
    THEN it fails, naming DEADLINE_MARGIN_MS, before any invocation."""
    monkeypatch.setenv("DEADLINE_MARGIN_MS", "2900")
    context = Python310Context(credentials=ROLE, function=FunctionMeta(timeout=3))

    with pytest.raises(entrypoints.InvalidConfigurationError, match="DEADLINE_MARGIN_MS"):
        entrypoints.initialize(context)


@pytest.mark.parametrize(
    ("name", "real"),
    [
        ("DRYRUN", "DRY_RUN"),
        ("dry_run", "DRY_RUN"),
        ("Dry-Run", "DRY_RUN"),
        ("PROTECTED_INSTANCE_ID", "PROTECTED_INSTANCE_IDS"),
        ("protected_instance_ids", "PROTECTED_INSTANCE_IDS"),
        ("LOGLEVEL", "LOG_LEVEL"),
        # Another name for the two settings that stop deletions, starting with its letters
        # or also holding CAMS or INSTANCE.
        ("CAMS_DRY_RUN", "DRY_RUN"),
        ("DRY_RUN_MODE", "DRY_RUN"),
        ("PROTECTED_INSTANCES", "PROTECTED_INSTANCE_IDS"),
        ("CAMS_PROTECTED_IDS", "PROTECTED_INSTANCE_IDS"),
        # The stem, a flag's prefix, or a word saying it is about deleting.
        ("PROTECT_INSTANCE_IDS", "PROTECTED_INSTANCE_IDS"),
        ("PROTECTION_LIST", "PROTECTED_INSTANCE_IDS"),
        ("IS_DRY_RUN", "DRY_RUN"),
        ("ENABLE_DRY_RUN", "DRY_RUN"),
        ("DELETE_DRY_RUN", "DRY_RUN"),
        # Other words for keeping instances, beside INSTANCE, CAMS or DELETE, or alone.
        ("EXCLUDED_INSTANCE_IDS", "PROTECTED_INSTANCE_IDS"),
        ("SKIP_INSTANCES", "PROTECTED_INSTANCE_IDS"),
        ("KEEP_CAMS_IDS", "PROTECTED_INSTANCE_IDS"),
        ("DO_NOT_DELETE", "PROTECTED_INSTANCE_IDS"),
        ("NEVER_DELETE_IDS", "PROTECTED_INSTANCE_IDS"),
        # The trigger's token under another name: the trigger would be left open.
        ("HTTP_BEARER_TOKEN", "HTTP_BEARER_TOKEN_SHA256"),
        ("BEARER_TOKEN_SHA256", "HTTP_BEARER_TOKEN_SHA256"),
        ("HTTP_BEARER_TOKEN_SHA", "HTTP_BEARER_TOKEN_SHA256"),
    ],
)
def test_a_setting_in_another_spelling_is_refused(name: str, real: str):
    """GIVEN a variable that is one of the function's settings in another case or spelling,
    or another name for DRY_RUN, PROTECTED_INSTANCE_IDS or HTTP_BEARER_TOKEN_SHA256
    WHEN the settings are read
    THEN it is refused, naming it and the real setting: ignored, DRYRUN=true would let
    the function delete what its author meant only to check, and PROTECTED_INSTANCES
    would leave the instances it names unprotected."""
    with pytest.raises(ConfigError) as raised:
        load_settings({name: "true"})

    assert raised.value.variable == name
    assert f"the setting is {real}" in str(raised.value)


@pytest.mark.parametrize(
    "name",
    [
        "DRY",
        "RUN",
        "RUN_DRY",
        "PROTECT",
        "PATH",
        "FC_FUNCTION_NAME",
        "FC_INSTANCE_ID",
        # Other tools' dry runs and protections, which CI runners and shells set.
        "GITHUB_REF_PROTECTED",
        "CI_COMMIT_REF_PROTECTED",
        "PIP_DRY_RUN",
        "npm_config_dry_run",
        "HELM_DRY_RUN",
        "FOUNDRY_RUNTIME",
        # The words for keeping, in names that are not about instances.
        "SKIP_BUILD",
        "KEEPALIVE",
        "PRESERVE_ENV",
    ],
)
def test_other_variables_are_let_be(name: str):
    """GIVEN a variable that only shares part of a setting's name, or is FC's, the OS's or
    another tool's
    WHEN the settings are read
    THEN it is no concern of the function's."""
    assert load_settings({name: "true"}).dry_run is False


def test_a_misspelt_setting_added_to_a_warm_process_is_refused(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a warm process whose settings were read, and then DRYRUN=true added to its
    environment (the demo and local runs change it in process), the 16 settings unchanged
    WHEN an event names an instance
    THEN the invocation fails on DRYRUN, as a fresh process would, and nothing is deleted."""
    emulator.add_instances("warm-1", "warm-2")
    assert invoke({"InstanceId": "warm-1"}).error is None
    monkeypatch.setenv("DRYRUN", "true")

    run = invoke({"InstanceId": "warm-2"})

    assert type(run.error).__name__ == "InvalidConfigurationError"
    assert "DRYRUN" in str(run.error)
    assert "warm-2" in emulator.instances()


@pytest.mark.parametrize(
    ("environ", "accepted"),
    [
        ({"CAMS_ENDPOINT": "127.0.0.1:65535", "CAMS_PROTOCOL": "http"}, True),
        ({"CAMS_ENDPOINT": "127.0.0.1:65536", "CAMS_PROTOCOL": "http"}, False),
        ({"RETRY_BASE_DELAY_MS": "50", "RETRY_MAX_DELAY_MS": "50"}, True),
        ({"MAX_CONCURRENCY": "64"}, True),
        ({"MAX_CONCURRENCY": "65"}, False),
        ({"MAX_BATCH_SIZE": "10000"}, True),
        ({"MAX_BATCH_SIZE": "10001"}, False),
    ],
)
def test_configuration_bounds(environ, accepted):
    """GIVEN a setting at or just past its documented bound
    WHEN the configuration is loaded
    THEN the bound is accepted and the next value refused, naming the variable."""
    from cams_delete.config import ConfigError, load_settings

    if accepted:
        load_settings(environ)
    else:
        with pytest.raises(ConfigError) as raised:
            load_settings(environ)
        assert raised.value.variable == next(iter(environ))  # each case names it first


@pytest.mark.parametrize("value", ["yes", "on", "TRUE"])
def test_dry_run_setting_reads_yes_and_on_as_true(value):
    from cams_delete.config import load_settings

    assert load_settings({"DRY_RUN": value}).dry_run is True
