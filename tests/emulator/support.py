"""Helpers for the emulator tests: the real SDK (sync or async) and hand-made requests."""

from __future__ import annotations

import asyncio
import datetime
import http.client
import json
import uuid
from typing import Any

from alibabacloud_cams20200606 import models
from alibabacloud_cams20200606.client import Client
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

from cams_emulator import CamsEmulator, Credential
from cams_emulator.signing import sign_request

AK, SK = "test-ak", "test-secret"
STS_AK, STS_SK, STS_TOKEN = "STS.test-ak", "sts-secret", "sts-token-value"
QUERY_ONLY_AK, QUERY_ONLY_SK = "query-only-ak", "query-only-secret"
SEEDED = ("i-1", "i-2", "i-3")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def credentials() -> list[Credential]:
    return [
        Credential(AK, SK),
        Credential(STS_AK, STS_SK, security_token=STS_TOKEN),
        Credential(
            QUERY_ONLY_AK,
            QUERY_ONLY_SK,
            allowed_actions=frozenset({"cams:QueryInstance", "ListInstance"}),
        ),
    ]


class Sdk:
    """The real CAMS client, called through its sync or its async path."""

    def __init__(self, client: Client, mode: str) -> None:
        self.client = client
        self.mode = mode

    def call(self, name: str, request: Any, runtime: RuntimeOptions | None = None) -> Any:
        runtime = runtime or RuntimeOptions()
        if self.mode == "sync":
            return getattr(self.client, f"{name}_with_options")(request, runtime)
        coroutine = getattr(self.client, f"{name}_with_options_async")(request, runtime)
        return asyncio.run(coroutine)

    def delete(self, instance_id: str | None, **runtime: Any) -> Any:
        request = models.DeleteInstanceRequest(instance_id=instance_id)
        return self.call("delete_instance", request, RuntimeOptions(**runtime))


def make_client(emu: CamsEmulator, ak: str = AK, sk: str = SK, token: str | None = None) -> Client:
    return Client(
        Config(
            access_key_id=ak,
            access_key_secret=sk,
            security_token=token,
            endpoint=emu.endpoint,
            protocol="http",
            region_id="ap-southeast-1",
        )
    )


def acs_date(when: datetime.datetime | None = None) -> str:
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_headers(
    emu: CamsEmulator,
    params: dict[str, str],
    *,
    action: str = "DeleteInstance",
    date: str | None = None,
    nonce: str | None = None,
    body: bytes = b"",
    ak: str = AK,
    sk: str = SK,
) -> dict[str, str]:
    """Headers of a hand-made request, signed by the emulator's own signing helper."""
    return sign_request(
        method="POST",
        path="/",
        params=params,
        headers={
            "host": emu.endpoint,
            "x-acs-action": action,
            "x-acs-version": "2020-06-06",
            "x-acs-date": date or acs_date(),
            "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
            "accept": "application/json",
        },
        body=body,
        access_key_id=ak,
        access_key_secret=sk,
    )


def raw_request(
    emu: CamsEmulator,
    method: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client (no proxy handling at all): status, headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def control(emu: CamsEmulator, method: str, route: str, body: Any = None) -> tuple[int, Any]:
    """A control API call: status and decoded JSON."""
    payload = b"" if body is None else json.dumps(body).encode()
    status, _, data = raw_request(emu, method, f"/cams-emulator-api/{route}", body=payload)
    return status, json.loads(data)
