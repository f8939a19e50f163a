"""The first call: what the SDK builds inside the first request to a host (a transport
adapter, whose SSL context loads the CA certificates) is built by the initializer, so the
first invocation spends its deadline on the deletion."""

from __future__ import annotations

import json
import ssl
from typing import Any

import certifi
import pytest
from darabonba.core import DaraCore

import index
from cams_delete import cams, entrypoints
from cams_emulator import CamsEmulator
from cams_local.fc import Python310Context
from tests.conftest import ROLE, Invoke, role_credential


@pytest.fixture
def ssl_contexts(monkeypatch: pytest.MonkeyPatch) -> list[ssl.SSLContext]:
    """Every SSL context darabonba makes (it calls ssl.create_default_context)."""
    made: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        context = create(*args, **kwargs)
        made.append(context)
        return context

    monkeypatch.setattr(ssl, "create_default_context", counted)
    return made


def test_the_first_invocation_after_the_initializer_builds_no_ssl_context(
    fresh_instance: cams.AdaptersBuiltAhead,
    emulator: CamsEmulator,
    context: Any,
    invoke: Invoke,
    ssl_contexts: list[ssl.SSLContext],
):
    """GIVEN a new instance whose initializer ran
    WHEN its first invocation deletes an instance
    THEN the invocation makes no SSL context (the initializer made the one its session
    uses), and the deletion goes through."""
    emulator.reset(["i-first-call"])
    index.initialize(context)  # its line is dropped by invoke
    assert (len(ssl_contexts), len(fresh_instance)) == (1, 1)
    ssl_contexts.clear()

    run = invoke({"InstanceId": "i-first-call"})

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"
    assert ssl_contexts == []
    assert len(fresh_instance) == 0  # taken by the session
    assert len(DaraCore._sessions) == 1
    assert [call.instance_id for call in emulator.calls("DeleteInstance")] == ["i-first-call"]


def test_without_the_initializer_the_first_invocation_builds_its_own(
    fresh_instance: cams.AdaptersBuiltAhead,
    emulator: CamsEmulator,
    invoke: Invoke,
    ssl_contexts: list[ssl.SSLContext],
):
    """GIVEN a new instance of a function deployed without its initializer
    WHEN its first invocation deletes an instance
    THEN the SDK builds the adapter inside the invocation, as it always did."""
    emulator.reset(["i-no-initializer"])

    run = invoke({"InstanceId": "i-no-initializer"})

    assert run.result is not None
    assert run.result["Outcome"] == "deleted"
    assert len(ssl_contexts) == 1
    assert len(DaraCore._sessions) == 1


def test_an_adapter_built_ahead_serves_one_session(
    fresh_instance: cams.AdaptersBuiltAhead,
    emulator: CamsEmulator,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    ssl_contexts: list[ssl.SSLContext],
):
    """GIVEN an initializer that built one adapter
    WHEN invocations reach two hosts (CAMS_ENDPOINT changed between them)
    THEN the first session takes it and the second builds its own: no two sessions share
    an adapter's connection pools, as with the SDK alone."""
    emulator.reset(["i-host-1"])
    index.initialize(Python310Context(credentials=ROLE))  # its line is dropped by invoke
    ssl_contexts.clear()

    first = invoke({"InstanceId": "i-host-1"})
    with CamsEmulator(credentials=[role_credential()], instances=["i-host-2"]) as other:
        monkeypatch.setenv("CAMS_ENDPOINT", other.endpoint)
        second = invoke({"InstanceId": "i-host-2"})

    assert first.result is not None
    assert second.result is not None
    assert (first.result["Outcome"], second.result["Outcome"]) == ("deleted", "deleted")
    assert len(ssl_contexts) == 1  # the second host's
    sessions = list(DaraCore._sessions.values())
    assert len(sessions) == 2
    assert sessions[0].get_adapter("http://x") is not sessions[1].get_adapter("http://x")


def test_an_initializer_run_again_leaves_one_adapter_waiting(
    fresh_instance: cams.AdaptersBuiltAhead,
    emulator: CamsEmulator,
    context: Any,
    capsys: pytest.CaptureFixture[str],
    ssl_contexts: list[ssl.SSLContext],
):
    """GIVEN an initializer that already built the adapter
    WHEN it runs again before any invocation
    THEN it builds nothing more: nothing piles up that no session would take."""
    index.initialize(context)
    index.initialize(context)
    capsys.readouterr()

    assert len(fresh_instance) == 1
    assert len(ssl_contexts) == 1


def test_https_gets_an_adapter_that_verifies_with_certifis_authorities(
    fresh_instance: cams.AdaptersBuiltAhead,
    context: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ssl_contexts: list[ssl.SSLContext],
):
    """GIVEN CAMS over HTTPS (the default)
    WHEN the initializer runs
    THEN the adapter waiting is darabonba's own for HTTPS: it checks certificates and host
    names against certifi's authorities, and it is the one a session for HTTPS takes."""
    monkeypatch.setenv("CAMS_ENDPOINT", "cams.ap-southeast-1.aliyuncs.com")
    index.initialize(context)
    capsys.readouterr()
    assert len(fresh_instance) == 1
    ssl_contexts.clear()

    # The session do_action asks for on the first request to CAMS over HTTPS.
    pool_size = DaraCore._resolve_pool_maxsize({})
    session = DaraCore._get_session(
        session_key=f"https://cams.ap-southeast-1.aliyuncs.com:80:pool={pool_size}",
        protocol="https",
        tls_min_version=None,
        verify=True,
        pool_size=pool_size,
    )
    adapter = session.get_adapter("https://cams.ap-southeast-1.aliyuncs.com/")

    assert ssl_contexts == []  # the one built ahead
    assert len(fresh_instance) == 0
    tls: ssl.SSLContext = adapter.ssl_context
    assert tls.verify_mode is ssl.CERT_REQUIRED
    assert tls.check_hostname is True
    trusted = {cert["serialNumber"] for cert in tls.get_ca_certs()}
    certifi_authorities = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    certifi_authorities.load_verify_locations(certifi.where())
    assert {cert["serialNumber"] for cert in certifi_authorities.get_ca_certs()} <= trusted


def test_an_initializer_that_cannot_build_the_transport_fails_with_a_reason(
    fresh_instance: cams.AdaptersBuiltAhead,
    context: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    """GIVEN a package whose CA bundle is missing (every HTTPS call would fail)
    WHEN the initializer runs
    THEN it fails as one that cannot import the SDK does: the function's own error, and
    the reason in the log."""
    monkeypatch.setenv("CAMS_ENDPOINT", "cams.ap-southeast-1.aliyuncs.com")
    monkeypatch.setattr(certifi, "where", lambda: "/nonexistent/cacert.pem")

    with pytest.raises(entrypoints.InitializationError):
        index.initialize(context)

    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert (line["event"], line["level"]) == ("initialization_failed", "error")
    assert "FileNotFoundError" in line["exception"]
    assert len(fresh_instance) == 0
