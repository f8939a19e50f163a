"""template.yml, checked the way `s deploy` would read it, and the RAM documents beside it.

The props of every fc3 resource are validated against the fc3 component's own JSON Schema
(`fc3/schema.json` beside this file, see its SOURCE.md; or $FC3_SCHEMA), after `${vars.x}` is
resolved. That schema checks `triggerConfig` only through an `anyOf` over all trigger kinds
(and the empty tablestore config matches anything), so each trigger's config is also
validated against its own kind's definition.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# jsonschema ships no type information and has no stubs in requirements-dev.txt: typed as Any.
jsonschema: Any = importlib.import_module("jsonschema")

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yml"
POLICY = REPO / "policies" / "cams-delete-instance-policy.json"
TRUST = REPO / "policies" / "fc-trust-policy.json"
EVENT_FIXTURE = REPO / "events" / "eventbridge-cloudevent.json"

# The configuration table: the function's environment variables, all of them.
CONFIG_VARIABLES = {
    "CAMS_REGION",
    "CAMS_ENDPOINT",
    "CAMS_PROTOCOL",
    "CAMS_NOT_FOUND_CODES",
    "CAMS_RETRY_LATER_CODES",
    "PROTECTED_INSTANCE_IDS",
    "DRY_RUN",
    "LOG_LEVEL",
    "MAX_ATTEMPTS",
    "MAX_CONCURRENCY",
    "MAX_BATCH_SIZE",
    "HTTP_BEARER_TOKEN_SHA256",
}
EVENT_SOURCE = "cams.instance-retirement"
EVENT_TYPE = "cams:Instance:DeletionRequested"
TRIGGER_DEFINITIONS = {"http": "IHttpTriggerConfig", "eventbridge": "IEventBridge"}
_VAR = re.compile(r"\$\{vars\.([A-Za-z_][A-Za-z0-9_]*)\}")


def schema_path() -> Path:
    override = os.environ.get("FC3_SCHEMA")
    return Path(override) if override else Path(__file__).parent / "fc3" / "schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    path = schema_path()
    if not path.is_file():
        pytest.fail(f"fc3 props schema not found at {path} (FC3_SCHEMA names another file)")
    loaded: dict[str, Any] = json.loads(path.read_text())
    jsonschema.Draft7Validator.check_schema(loaded)
    return loaded


def resolve(node: Any, variables: dict[str, Any]) -> Any:
    """Substitute ${vars.x} like Serverless Devs; fail on anything it would not resolve."""
    if isinstance(node, dict):
        return {key: resolve(value, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, variables) for value in node]
    if not isinstance(node, str):
        return node

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise KeyError(f"${{vars.{name}}} is not defined in vars")
        return str(variables[name])

    whole = _VAR.fullmatch(node)
    if whole:  # a value that is only a reference keeps the variable's type
        lookup(whole)
        resolved: Any = variables[whole.group(1)]
        return resolved
    text = _VAR.sub(lookup, node)
    if "${" in text:
        raise ValueError(f"unresolved expression in {node!r}")
    return text


def load_template(text: str | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(TEMPLATE.read_text() if text is None else text)
    variables = raw.get("vars") or {}
    for name, value in variables.items():
        assert "${" not in str(value), f"vars.{name} must be a plain value"
    resolved: dict[str, Any] = resolve(raw, variables)
    return resolved


def fc3_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["resources"].items()
        if resource.get("component") == "fc3"
    }


def props_errors(props: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every schema violation in `props`, each trigger's config checked against its own kind."""
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '<props>'}: {e.message}"
        for e in validator.iter_errors(props)
    ]
    for index, trigger in enumerate(props.get("triggers") or []):
        definition = TRIGGER_DEFINITIONS.get(trigger.get("triggerType"))
        if definition is None:
            continue
        sub_schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
        errors += [
            f"triggers/{index}/triggerConfig/{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft7Validator(sub_schema).iter_errors(
                trigger.get("triggerConfig")
            )
        ]
    return errors


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def props(template: dict[str, Any]) -> dict[str, Any]:
    resources = fc3_resources(template)
    assert len(resources) == 1, "one fc3 resource: the function"
    (resource,) = resources.values()
    resource_props: dict[str, Any] = resource["props"]
    return resource_props


def trigger(props: dict[str, Any], kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [t for t in props["triggers"] if t["triggerType"] == kind]
    assert len(found) == 1, f"exactly one {kind} trigger"
    return found[0]


# --- the template as a whole ---------------------------------------------------------------


def test_serverless_devs_3_format() -> None:
    raw = yaml.safe_load(TEMPLATE.read_text())
    assert raw["edition"] == "3.0.0"
    assert "ROSTemplateFormatVersion" not in raw, "not the discontinued Funcraft format"
    assert {"region", "accountId", "roleName", "busName"} <= set(raw["vars"])
    (resource,) = raw["resources"].values()
    assert resource["component"] == "fc3"
    # The account is named once, in vars: the role's ARN is made from it.
    assert resource["props"]["role"] == "acs:ram::${vars.accountId}:role/${vars.roleName}"
    assert resource["props"]["region"] == "${vars.region}"


def test_every_fc3_resource_validates_against_the_component_schema(
    template: dict[str, Any], schema: dict[str, Any]
) -> None:
    resources = fc3_resources(template)
    assert resources
    for name, resource in resources.items():
        assert props_errors(resource["props"], schema) == [], name


def test_the_python312_option_validates_too(props: dict[str, Any], schema: dict[str, Any]) -> None:
    assert "# runtime: python3.12" in TEMPLATE.read_text(), "python3.12 documented as an option"
    assert props_errors({**props, "runtime": "python3.12"}, schema) == []


def test_no_expression_is_left_unresolved(template: dict[str, Any]) -> None:
    assert "${" not in json.dumps(template)


def test_the_resolver_refuses_unknown_variables_and_other_expressions() -> None:
    with pytest.raises(KeyError, match="nope"):
        resolve({"a": "x-${vars.nope}"}, {})
    with pytest.raises(ValueError, match="unresolved"):
        resolve({"a": "${env('HOME')}"}, {})
    assert resolve({"a": "${vars.n}", "b": "n=${vars.n}"}, {"n": 3}) == {"a": 3, "b": "n=3"}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(props: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = props
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return mutate


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda props: props.pop(key)


BAD_TEMPLATES: dict[str, Callable[[dict[str, Any]], None]] = {
    "memorySize 100 (not a multiple of 64, below 128)": _set("memorySize", 100),
    "no handler": _delete("handler"),
    "runtime python2": _set("runtime", "python2"),
    "region that fc3 does not know": _set("region", "mars-north-1"),
    "timeout 0": _set("timeout", 0),
    "environment value that is not a string": _set("environmentVariables.MAX_ATTEMPTS", 4),
    "async retries above FC's maximum of 8": _set("asyncInvokeConfig.maxAsyncRetryAttempts", 9),
    "http trigger with an unknown authType": _set("triggers.0.triggerConfig.authType", "none"),
    "http trigger with an unknown method": _set("triggers.0.triggerConfig.methods", ["FETCH"]),
    "eventbridge trigger without a filter pattern": lambda p: p["triggers"][1]["triggerConfig"].pop(
        "eventRuleFilterPattern"
    ),
}


@pytest.mark.parametrize("mutation", BAD_TEMPLATES.values(), ids=BAD_TEMPLATES.keys())
def test_a_bad_template_fails_validation(
    props: dict[str, Any], schema: dict[str, Any], mutation: Callable[[dict[str, Any]], None]
) -> None:
    assert [t["triggerType"] for t in props["triggers"]] == ["http", "eventbridge"]
    bad = copy.deepcopy(props)
    mutation(bad)
    assert props_errors(bad, schema), "the schema should have rejected this"


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (_set("memorySize", 100), "multiple of 64"),
        (_delete("handler"), "'handler' is a required property"),
        (_set("runtime", "python2"), "'python2' is not one of"),
    ],
    ids=["memorySize", "handler", "runtime"],
)
def test_the_component_schema_alone_names_the_problem(
    props: dict[str, Any],
    schema: dict[str, Any],
    mutation: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    bad = copy.deepcopy(props)
    mutation(bad)
    messages = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(bad)]
    assert any(expected in message for message in messages), messages


# --- the function --------------------------------------------------------------------------


def test_function_entry_points_size_and_runtime(props: dict[str, Any]) -> None:
    assert props["runtime"] == "python3.10"
    assert props["handler"] == "index.handler"
    assert props["instanceLifecycleConfig"]["initializer"]["handler"] == "index.initialize"
    assert props["memorySize"] == 128
    handler_dir = REPO / "handler"
    assert (handler_dir / "index.py").is_file()
    source = (handler_dir / "index.py").read_text()
    assert re.search(r"^def handler\(", source, re.M)
    assert re.search(r"^def initialize\(", source, re.M)


def test_the_smallest_memory_size_gets_the_most_cpu_it_may_have(props: dict[str, Any]) -> None:
    # FC 3.0: cpu in steps of 0.05 vCPU from 0.05, and 1 to 4 GB of memory per vCPU. Left
    # out, FC picks one; stated, the CPU-bound cold start gets all that 128 MB allows.
    memory_gb = props["memorySize"] / 1024
    allowed = [n / 20 for n in range(1, 321) if 1 <= memory_gb / (n / 20) <= 4]
    assert allowed, "memorySize allows some cpu"
    assert props["cpu"] == max(allowed)
    assert props["diskSize"] == 512


def test_timeout_fits_the_retry_budget(props: dict[str, Any]) -> None:
    # One full attempt (connect 5 s + read 10 s) plus the deadline margin must fit, so that a
    # slow CAMS still gets one complete try; beyond a minute an instance only waits longer.
    assert 16 <= props["timeout"] <= 60
    initializer_timeout = props["instanceLifecycleConfig"]["initializer"]["timeout"]
    # The initializer takes ~0.25 s on two cores, so ~2.5 s at 0.1 vCPU: ten times that.
    assert 10 * 2.5 <= initializer_timeout <= props["timeout"]


def test_code_is_the_package_that_pre_deploy_builds() -> None:
    raw = yaml.safe_load(TEMPLATE.read_text())
    (resource,) = raw["resources"].values()
    assert resource["props"]["code"] == "./dist/function.zip"
    steps = resource["actions"]["pre-deploy"]
    assert {"run": "make package", "path": "./"} in steps
    makefile = (REPO / "Makefile").read_text()
    package_rule = re.search(r"^package:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert package_rule, "Makefile has a package target"
    recipe = package_rule.group(1)
    assert "tools/build_package.py" in recipe
    assert "--output dist/function.zip" in recipe
    assert "--runtime $(RUNTIME)" in recipe
    default = re.search(r"^RUNTIME \?= (\S+)$", makefile, re.M)
    assert default, "Makefile sets a default RUNTIME"
    assert default.group(1) == resource["props"]["runtime"], "builds for the template's runtime"


def test_environment_is_exactly_the_configuration_table(props: dict[str, Any]) -> None:
    env = props["environmentVariables"]
    assert set(env) == CONFIG_VARIABLES
    assert not [name for name in env if name.startswith("FC_")], "FC_ is reserved"
    assert all(isinstance(value, str) for value in env.values())
    assert len(json.dumps(env).encode()) <= 4096, "FC allows 4 KB of variables in all"


def test_the_function_accepts_the_template_environment(props: dict[str, Any]) -> None:
    from cams_delete import config

    env = props["environmentVariables"]
    assert set(env) <= set(config.VARIABLES), "every variable is one the function reads"
    settings = config.load_settings(env)
    assert settings.protocol == "https"
    assert settings.endpoint == f"cams.{settings.region}.aliyuncs.com"
    assert settings.dry_run is False
    assert settings.max_attempts == 4
    assert settings.bearer_token_sha256 is None
    assert settings.retry_later_codes == set(config.DEFAULT_RETRY_LATER_CODES)


def test_logs_go_to_a_logstore(props: dict[str, Any]) -> None:
    log_config = props["logConfig"]
    assert log_config == "auto" or (log_config["project"] and log_config["logstore"])


# The lines README's Deploy step 5 uncomments: FC's on-failure destination and the
# EventBridge trigger's dead letter queue.
_FAILURE_QUEUE_LINE = re.compile(
    r"^(\s*)# (\s*(?:destinationConfig|onFailure|destination|deadLetterQueue|Arn):.*)$", re.M
)
FAILURE_QUEUE = "cams-delete-instance-failed"


def test_async_invocations_are_retried_and_a_failure_destination_is_shown(
    props: dict[str, Any],
) -> None:
    assert props["asyncInvokeConfig"]["maxAsyncRetryAttempts"] >= 1
    assert "destinationConfig" not in props["asyncInvokeConfig"], "commented: step 5 first"
    assert len(_FAILURE_QUEUE_LINE.findall(TEMPLATE.read_text())) == 5


def test_with_the_failure_queue_set_both_ways_of_failing_keep_the_event(
    schema: dict[str, Any],
) -> None:
    """GIVEN the template with the lines of README's Deploy step 5 uncommented
    THEN it still validates, FC's on-failure destination and the EventBridge trigger's dead
    letter queue name the queue step 5 creates, in the function's region and account, and
    the README's policy lets the role send to it: whichever side retried last, the event
    is kept."""
    uncommented = _FAILURE_QUEUE_LINE.sub(r"\1\2", TEMPLATE.read_text())
    template = load_template(uncommented)
    (resource,) = fc3_resources(template).values()
    props = resource["props"]
    assert props_errors(props, schema) == []
    raw_vars = yaml.safe_load(uncommented)["vars"]
    queue = f"acs:mns:{raw_vars['region']}:{raw_vars['accountId']}:/queues/{FAILURE_QUEUE}"
    destination = props["asyncInvokeConfig"]["destinationConfig"]["onFailure"]["destination"]
    assert destination == f"{queue}/messages"
    run_options = trigger(props, "eventbridge")["triggerConfig"]["runOptions"]
    assert run_options["deadLetterQueue"] == {"Arn": queue}
    readme = (REPO / "README.md").read_text()
    assert f"named `{FAILURE_QUEUE}`" in readme
    assert f"/queues/{FAILURE_QUEUE}/messages" in readme, "the role's policy to send to it"


# --- triggers ------------------------------------------------------------------------------


def test_http_trigger_is_signed_and_takes_delete_and_post(props: dict[str, Any]) -> None:
    config = trigger(props, "http")["triggerConfig"]
    assert config["authType"] == "function"
    assert sorted(config["methods"]) == ["DELETE", "POST"]


def test_eventbridge_trigger_is_an_event_driven_rule_on_the_bus(props: dict[str, Any]) -> None:
    raw = yaml.safe_load(TEMPLATE.read_text())
    eb = trigger(props, "eventbridge")
    config = eb["triggerConfig"]
    assert config["triggerEnable"] is True
    assert config["eventSinkConfig"]["deliveryOption"] == {
        "mode": "event-driven",
        "eventSchema": "CloudEvents",
    }
    assert config["runOptions"]["mode"] == "event-driven"
    assert config["eventSourceConfig"]["eventSourceType"] == "Default"
    bus = raw["vars"]["busName"]
    assert re.fullmatch(
        rf"acs:eventbridge:[a-z0-9-]+:\d+:eventbus/{re.escape(bus)}/rule/[\w.-]+", eb["sourceArn"]
    )
    # Asynchronous, so that asyncInvokeConfig's retries apply to events too.
    assert config["asyncInvocationType"] is True


def filter_pattern(props: dict[str, Any]) -> dict[str, Any]:
    pattern: dict[str, Any] = json.loads(
        trigger(props, "eventbridge")["triggerConfig"]["eventRuleFilterPattern"]
    )
    return pattern


def matches(pattern: Any, event: Any) -> bool:
    """The subset of EventBridge pattern matching that the template uses."""
    if isinstance(pattern, dict):
        if not isinstance(event, dict):
            return False
        return all(
            matches_leaf(value, event, key)
            if isinstance(value, list)
            else (key in event and matches(value, event[key]))
            for key, value in pattern.items()
        )
    raise AssertionError(f"unsupported pattern node {pattern!r}")


def matches_leaf(options: list[Any], event: dict[str, Any], key: str) -> bool:
    for option in options:
        if isinstance(option, dict):
            if set(option) == {"exists"}:
                if (key in event) is option["exists"]:
                    return True
                continue
            if set(option) == {"prefix"}:
                if isinstance(event.get(key), str) and event[key].startswith(option["prefix"]):
                    return True
                continue
            raise AssertionError(f"unsupported operator {option!r}")
        if key in event and event[key] == option:
            return True
    return False


def test_filter_pattern_selects_the_documented_event_type(props: dict[str, Any]) -> None:
    pattern = filter_pattern(props)
    assert pattern["source"] == [EVENT_SOURCE]
    assert pattern["type"] == [EVENT_TYPE]
    assert "InstanceId" in pattern["data"], "data.InstanceId names the instance"
    event = {"source": EVENT_SOURCE, "type": EVENT_TYPE, "data": {"InstanceId": "9383883"}}
    assert matches(pattern, event)
    assert not matches(pattern, {**event, "type": "cams:Instance:Created"})
    assert not matches(pattern, {**event, "source": "acs.cams"})
    assert not matches(pattern, {**event, "data": {"Reason": "no instance named"}})


def test_the_event_fixture_matches_the_rule(props: dict[str, Any]) -> None:
    assert EVENT_FIXTURE.is_file(), f"{EVENT_FIXTURE.name}: the sample for s invoke --event-file"
    event = json.loads(EVENT_FIXTURE.read_text())
    assert matches(filter_pattern(props), event)


# --- RAM -----------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_policy_grants_exactly_delete_instance_on_instances() -> None:
    policy = json.loads(POLICY.read_text())
    assert policy["Version"] == "1"
    (statement,) = policy["Statement"]
    assert set(statement) == {"Effect", "Action", "Resource"}, "no NotAction/NotResource"
    assert statement["Effect"] == "Allow"
    assert _as_list(statement["Action"]) == ["cams:DeleteInstance"]
    (resource,) = _as_list(statement["Resource"])
    assert resource == "acs:cams:{regionId}:{accountId}:instance/*"
    filled = resource.replace("{regionId}", "ap-southeast-1").replace(
        "{accountId}", "1234567890123456"
    )
    assert re.fullmatch(r"acs:cams:[a-z0-9-]+:\d+:instance/\*", filled)


def test_the_trust_policy_lets_only_function_compute_assume_the_role() -> None:
    trust = json.loads(TRUST.read_text())
    assert trust["Version"] == "1"
    (statement,) = trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert _as_list(statement["Action"]) == ["sts:AssumeRole"]
    assert statement["Principal"] == {"Service": ["fc.aliyuncs.com"]}


def test_the_role_is_a_ram_role_arn(props: dict[str, Any]) -> None:
    assert re.fullmatch(r"acs:ram::\d+:role/[\w.-]+", props["role"])
