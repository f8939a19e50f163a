"""CAMS over HTTPS, as in production: the emulator behind TLS with a certificate from a
test authority added to the CA bundle the SDK trusts. Certificates are verified, host names
checked, and the bundle is loaded once per adapter, not once per connection."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests.adapters
from cryptography import x509

import index
from cams_delete import cams
from cams_emulator import CamsEmulator
from cams_emulator.certificates import LOOPBACK, Authority, new_authority
from tests.conftest import Invoke, role_credential


@pytest.fixture
def trusted(
    fresh_instance: cams.AdaptersBuiltAhead, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Authority:
    """A test authority in the CA bundle that darabonba and requests both read (certifi's,
    with the authority appended), on an instance that has made no request yet."""
    authority = new_authority("cams-delete-instance test authority")
    bundle = authority.added_to(certifi.where(), tmp_path / "cacert.pem")
    monkeypatch.setattr(certifi, "where", lambda: str(bundle))
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(bundle))
    return authority


@pytest.fixture
def bundle_loads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The CA files loaded into any SSL context, by whoever loads them."""
    loads: list[Any] = []
    load = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args[0] if args else kwargs.get("cafile"))
        load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    return loads


def https_emulator(
    context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch, instances: list[str]
) -> CamsEmulator:
    emulator = CamsEmulator(credentials=[role_credential()], instances=instances, tls=context)
    emulator.start()
    monkeypatch.setenv("CAMS_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("CAMS_PROTOCOL", emulator.protocol)
    return emulator


def test_deletions_over_https_load_the_ca_bundle_once_not_per_connection(
    trusted: Authority,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    invoke: Invoke,
    bundle_loads: list[Any],
):
    """GIVEN CAMS over HTTPS with a certificate the bundle's authorities vouch for
    WHEN the initializer runs, then one deletion, then a batch of four on four connections
    THEN everything is deleted, over HTTPS; the bundle was loaded once, by the initializer
    (into the adapter darabonba built), and no connection loaded it again."""
    ids = ["i-tls-1", "i-tls-2", "i-tls-3", "i-tls-4", "i-tls-5"]
    emulator = https_emulator(trusted.server_context(tmp_path, LOOPBACK), monkeypatch, ids)
    monkeypatch.setenv("MAX_CONCURRENCY", "4")
    try:
        index.initialize(None)  # its line is dropped by invoke
        initialized = list(bundle_loads)
        single = invoke({"InstanceId": "i-tls-1"})
        batch = invoke([{"InstanceId": instance_id} for instance_id in ids[1:]])
    finally:
        emulator.stop()

    assert initialized == [certifi.where()]
    assert bundle_loads == initialized
    assert single.result is not None
    assert single.result["Outcome"] == "deleted"
    assert batch.result is not None
    assert batch.result["Counts"]["deleted"] == 4
    assert emulator.url.startswith("https://")
    assert emulator.instances() == set()


@pytest.mark.parametrize(
    ("case", "name"),
    [
        ("signed by an authority nobody trusts", LOOPBACK),
        ("for another host", x509.DNSName("cams.example.invalid")),
    ],
)
def test_a_certificate_that_does_not_verify_is_refused_and_nothing_is_sent(
    case: str,
    name: x509.GeneralName,
    *,
    trusted: Authority,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    invoke: Invoke,
):
    """GIVEN CAMS over HTTPS answering with a certificate that does not verify
    WHEN the function deletes an instance, on a new connection
    THEN every attempt is refused during the handshake: no request reaches the server
    (the role's keys never leave), the instance stays, and the invocation raises as for
    an unreachable CAMS, so the event is retried."""
    signer = new_authority("an unknown authority") if "nobody" in case else trusted
    emulator = https_emulator(signer.server_context(tmp_path, name), monkeypatch, ["i-tls-x"])
    try:
        index.initialize(None)
        run = invoke({"InstanceId": "i-tls-x"})
    finally:
        emulator.stop()

    assert run.error is not None
    [deletion] = run.lines("deletion")
    assert (deletion["outcome"], deletion["code"]) == ("failed", "UpstreamUnavailable")
    assert deletion["attempts"] >= 2
    assert emulator.calls("DeleteInstance") == []
    assert emulator.instances() == {"i-tls-x"}
