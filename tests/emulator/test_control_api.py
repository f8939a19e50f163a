"""The control API over HTTP: seeding, reset, faults, journal, credentials, errors."""

from __future__ import annotations

import pytest
from alibabacloud_tea_openapi.exceptions import ServerException

from tests.emulator.support import AK, Sdk, control, make_client, raw_request


def test_health_names_the_endpoint(emulator):
    assert control(emulator, "GET", "health") == (
        200,
        {"status": "ok", "endpoint": emulator.endpoint},
    )


def test_instances_are_listed_added_and_replaced(emulator):
    # GIVEN the seeded instances
    assert control(emulator, "GET", "instances") == (200, {"instances": ["i-1", "i-2", "i-3"]})
    # WHEN more are added THEN they join the set
    status, body = control(emulator, "POST", "instances", {"instances": ["a", "b"]})
    assert (status, body["instances"]) == (200, ["a", "b", "i-1", "i-2", "i-3"])
    # WHEN the set is replaced THEN only the new ones exist
    status, body = control(emulator, "PUT", "instances", {"instances": ["z"]})
    assert (status, body) == (200, {"instances": ["z"]})
    assert emulator.instances() == {"z"}


def test_a_seeded_instance_can_be_deleted_by_the_sdk(emulator, mode):
    # GIVEN an instance seeded over HTTP
    control(emulator, "POST", "instances", {"instances": ["seeded-by-http"]})
    # WHEN the SDK deletes it THEN it existed
    assert Sdk(make_client(emulator), mode).delete("seeded-by-http").body.code == "OK"


def test_reset_clears_state_faults_and_journal(emulator):
    # GIVEN a journal entry and an armed fault
    Sdk(make_client(emulator), "sync").delete("i-1")
    control(emulator, "POST", "faults", {"kind": "internal_error", "times": None})
    # WHEN reset with a new seed
    status, body = control(emulator, "POST", "reset", {"instances": ["fresh"]})
    # THEN only the seed remains, no faults, an empty journal
    assert (status, body) == (200, {"instances": ["fresh"]})
    assert control(emulator, "GET", "faults") == (200, {"faults": []})
    assert control(emulator, "GET", "journal") == (200, {"entries": []})
    # AND a reset without a body empties the state
    assert control(emulator, "POST", "reset") == (200, {"instances": []})


def test_a_fault_set_over_http_reaches_the_sdk(emulator, mode):
    # GIVEN a fault armed through the control API
    status, body = control(
        emulator, "POST", "faults", {"kind": "unavailable", "instance_id": "i-2", "times": 1}
    )
    assert status == 201
    fault_id = body["id"]
    listed = control(emulator, "GET", "faults")[1]["faults"]
    assert [(f["id"], f["kind"], f["remaining"]) for f in listed] == [(fault_id, "unavailable", 1)]
    # WHEN the SDK deletes i-2
    # THEN it meets the fault, which is then spent
    with pytest.raises(ServerException):
        Sdk(make_client(emulator), mode).delete("i-2")
    assert control(emulator, "GET", "faults") == (200, {"faults": []})


def test_faults_are_removed_one_or_all(emulator):
    first = control(emulator, "POST", "faults", {"kind": "latency", "delay_s": 1})[1]["id"]
    control(emulator, "POST", "faults", {"kind": "reset"})
    assert control(emulator, "DELETE", f"faults/{first}") == (200, {"removed": first})
    assert [f["kind"] for f in emulator.faults()] == ["reset"]
    assert control(emulator, "DELETE", f"faults/{first}")[0] == 404
    assert control(emulator, "DELETE", "faults") == (200, {"faults": []})
    assert emulator.faults() == []


def test_the_journal_is_read_and_filtered_over_http(emulator):
    # GIVEN a delete and a missing-parameter delete through the SDK
    sdk = Sdk(make_client(emulator), "sync")
    sdk.delete("i-3")
    # WHEN the journal is read over HTTP
    status, body = control(emulator, "GET", "journal?action=DeleteInstance")
    # THEN each entry has the request's facts
    assert status == 200
    (entry,) = body["entries"]
    assert entry["action"] == "DeleteInstance"
    assert entry["params"] == {"InstanceId": "i-3"}
    assert entry["access_key_id"] == AK
    assert entry["signature_valid"] is True
    assert (entry["status"], entry["code"]) == (200, "OK")
    assert control(emulator, "GET", "journal?action=ListInstance") == (200, {"entries": []})
    # AND it can be cleared
    assert control(emulator, "DELETE", "journal") == (200, {"entries": []})
    assert emulator.journal() == []


def test_a_credential_added_over_http_is_accepted(emulator, mode):
    # GIVEN a new STS key registered through the control API
    status, body = control(
        emulator,
        "POST",
        "credentials",
        {"access_key_id": "STS.new", "access_key_secret": "new-secret", "security_token": "tok"},
    )
    assert status == 201
    assert body["sts"] is True
    assert "access_key_secret" not in body
    # WHEN the SDK uses it THEN the emulator accepts it
    client = make_client(emulator, "STS.new", "new-secret", "tok")
    assert Sdk(client, mode).delete("i-1").body.code == "OK"
    listed = control(emulator, "GET", "credentials")[1]["credentials"]
    assert "STS.new" in [c["access_key_id"] for c in listed]


def test_control_calls_are_not_journaled(emulator):
    control(emulator, "GET", "instances")
    assert emulator.journal() == []


@pytest.mark.parametrize(
    ("method", "route", "body", "status"),
    [
        ("POST", "faults", {"kind": "meteor"}, 400),
        ("POST", "faults", {"kind": "hang", "colour": "red"}, 400),
        ("POST", "faults", {"kind": "throttle", "status": 418}, 400),
        ("POST", "instances", {"instances": "i-9"}, 400),
        ("POST", "credentials", {"access_key_id": "x"}, 400),
        ("GET", "nowhere", None, 404),
        ("PATCH", "instances", None, 405),
    ],
)
def test_bad_control_calls_get_json_errors(emulator, method, route, body, status):
    got, answer = control(emulator, method, route, body)
    assert got == status
    assert isinstance(answer["error"], str)
    assert "Traceback" not in answer["error"]


def test_a_body_that_is_not_json_is_400(emulator):
    status, _, body = raw_request(
        emulator, "POST", "/cams-emulator-api/instances", body=b"{not json"
    )
    assert status == 400
    assert b"not JSON" in body


def test_a_malformed_http_request_is_400_and_closes(emulator):
    import socket

    with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in answer


def test_allowed_actions_must_be_a_list(emulator):
    status, answer = control(
        emulator,
        "POST",
        "credentials",
        {"access_key_id": "k", "access_key_secret": "s", "allowed_actions": "DeleteInstance"},
    )
    assert status == 400
    assert "allowed_actions" in answer["error"]
