"""openapi/openapi.yaml: in step with the result schema, and true of the running server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from cams_emulator import Fault
from cams_local.runner import scoped_environment
from tests.conftest import RESULT_SCHEMA, ROOT
from tests.local.conftest import start_trigger

SPEC_PATH = ROOT / "openapi" / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
schema = schemathesis.openapi.from_path(SPEC_PATH)


def test_deletion_result_matches_the_result_schema():
    """GIVEN the OpenAPI document and schemas/result.schema.json
    WHEN their DeletionResult definitions are compared (refs rewritten to each's place)
    THEN they are identical, and so is Outcome."""
    ours = SPEC["components"]["schemas"]
    theirs = json.loads(
        json.dumps(RESULT_SCHEMA["$defs"]).replace("#/$defs/", "#/components/schemas/")
    )

    assert ours["DeletionResult"] == theirs["DeletionResult"]
    assert ours["Outcome"] == theirs["Outcome"]


def test_every_operation_documents_the_statuses_the_function_answers():
    """GIVEN the function's HTTP statuses
    WHEN the operations' responses are read
    THEN each operation lists them (415 only where there is a body)."""
    common = {"200", "400", "401", "403", "405", "409", "413", "429", "500", "502", "503", "504"}
    delete = SPEC["paths"]["/instances/{InstanceId}"]["delete"]["responses"]
    post = SPEC["paths"]["/"]["post"]["responses"]

    assert set(delete) == common
    assert set(post) == common | {"415"}


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.filterwarnings("ignore")
def test_server_conforms_to_the_openapi_document(case, local_server):
    """GIVEN the `serve` stack (emulator seeded as in the demo)
    WHEN schemathesis sends generated requests, valid and invalid, for each operation
    THEN every response conforms to the document: status, headers, content type and body."""
    response = case.call(base_url=local_server.url, timeout=10)
    case.validate_response(response)


DELETE = schema["/instances/{InstanceId}"]["DELETE"]
POST = schema["/"]["POST"]


@dataclass(frozen=True)
class Provoked:
    """How to make the function answer with a failure status, and what it answers."""

    status: int
    code: str
    fault: Fault | None = None
    env: dict[str, str] = field(default_factory=dict)
    instance_id: str = "cams-7f3a9c01"


RETRY_TWICE = {"MAX_ATTEMPTS": "2"}


@pytest.mark.parametrize(
    "provoked",
    [
        Provoked(403, "Forbidden.ProtectedInstance", instance_id="cams-7f3a9c12"),
        Provoked(429, "Throttling.User", Fault("throttle", times=None), RETRY_TWICE),
        Provoked(503, "ServiceUnavailable", Fault("unavailable", times=None), RETRY_TWICE),
        Provoked(502, "InternalError", Fault("internal_error", times=None), RETRY_TWICE),
        Provoked(
            409, "InstanceStatus.Invalid", Fault("business_error", code="InstanceStatus.Invalid")
        ),
        Provoked(502, "UnsupportedOperation", Fault("business_error")),
        Provoked(
            504,
            "UpstreamTimeout",
            Fault("hang", delay_s=5),
            {"MAX_ATTEMPTS": "1", "CAMS_READ_TIMEOUT_MS": "200"},
        ),
        Provoked(500, "InvalidConfiguration", env={"MAX_ATTEMPTS": "zero"}),
    ],
    ids=lambda provoked: provoked.code,
)
def test_failure_statuses_conform_to_the_document(local_server, provoked: Provoked):
    """GIVEN the server, with CAMS misbehaving (an emulator fault) or the function configured so
    WHEN DELETE /instances/<id> arrives
    THEN the function's status is the one expected, and its headers (Retry-After on 429 and
    503) and body conform to the document."""
    assert local_server.emulator is not None
    if provoked.fault is not None:
        local_server.emulator.add_fault(provoked.fault)
    case = DELETE.Case(path_parameters={"InstanceId": provoked.instance_id})

    with scoped_environment(provoked.env):
        response = case.call(base_url=local_server.url, timeout=10)

    assert (response.status_code, response.json()["Code"]) == (provoked.status, provoked.code)
    # A 5xx is what these cases provoke on purpose; everything else is checked.
    case.validate_response(response, excluded_checks=[not_a_server_error])


@pytest.mark.parametrize(
    ("body", "media_type", "status"),
    [
        ({"InstanceId": "cams-7f3a9c10"}, "application/json", 200),
        ("x" * 70_000, "text/plain", 413),
        ("InstanceId=cams-7f3a9c10", "text/plain", 415),
    ],
    ids=["deleted", "too-large", "not-json"],
)
def test_post_statuses_conform_to_the_document(local_server, body, media_type, status):
    """GIVEN the server
    WHEN POST / arrives with a JSON body, an oversized one, or one that is not JSON
    THEN 200, 413 or 415, each conforming to the document."""
    case = POST.Case(body=body, media_type=media_type)

    response = case.call(base_url=local_server.url, timeout=10)

    assert response.status_code == status
    case.validate_response(response)


def test_unauthorized_conforms_to_the_document(manifest):
    """GIVEN the server with a bearer token configured
    WHEN a request arrives without it
    THEN 401 with WWW-Authenticate, conforming to the document."""
    trigger = start_trigger(manifest, HTTP_BEARER_TOKEN_SHA256="0" * 64)
    case = DELETE.Case(path_parameters={"InstanceId": "cams-7f3a9c01"})
    try:
        response = case.call(base_url=trigger.url, timeout=10)
    finally:
        trigger.stop()

    assert response.status_code == 401
    case.validate_response(response)
