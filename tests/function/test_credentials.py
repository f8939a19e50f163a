"""Role credentials: from the context (python3.10) or the environment (python3.12), read
per invocation, never frozen at import, and never printed."""

from __future__ import annotations

from cams_delete import credentials
from cams_delete.cams import ClientCache, Endpoint
from cams_emulator import CamsEmulator, Credential
from cams_local.fc import (
    Credentials,
    FunctionMeta,
    Python310Context,
    Python312Context,
    credential_environment,
)
from tests.conftest import ROLE, Invoke, role_credential

ROTATED = Credentials(
    access_key_id="STS.NUrotatedKeyId00000000002",
    access_key_secret="Rotated9secretKEYvalue000000000002",
    security_token="CAISrotatedSecurityTokenValue0000000000000002",
)


def test_python310_context_credentials_sign_the_request(emulator, invoke: Invoke):
    """GIVEN a python3.10 context carrying the role's STS keys
    WHEN an event is handled
    THEN CAMS receives a request signed with those keys and that token."""
    emulator.add_instances("i-1")

    run = invoke({"InstanceId": "i-1"})

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"
    [call] = emulator.calls()
    assert call.access_key_id == ROLE.access_key_id
    assert call.security_token == ROLE.security_token
    assert call.signature_valid is True


def test_python312_environment_credentials_are_read_at_invocation(
    emulator, invoke: Invoke, monkeypatch
):
    """GIVEN a python3.12 context (no credentials) and the role's keys in ALIBABA_CLOUD_*
    variables set after the function was imported
    WHEN an event is handled
    THEN the keys in the environment at that moment sign the request."""
    emulator.add_instances("i-1")
    for name, value in credential_environment(ROLE).items():
        monkeypatch.setenv(name, value)

    run = invoke({"InstanceId": "i-1"}, Python312Context(function=FunctionMeta(timeout=30)))

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"
    [call] = emulator.calls()
    assert call.access_key_id == ROLE.access_key_id


def test_rotated_keys_are_used_on_the_next_invocation(invoke: Invoke, monkeypatch):
    """GIVEN a warm instance that signed with one set of role keys
    WHEN FC rotates the keys and the next invocation's context carries new ones
    THEN the new keys sign the next request (nothing was frozen)."""
    with CamsEmulator(
        credentials=[role_credential(), role_credential(ROTATED)], instances=["i-1", "i-2"]
    ) as emu:
        monkeypatch.setenv("CAMS_ENDPOINT", emu.endpoint)
        monkeypatch.setenv("CAMS_PROTOCOL", "http")

        invoke({"InstanceId": "i-1"})
        run = invoke(
            {"InstanceId": "i-2"}, Python310Context(ROTATED, function=FunctionMeta(timeout=30))
        )

        assert run.result is not None
        assert run.result["Outcome"] == "deleted"
        assert [call.access_key_id for call in emu.calls()] == [
            ROLE.access_key_id,
            ROTATED.access_key_id,
        ]
        assert all(call.signature_valid for call in emu.calls())


def test_context_credentials_win_over_environment(emulator, invoke: Invoke, monkeypatch):
    """GIVEN keys both on the context and in the environment
    WHEN an event is handled
    THEN the context's keys are used (they are the invocation's own)."""
    emulator.add_instances("i-1")
    for name, value in credential_environment(ROTATED).items():
        monkeypatch.setenv(name, value)

    invoke({"InstanceId": "i-1"})

    [call] = emulator.calls()
    assert call.access_key_id == ROLE.access_key_id


def test_permanent_access_keys_without_token(invoke: Invoke, monkeypatch):
    """GIVEN plain (non-STS) access keys and no security token
    WHEN an event is handled
    THEN the request is signed without a token and accepted."""
    plain = Credentials("LTAI5tPlainAccessKey0001", "PlainSecretValue0000000000000001", None)
    with CamsEmulator(credentials=[Credential(plain.access_key_id, plain.access_key_secret)],
                      instances=["i-1"]) as emu:  # fmt: skip
        monkeypatch.setenv("CAMS_ENDPOINT", emu.endpoint)
        monkeypatch.setenv("CAMS_PROTOCOL", "http")

        run = invoke({"InstanceId": "i-1"}, Python310Context(plain))

        assert run.result is not None
        assert run.result["Outcome"] == "deleted"
        [call] = emu.calls()
        assert call.security_token is None


def test_credentials_repr_hides_secret_and_token():
    """GIVEN role credentials
    WHEN they are printed (a log line, a traceback)
    THEN neither the secret nor the token appears, and the key id is masked."""
    role = credentials.RoleCredentials(
        ROLE.access_key_id, ROLE.access_key_secret, ROLE.security_token
    )

    text = repr(role) + str(role)

    assert ROLE.access_key_secret not in text
    assert ROLE.security_token is not None
    assert ROLE.security_token not in text
    assert ROLE.access_key_id not in text


def test_client_cache_reuses_clients_and_stays_bounded():
    """GIVEN a client cache of capacity 2
    WHEN the same credentials ask twice, then three other sets ask
    THEN the first two calls share one client, and the cache never holds more than 2."""
    cache = ClientCache(capacity=2)
    endpoint = Endpoint("127.0.0.1:1", "http", "ap-southeast-1")
    role = credentials.RoleCredentials("AK1", "SK1", None)

    first = cache.get(endpoint, role)
    again = cache.get(endpoint, role)
    for n in range(3):
        cache.get(endpoint, credentials.RoleCredentials(f"AK{n + 2}", "SK", None))

    assert first is again
    assert len(cache) == 2
    assert cache.get(endpoint, role) is not first  # evicted, so rebuilt
