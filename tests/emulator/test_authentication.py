"""The gateway's checks: signature, payload hash, access key, STS token, date, nonce, RAM."""

from __future__ import annotations

import datetime
import json
import time
import uuid
from urllib.parse import parse_qsl

import pytest
from alibabacloud_cams20200606 import models
from alibabacloud_tea_openapi.exceptions import ClientException

from cams_emulator import CamsEmulator, Credential
from tests.emulator.support import (
    AK,
    QUERY_ONLY_AK,
    QUERY_ONLY_SK,
    SK,
    STS_AK,
    STS_SK,
    STS_TOKEN,
    acs_date,
    raw_request,
    signed_headers,
)


def test_a_client_with_the_wrong_secret_fails_the_signature(emulator, sdk_as):
    # GIVEN a client that knows the key id but signs with the wrong secret
    sdk = sdk_as(AK, "not-the-secret")
    # WHEN it deletes an instance
    with pytest.raises(ClientException) as caught:
        sdk.delete("i-1")
    # THEN 400 SignatureDoesNotMatch, nothing deleted, and the journal says why
    assert (caught.value.status_code, caught.value.code) == (400, "SignatureDoesNotMatch")
    assert set(caught.value.data) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}
    assert emulator.instances() == {"i-1", "i-2", "i-3"}
    entry = emulator.journal()[-1]
    assert (entry.access_key_id, entry.signature_valid, entry.status) == (AK, False, 400)


def test_an_unknown_access_key_is_404(emulator, sdk_as):
    # GIVEN a key id the emulator never heard of
    # WHEN it calls
    with pytest.raises(ClientException) as caught:
        sdk_as("nobody", "whatever").delete("i-1")
    # THEN 404 InvalidAccessKeyId.NotFound
    assert (caught.value.status_code, caught.value.code) == (404, "InvalidAccessKeyId.NotFound")
    assert emulator.journal()[-1].code == "InvalidAccessKeyId.NotFound"


def test_sts_keys_with_their_token_are_accepted(emulator, sdk_as):
    # GIVEN the STS key with its token
    # WHEN it deletes
    response = sdk_as(STS_AK, STS_SK, STS_TOKEN).delete("i-1")
    # THEN OK, and the journal holds the token it carried
    assert response.body.code == "OK"
    entry = emulator.journal()[-1]
    assert (entry.access_key_id, entry.security_token) == (STS_AK, STS_TOKEN)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "InvalidSecurityToken.Malformed"),
        ("someone-elses-token", "InvalidSecurityToken.MismatchWithAccessKey"),
    ],
)
def test_sts_keys_without_their_token_are_refused(emulator, sdk_as, token, code):
    # GIVEN the STS key with no token, or another token
    # WHEN it deletes
    with pytest.raises(ClientException) as caught:
        sdk_as(STS_AK, STS_SK, token).delete("i-1")
    # THEN 400 with an InvalidSecurityToken code, nothing deleted
    assert (caught.value.status_code, caught.value.code) == (400, code)
    assert "i-1" in emulator.instances()


def test_an_expired_sts_token_is_refused(emulator, sdk_as):
    # GIVEN an STS key whose token expired a second ago
    emulator.add_credential(
        Credential("STS.old", "old-secret", security_token="old", expires_at=time.time() - 1)
    )
    # WHEN it deletes
    with pytest.raises(ClientException) as caught:
        sdk_as("STS.old", "old-secret", "old").delete("i-1")
    # THEN 400 InvalidSecurityToken.Expired
    assert (caught.value.status_code, caught.value.code) == (400, "InvalidSecurityToken.Expired")


def test_a_key_without_the_action_in_its_policy_is_forbidden(emulator, sdk_as):
    # GIVEN a key whose policy allows only QueryInstance and ListInstance
    sdk = sdk_as(QUERY_ONLY_AK, QUERY_ONLY_SK)
    # WHEN it deletes
    with pytest.raises(ClientException) as caught:
        sdk.delete("i-1")
    # THEN 403 Forbidden.RAM with an AccessDeniedDetail naming the action
    error = caught.value
    assert (error.status_code, error.code) == (403, "Forbidden.RAM")
    assert error.access_denied_detail["AuthAction"] == "cams:DeleteInstance"
    assert error.access_denied_detail["NoPermissionType"] == "ImplicitDeny"
    assert error.access_denied_detail["AuthPrincipalDisplayName"] == QUERY_ONLY_AK
    assert "i-1" in emulator.instances()
    # AND the allowed action works with the same key
    queried = sdk.call("query_instance", models.QueryInstanceRequest(instance_id="i-1"))
    assert queried.body.code == "OK"


def test_a_hand_signed_request_is_accepted(emulator):
    # GIVEN a request made with http.client and signed by the emulator's signing helper
    headers = signed_headers(emulator, {"InstanceId": "i-2"})
    # WHEN it is sent
    status, response_headers, body = raw_request(
        emulator, "POST", "/?InstanceId=i-2", headers=headers
    )
    # THEN the emulator verifies it and deletes the instance
    assert status == 200, body
    assert json.loads(body)["Code"] == "OK"
    assert response_headers["content-type"].startswith("application/json")
    assert emulator.instances() == {"i-1", "i-3"}


def test_a_stale_date_is_refused_even_when_signed_correctly(emulator):
    # GIVEN a correctly signed request dated 20 minutes ago (the allowed skew is 15)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
    headers = signed_headers(emulator, {"InstanceId": "i-1"}, date=acs_date(old))
    # WHEN it is sent
    status, _, body = raw_request(emulator, "POST", "/?InstanceId=i-1", headers=headers)
    # THEN 400 InvalidTimeStamp.Expired, though the signature itself held
    assert status == 400
    assert json.loads(body)["Code"] == "InvalidTimeStamp.Expired"
    assert emulator.journal()[-1].signature_valid is True
    assert "i-1" in emulator.instances()


def test_a_malformed_date_is_refused(emulator):
    headers = signed_headers(emulator, {"InstanceId": "i-1"}, date="yesterday")
    status, _, body = raw_request(emulator, "POST", "/?InstanceId=i-1", headers=headers)
    assert (status, json.loads(body)["Code"]) == (400, "InvalidTimeStamp.Format")


def test_the_allowed_clock_skew_is_configurable():
    # GIVEN an emulator allowing only 60 s of skew
    with CamsEmulator(
        credentials=[Credential(AK, SK)], instances=["x"], max_clock_skew_s=60
    ) as emu:
        # WHEN a request dated 2 minutes ahead arrives
        ahead = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2)
        headers = signed_headers(emu, {"InstanceId": "x"}, date=acs_date(ahead))
        status, _, body = raw_request(emu, "POST", "/?InstanceId=x", headers=headers)
        # THEN it is refused
        assert (status, json.loads(body)["Code"]) == (400, "InvalidTimeStamp.Expired")


def test_a_replayed_request_is_refused(emulator):
    # GIVEN a signed request that was already sent once
    nonce = uuid.uuid4().hex
    headers = signed_headers(emulator, {"InstanceId": "no-such"}, nonce=nonce)
    first, _, _ = raw_request(emulator, "POST", "/?InstanceId=no-such", headers=headers)
    assert first == 200
    # WHEN the same bytes are sent again
    status, _, body = raw_request(emulator, "POST", "/?InstanceId=no-such", headers=headers)
    # THEN 400 SignatureNonceUsed
    assert (status, json.loads(body)["Code"]) == (400, "SignatureNonceUsed")


def test_a_query_changed_after_signing_fails_the_signature(emulator):
    # GIVEN a request signed for i-1 but sent for i-2
    headers = signed_headers(emulator, {"InstanceId": "i-1"})
    # WHEN it is sent
    status, _, body = raw_request(emulator, "POST", "/?InstanceId=i-2", headers=headers)
    # THEN SignatureDoesNotMatch, and the message carries the server's string to sign
    error = json.loads(body)
    assert (status, error["Code"]) == (400, "SignatureDoesNotMatch")
    assert "ACS3-HMAC-SHA256\n" in error["Message"]
    assert emulator.instances() == {"i-1", "i-2", "i-3"}


def test_a_query_naming_a_parameter_twice_is_refused(emulator):
    # GIVEN a request signed for i-2 whose query also names i-1 before it
    headers = signed_headers(emulator, {"InstanceId": "i-2"})
    # WHEN it is sent
    status, _, body = raw_request(
        emulator, "POST", "/?InstanceId=i-1&InstanceId=i-2", headers=headers
    )
    # THEN 400 InvalidParameter naming it, and neither instance is deleted
    error = json.loads(body)
    assert (status, error["Code"]) == (400, "InvalidParameter")
    assert '"InstanceId"' in error["Message"]
    assert emulator.instances() == {"i-1", "i-2", "i-3"}


@pytest.mark.parametrize(
    ("query", "form"),
    [("", b"InstanceId=i-1&InstanceId=i-2"), ("?InstanceId=i-1", b"InstanceId=i-2")],
    ids=["form-body-twice", "query-and-body"],
)
def test_a_parameter_given_twice_in_the_body_is_refused(emulator, query: str, form: bytes):
    # GIVEN a signed request naming InstanceId twice, in its form body or across both
    params = dict(parse_qsl(query[1:]))
    headers = signed_headers(emulator, params, body=form)
    headers["content-type"] = "application/x-www-form-urlencoded"
    # WHEN it is sent
    status, _, body = raw_request(emulator, "POST", f"/{query}", headers=headers, body=form)
    # THEN 400 InvalidParameter, and nothing is deleted
    assert (status, json.loads(body)["Code"]) == (400, "InvalidParameter")
    assert emulator.instances() == {"i-1", "i-2", "i-3"}


def test_a_body_that_does_not_match_its_hash_fails(emulator):
    # GIVEN a request signed for an empty body, sent with a form body
    headers = signed_headers(emulator, {})
    headers["content-type"] = "application/x-www-form-urlencoded"
    # WHEN it is sent
    status, _, body = raw_request(emulator, "POST", "/", headers=headers, body=b"InstanceId=i-1")
    # THEN SignatureDoesNotMatch (the payload hash), nothing deleted
    assert (status, json.loads(body)["Code"]) == (400, "SignatureDoesNotMatch")
    assert "x-acs-content-sha256" in json.loads(body)["Message"]
    assert "i-1" in emulator.instances()


def test_a_signed_form_body_carries_parameters(emulator):
    # GIVEN a request whose InstanceId travels in a signed form body
    form = b"InstanceId=i-3"
    headers = signed_headers(emulator, {}, body=form)
    headers["content-type"] = "application/x-www-form-urlencoded"
    # WHEN it is sent
    status, _, body = raw_request(emulator, "POST", "/", headers=headers, body=form)
    # THEN the emulator reads it as the RPC gateway does
    assert (status, json.loads(body)["Code"]) == (200, "OK")
    assert "i-3" not in emulator.instances()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer abc", "ACS3-HMAC-SHA1 Credential=test-ak,SignedHeaders=host,Signature=00"],
)
def test_missing_or_foreign_authorization_is_incomplete_signature(emulator, authorization):
    # GIVEN a request without a V3 Authorization header
    headers = signed_headers(emulator, {"InstanceId": "i-1"})
    del headers["authorization"]
    if authorization:
        headers["authorization"] = authorization
    # WHEN it is sent
    status, _, body = raw_request(emulator, "POST", "/?InstanceId=i-1", headers=headers)
    # THEN 400 IncompleteSignature, journaled as unsigned
    assert (status, json.loads(body)["Code"]) == (400, "IncompleteSignature")
    assert emulator.journal()[-1].signature_valid is False


def test_an_unsigned_acs_header_is_incomplete_signature(emulator):
    # GIVEN a signed request to which an unsigned x-acs-security-token was added
    headers = signed_headers(emulator, {"InstanceId": "i-1"})
    headers["x-acs-security-token"] = "smuggled"
    # WHEN it is sent
    status, _, body = raw_request(emulator, "POST", "/?InstanceId=i-1", headers=headers)
    # THEN it is refused before the signature is even computed
    assert (status, json.loads(body)["Code"]) == (400, "IncompleteSignature")


def test_other_paths_and_methods_are_not_apis(emulator):
    headers = signed_headers(emulator, {"InstanceId": "i-1"})
    status, _, body = raw_request(emulator, "POST", "/v1/instances?InstanceId=i-1", headers=headers)
    assert (status, json.loads(body)["Code"]) == (404, "InvalidAction.NotFound")
    status, _, body = raw_request(emulator, "DELETE", "/?InstanceId=i-1", headers=headers)
    assert (status, json.loads(body)["Code"]) == (404, "InvalidAction.NotFound")
    assert emulator.instances() == {"i-1", "i-2", "i-3"}
