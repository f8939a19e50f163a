"""DeleteInstance through the real SDK, sync and async: success, not found, the sample's
Success:false, and the gateway's parameter and action errors."""

from __future__ import annotations

import asyncio
import socket

import pytest
from alibabacloud_tea_openapi import utils_models
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.runtime import RuntimeOptions

from cams_emulator import NOT_FOUND_CODE, CamsEmulator
from tests.emulator.support import AK, Sdk, credentials, make_client


def test_delete_of_an_existing_instance_answers_ok_and_removes_it(emulator, sdk):
    # GIVEN an emulator holding i-1, i-2, i-3
    # WHEN the SDK deletes i-1
    response = sdk.delete("i-1")
    # THEN the answer has the API page's shape, with Success true, and i-1 is gone
    assert response.status_code == 200
    body = response.body.to_map()
    assert set(body) == {"RequestId", "Code", "Message", "Success", "AccessDeniedDetail"}
    assert body["Code"] == "OK"
    assert body["Message"] == "NULL"
    assert body["Success"] is True
    assert body["AccessDeniedDetail"] == "{}"
    assert response.headers["x-acs-request-id"] == body["RequestId"]
    assert emulator.instances() == {"i-2", "i-3"}


def test_delete_of_a_missing_instance_is_200_with_the_not_found_code(emulator, sdk):
    # GIVEN an instance that does not exist
    # WHEN the SDK deletes it
    response = sdk.delete("no-such-instance")
    # THEN HTTP 200, Success false, and the assumed not-found code
    assert response.status_code == 200
    assert response.body.code == NOT_FOUND_CODE == "InvalidInstanceId.NotFound"
    assert response.body.success is False
    assert response.body.message == "The specified instance does not exist."
    assert emulator.instances() == {"i-1", "i-2", "i-3"}


def test_second_delete_of_the_same_instance_is_not_found(sdk):
    # GIVEN i-2 deleted once
    assert sdk.delete("i-2").body.code == "OK"
    # WHEN it is deleted again
    # THEN the emulator says it does not exist
    assert sdk.delete("i-2").body.code == NOT_FOUND_CODE


def test_ok_success_flag_false_reproduces_the_reference_sample(mode):
    # GIVEN an emulator told to answer like the API page's sample
    with CamsEmulator(credentials=credentials(), instances=["7"], ok_success_flag=False) as emu:
        # WHEN the SDK deletes an existing instance
        response = Sdk(make_client(emu), mode).delete("7")
        # THEN Code is OK but Success is false, and the instance is gone all the same
        assert response.body.code == "OK"
        assert response.body.success is False
        assert emu.instances() == set()


def test_delete_without_instance_id_is_missing_parameter(emulator, sdk):
    # GIVEN a request without InstanceId (the SDK sends none for instance_id=None)
    # WHEN it is sent
    with pytest.raises(ClientException) as caught:
        sdk.delete(None)
    # THEN the gateway answers 400 MissingParameter, in its error shape
    error = caught.value
    assert error.status_code == 400
    assert error.code == "MissingParameter"
    assert "InstanceId" in error.message
    assert set(error.data) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert emulator.calls()[-1].code == "MissingParameter"


def test_unknown_action_is_invalid_action_not_found(emulator, mode):
    # GIVEN the SDK's generic call_api, asking for an action CAMS does not have
    client = make_client(emulator)
    params = utils_models.Params(
        action="NoSuchAction",
        version="2020-06-06",
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = utils_models.OpenApiRequest(query={"InstanceId": "i-1"})

    def call_api():
        if mode == "sync":
            return client.call_api(params, request, RuntimeOptions())
        return asyncio.run(client.call_api_async(params, request, RuntimeOptions()))

    # WHEN it is called
    with pytest.raises(ClientException) as caught:
        call_api()
    # THEN 404 InvalidAction.NotFound, journaled with a valid signature
    assert caught.value.status_code == 404
    assert caught.value.code == "InvalidAction.NotFound"
    entry = emulator.journal()[-1]
    assert (entry.action, entry.signature_valid, entry.status) == ("NoSuchAction", True, 404)
    assert emulator.instances() == {"i-1", "i-2", "i-3"}


def test_the_journal_records_what_the_sdk_sent(emulator, sdk):
    # GIVEN a delete through the SDK
    sdk.delete("i-3")
    # WHEN the journal is read
    (entry,) = emulator.calls("DeleteInstance")
    # THEN it holds action, version, parameters, key, verdict, status and code
    assert entry.action == "DeleteInstance"
    assert entry.version == "2020-06-06"
    assert entry.params == {"InstanceId": "i-3"}
    assert entry.instance_id == "i-3"
    assert entry.access_key_id == AK
    assert entry.security_token is None
    assert entry.signature_valid is True
    assert (entry.status, entry.code, entry.fault) == (200, "OK", None)
    assert entry.time > 0
    # AND the journal hands out copies
    emulator.journal()[0].params["InstanceId"] = "changed"
    assert emulator.journal()[0].params == {"InstanceId": "i-3"}


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_the_emulator_listens_on_ipv6_loopback_too(mode):
    # GIVEN an emulator on ::1
    with CamsEmulator(host="::1", credentials=credentials(), instances=["v6"]) as emu:
        assert emu.endpoint == f"[::1]:{emu.port}"
        # WHEN the SDK deletes through it THEN it works as on 127.0.0.1
        assert Sdk(make_client(emu), mode).delete("v6").body.code == "OK"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "example.com"])
def test_the_emulator_refuses_non_loopback_hosts(host):
    with pytest.raises(ValueError, match="loopback"):
        CamsEmulator(host=host)
