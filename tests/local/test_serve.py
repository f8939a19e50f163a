"""`serve` end to end over real HTTP: requests in, the handler's responses out, the emulator
behind it; and the command itself, stopped with Ctrl-C."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from cams_local.serve import LocalTrigger
from tests.conftest import ROOT, assert_valid_result
from tests.local.conftest import start_trigger


def call(
    server: LocalTrigger,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_delete_deletes_the_instance(local_server: LocalTrigger):
    """GIVEN the server, seeded with the sample events' instances
    WHEN DELETE /instances/<id> arrives, twice
    THEN the instance is gone from the emulator, the first answer says deleted and the
    second already_deleted, both 200 with the invocation's request id."""
    assert local_server.emulator is not None
    assert "cams-7f3a9c01" in local_server.emulator.instances()

    status, headers, body = call(local_server, "DELETE", "/instances/cams-7f3a9c01")
    again, _, second = call(local_server, "DELETE", "/instances/cams-7f3a9c01")

    assert status == again == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Fc-Request-Id"].startswith("1-")
    assert json.loads(body)["Outcome"] == "deleted"
    assert json.loads(second)["Outcome"] == "already_deleted"
    assert_valid_result(json.loads(body))
    assert "cams-7f3a9c01" not in local_server.emulator.instances()


def test_post_with_json_body_deletes_the_instance(local_server: LocalTrigger):
    """GIVEN the server
    WHEN POST / arrives with {"InstanceId": ...} as JSON
    THEN that instance is deleted."""
    status, _, body = call(
        local_server,
        "POST",
        "/",
        json.dumps({"InstanceId": "cams-7f3a9c10"}).encode(),
        {"Content-Type": "application/json"},
    )

    assert status == 200
    assert json.loads(body)["InstanceId"] == "cams-7f3a9c10"
    assert local_server.emulator is not None
    assert "cams-7f3a9c10" not in local_server.emulator.instances()


def test_wrong_method_gets_405_with_allow(local_server: LocalTrigger):
    """GIVEN the server
    WHEN GET /instances/<id> arrives
    THEN 405 with Allow: DELETE, and the instance is untouched."""
    status, headers, body = call(local_server, "GET", "/instances/cams-7f3a9c11")

    assert status == 405
    assert headers["Allow"] == "DELETE"
    assert json.loads(body)["Code"] == "MethodNotAllowed"
    assert local_server.emulator is not None
    assert "cams-7f3a9c11" in local_server.emulator.instances()


def test_oversized_body_gets_413(local_server: LocalTrigger):
    """GIVEN the server
    WHEN a POST body of 100 KiB arrives (the function takes 64 KiB)
    THEN the function's 413 comes back."""
    status, _, body = call(
        local_server, "POST", "/", b"x" * 100 * 1024, {"Content-Type": "application/json"}
    )

    assert status == 413
    assert json.loads(body)["Code"] == "PayloadTooLarge"


def test_chunked_body_is_read(local_server: LocalTrigger):
    """GIVEN the server
    WHEN a POST arrives with Transfer-Encoding: chunked
    THEN the function gets the whole body and deletes the instance."""
    payload = json.dumps({"InstanceId": "cams-7f3a9c09"}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", local_server.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/",
            body=iter([payload[:10], payload[10:]]),
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()

    assert status == 200
    assert json.loads(body)["Outcome"] == "deleted"


def test_dry_run_query_parameter_reaches_the_function(local_server: LocalTrigger):
    """GIVEN the server
    WHEN DELETE ...?dryRun=true arrives
    THEN the answer is dry_run and the instance stays."""
    status, _, body = call(local_server, "DELETE", "/instances/cams-7f3a9c11?dryRun=true")

    assert status == 200
    assert json.loads(body)["Outcome"] == "dry_run"
    assert local_server.emulator is not None
    assert "cams-7f3a9c11" in local_server.emulator.instances()


def test_encoded_slash_in_the_id_is_rejected_not_routed(local_server: LocalTrigger):
    """GIVEN the server
    WHEN the InstanceId in the path carries an encoded '/'
    THEN the function sees it inside the ID (rawPath stays encoded) and answers 400."""
    status, _, body = call(local_server, "DELETE", "/instances/a%2Fb")

    assert status == 400
    assert json.loads(body)["InstanceId"] == "a/b"


def test_head_gets_headers_without_a_body(local_server: LocalTrigger):
    """GIVEN the server
    WHEN HEAD arrives
    THEN the status and Content-Length of the function's answer, and no body."""
    status, headers, body = call(local_server, "HEAD", "/instances/cams-7f3a9c11")

    assert status == 405
    assert int(headers["Content-Length"]) > 0
    assert body == b""


def test_keep_alive_serves_several_requests_on_one_connection(local_server: LocalTrigger):
    """GIVEN one HTTP/1.1 connection
    WHEN three requests go over it
    THEN each gets its own answer over that same socket (the server kept it open)."""
    connection = http.client.HTTPConnection("127.0.0.1", local_server.port, timeout=10)
    try:
        statuses, sockets = [], []
        for _ in range(3):
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            sockets.append(connection.sock)
    finally:
        connection.close()

    assert statuses == [405, 405, 405]
    assert sockets[0] is not None
    assert all(sock is sockets[0] for sock in sockets)


def test_bearer_token_is_enforced_when_configured(manifest):
    """GIVEN the server with HTTP_BEARER_TOKEN_SHA256 set
    WHEN requests arrive without the token and with it
    THEN 401 with WWW-Authenticate first, then the deletion."""
    token = "local-test-token"
    digest = hashlib.sha256(token.encode()).hexdigest()
    trigger = start_trigger(manifest, HTTP_BEARER_TOKEN_SHA256=digest)
    try:
        denied, headers, _ = call(trigger, "DELETE", "/instances/cams-7f3a9c01")
        allowed, _, _ = call(
            trigger,
            "DELETE",
            "/instances/cams-7f3a9c01",
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        trigger.stop()

    assert denied == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert allowed == 200


def test_stop_restores_the_environment(manifest):
    """GIVEN no CAMS_ENDPOINT in the environment
    WHEN a server starts and stops
    THEN it is set while serving and gone afterwards."""
    trigger = start_trigger(manifest)
    during = os.environ.get("CAMS_ENDPOINT")
    trigger.stop()

    assert during is not None
    assert "CAMS_ENDPOINT" not in os.environ


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_command_answers_and_stops_on_signal(stop_signal):
    """GIVEN `python -m cams_local serve --port P` running
    WHEN a DELETE arrives, then Ctrl-C (SIGINT) or SIGTERM
    THEN it answers 200, then stops server and emulator and exits 0."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'handler'}{os.pathsep}{ROOT}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cams_local", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        while not banner or not banner[-1].startswith("serve: try"):  # its last line
            banner.append(process.stdout.readline())
            assert banner[-1], f"serve exited early: {banner}"
        assert any(f"http://127.0.0.1:{port}" in line for line in banner), banner
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("DELETE", "/instances/cams-7f3a9c01")
        status = connection.getresponse().status
        connection.close()

        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert status == 200
    assert process.returncode == 0, err
    assert "serve: stopped" in out
    assert "DELETE /instances/cams-7f3a9c01 -> 200" in err
