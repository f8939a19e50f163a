"""The emulator's public value types: credentials, faults and journal entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

API_VERSION = "2020-06-06"
DEFAULT_REGION = "ap-southeast-1"

# CAMS documents no "instance not found" code; this one is an assumption (docs/emulator.md).
NOT_FOUND_CODE = "InvalidInstanceId.NotFound"
NOT_FOUND_MESSAGE = "The specified instance does not exist."

FAULT_KINDS = frozenset(
    {
        "throttle",
        "internal_error",
        "unavailable",
        "bad_gateway_html",
        "latency",
        "hang",
        "reset",
        "business_error",
        "conflict",
        "timeout_after_commit",
    }
)
# Kinds that hold a request: a delay_s of 0 means this default.
DEFAULT_HOLD_S = 30.0
HOLDING_KINDS = frozenset({"hang", "timeout_after_commit"})


@dataclass(frozen=True)
class Credential:
    """An access key the emulated gateway accepts.

    Keys whose id starts with ``STS.`` must carry ``x-acs-security-token`` equal to
    ``security_token``. ``allowed_actions`` of None allows every action; otherwise other
    actions are denied with ``Forbidden.RAM``. Names may be given as ``DeleteInstance`` or
    ``cams:DeleteInstance``; ``*`` and ``cams:*`` allow all. ``expires_at`` (epoch seconds)
    makes an STS key answer ``InvalidSecurityToken.Expired`` from then on.
    """

    access_key_id: str
    access_key_secret: str
    security_token: str | None = None
    allowed_actions: frozenset[str] | None = None
    expires_at: float | None = None

    @property
    def is_sts(self) -> bool:
        return self.access_key_id.startswith("STS.")

    def allows(self, action: str) -> bool:
        if self.allowed_actions is None:
            return True
        names = {name.removeprefix("cams:") for name in self.allowed_actions}
        return "*" in names or action in names

    def to_json(self) -> dict[str, Any]:
        """The credential without its secret, for the control API."""
        return {
            "access_key_id": self.access_key_id,
            "sts": self.is_sts,
            "allowed_actions": None
            if self.allowed_actions is None
            else sorted(self.allowed_actions),
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Credential:
        allowed = data.get("allowed_actions")
        if allowed is not None and not isinstance(allowed, list):
            raise ValueError("allowed_actions must be a list of action names, or null")
        expires_at = data.get("expires_at")
        return cls(
            access_key_id=_required_str(data, "access_key_id"),
            access_key_secret=_required_str(data, "access_key_secret"),
            security_token=_optional_str(data, "security_token"),
            allowed_actions=None if allowed is None else frozenset(str(a) for a in allowed),
            expires_at=None if expires_at is None else float(expires_at),
        )


@dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour for the requests that match ``action`` and ``instance_id``.

    ``times`` of None keeps the fault until it is cleared; n applies it to the next n
    matching requests. See docs/emulator.md for what each kind does.
    """

    kind: str
    action: str | None = "DeleteInstance"
    instance_id: str | None = None
    times: int | None = 1
    status: int | None = None
    retry_after_ms: int | None = None
    delay_s: float = 0.0
    code: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be None (persistent) or at least 1")
        if self.delay_s < 0:
            raise ValueError("delay_s must not be negative")
        if self.kind == "throttle" and self.status not in (None, 400, 429):
            raise ValueError("a throttle fault answers 400 or 429")
        if self.kind == "conflict" and self.status not in (None, 409, 423):
            raise ValueError("a conflict fault answers 409 or 423")
        if self.retry_after_ms is not None and self.retry_after_ms < 0:
            raise ValueError("retry_after_ms must not be negative")

    def matches(self, action: str, instance_id: str | None) -> bool:
        if self.action is not None and self.action != action:
            return False
        return self.instance_id is None or self.instance_id == instance_id

    @property
    def hold_s(self) -> float:
        """How long a holding fault keeps the request."""
        if self.kind in HOLDING_KINDS and self.delay_s == 0.0:
            return DEFAULT_HOLD_S
        return self.delay_s

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        return cls(**dict(data))


@dataclass(frozen=True)
class JournalEntry:
    """One request the API endpoint received, whatever became of it.

    ``status`` 0 means no HTTP answer was sent (hang, reset). ``code`` is ``OK``, the
    error code answered, or ``fault:<kind>`` for an injected fault; ``fault`` names the
    fault kind that fired, if any (also for latency and timeout_after_commit, whose code
    is the action's own outcome).
    """

    time: float
    action: str | None
    version: str | None
    params: dict[str, str] = field(hash=False)
    instance_id: str | None
    access_key_id: str | None
    security_token: str | None
    signature_valid: bool
    status: int
    code: str
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value
