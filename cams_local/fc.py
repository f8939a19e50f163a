"""What FC hands the function: the context objects of the python3.10 and python3.12
runtimes, and environment variables, so local runs and tests look like the cloud."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    access_key_secret: str
    security_token: str | None = None


@dataclass(frozen=True)
class FunctionMeta:
    name: str = "cams-delete-instance"
    handler: str = "index.handler"
    memory: int = 128
    timeout: int = 30
    version_id: str = "LATEST"
    qualifier: str = "LATEST"


@dataclass(frozen=True)
class ServiceMeta:
    log_project: str = "cams-delete-instance-logs"
    log_store: str = "function-log"
    qualifier: str = "LATEST"
    version_id: str = ""


@dataclass(frozen=True)
class Python310Context:
    """python3.10 and older: the role's keys arrive as `context.credentials`."""

    credentials: Credentials
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function: FunctionMeta = field(default_factory=FunctionMeta)
    service: ServiceMeta = field(default_factory=ServiceMeta)
    region: str = "ap-southeast-1"
    account_id: str = "1649015465570000"


@dataclass(frozen=True)
class Python312Context:
    """python3.12: no credentials on the context; FC puts them in ALIBABA_CLOUD_* variables."""

    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function: FunctionMeta = field(default_factory=FunctionMeta)
    region: str = "ap-southeast-1"
    account_id: str = "1649015465570000"
    log_project: str = "cams-delete-instance-logs"
    log_store: str = "function-log"
    logger: Any = None


def credential_environment(credentials: Credentials) -> dict[str, str]:
    """The variables the python3.12 runtime sets for the function's role."""
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
    }
    if credentials.security_token:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = credentials.security_token
    return env


def runtime_environment(function: FunctionMeta, region: str = "ap-southeast-1") -> dict[str, str]:
    """Variables FC sets for every function."""
    return {
        "FC_FUNCTION_NAME": function.name,
        "FC_REGION": region,
        "FC_FUNCTION_MEMORY_SIZE": str(function.memory),
        "FC_INSTANCE_ID": "c-local-" + uuid.uuid4().hex[:12],
    }


def new_request_id(now: float | None = None) -> str:
    """A request id in the shape FC's samples show: ``1-<8 hex of epoch s>-<24 hex>``."""
    seconds = int(time.time() if now is None else now)
    return f"1-{seconds & 0xFFFFFFFF:08x}-{secrets.token_hex(12)}"
