"""One API request from arrival to reply: the gateway's checks, faults, then the action.

Order of checks (the first failure answers): method and path, authentication (key, STS
token, payload hash, signature, date, nonce), action and version, RAM policy, required
parameters, scripted faults, the action itself. Every request lands in the journal.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import replace

from cams_emulator.actions import ACTIONS, REQUIRED_PARAMS, InstanceActions, InvalidParameterError
from cams_emulator.auth import Authenticator, Identity
from cams_emulator.faults import FaultBook
from cams_emulator.models import API_VERSION, DEFAULT_REGION, Fault, JournalEntry
from cams_emulator.responses import (
    Reply,
    bad_gateway_page,
    business_reply,
    gateway_error,
    new_request_id,
)
from cams_emulator.state import Journal
from cams_emulator.wire import HttpRequest

DEFAULT_HOST = f"cams.{DEFAULT_REGION}.aliyuncs.com"
EMULATED_ACCOUNT_ID = "5000000000000000"  # the account RAM denials name; any 16 digits do

_FAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "throttle": (429, "Throttling.User", "Request was denied due to user flow control."),
    "internal_error": (
        500,
        "InternalError",
        "The request processing has failed due to some unknown error, exception or failure.",
    ),
    "unavailable": (
        503,
        "ServiceUnavailable",
        "The request has failed due to a temporary failure of the server.",
    ),
    "conflict": (
        409,
        "OperationConflict",
        "Another operation is being performed on the instance. Try again later.",
    ),
}


class Gateway:
    def __init__(
        self,
        *,
        authenticator: Authenticator,
        actions: InstanceActions,
        faults: FaultBook,
        journal: Journal,
        stopping: threading.Event,
    ) -> None:
        self.authenticator = authenticator
        self.actions = actions
        self.faults = faults
        self.journal = journal
        self._stopping = stopping

    def handle(self, request: HttpRequest) -> Reply:
        call = _Call(self, request)
        return call.run()

    def hold(self, seconds: float) -> bool:
        """Wait ``seconds``; False when the emulator is stopping (so the caller gives up)."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()


class _Call:
    """The state of one request on its way through the gateway."""

    def __init__(self, gateway: Gateway, request: HttpRequest) -> None:
        self.gateway = gateway
        self.request = request
        self.arrived = time.time()
        self.seq = gateway.journal.reserve()
        self.request_id = new_request_id()
        self.host_id = request.header("host") or DEFAULT_HOST
        self.query_params = request.query_params()
        self.params = request.params(self.query_params)
        self.action = request.header("x-acs-action")
        self.version = request.header("x-acs-version")
        self.identity = Identity(None, request.header("x-acs-security-token"), None, False)

    def run(self) -> Reply:
        if self.request.method not in ("POST", "GET") or self.request.path != "/":
            return self.record(self.error(404, "InvalidAction.NotFound", _API_NOT_FOUND))
        repeated = self.request.repeated_param_names()
        if repeated:
            # The signature covers every pair; reading one of them would act on the other.
            return self.record(
                self.error(
                    400,
                    "InvalidParameter",
                    f'The parameter "{repeated[0]}" is given more than once.',
                )
            )
        self.identity, auth_error = self.gateway.authenticator.authenticate(
            self.request, self.query_params
        )
        if auth_error is not None:
            return self.record(self.error(auth_error.status, auth_error.code, auth_error.message))
        action = self.action
        if not action:
            return self.record(self.error(400, "MissingParameter", _missing("Action")))
        if self.version != API_VERSION:
            return self.record(
                self.error(
                    400,
                    "InvalidVersion",
                    f"Specified parameter Version {self.version} is not valid.",
                )
            )
        if action not in ACTIONS:
            return self.record(self.error(404, "InvalidAction.NotFound", _API_NOT_FOUND))
        credential = self.identity.credential
        if credential is not None and not credential.allows(action):
            return self.record(self.forbidden(action))
        for name in REQUIRED_PARAMS[action]:
            if not self.params.get(name):
                return self.record(self.error(400, "MissingParameter", _missing(name)))
        fault = self.gateway.faults.take(action, self.params.get("InstanceId"))
        if fault is not None:
            return self.apply_fault(action, fault)
        return self.record(self.perform(action))

    def perform(self, action: str) -> Reply:
        try:
            return self.gateway.actions.run(action, self.params, self.request_id)
        except InvalidParameterError as exc:
            return self.error(400, "InvalidParameter", f"Specified parameter {exc} is not valid.")

    def apply_fault(self, action: str, fault: Fault) -> Reply:
        kind = fault.kind
        label = f"fault:{kind}"
        extra_headers: tuple[tuple[str, str], ...] = ()
        if fault.retry_after_ms is not None:
            extra_headers = (("x-acs-retry-after", str(fault.retry_after_ms)),)
        if kind in _FAULT_ERRORS:
            status, code, message = _FAULT_ERRORS[kind]
            if kind in ("throttle", "conflict") and fault.status is not None:
                status = fault.status
            if kind in ("internal_error", "conflict") and fault.code is not None:
                code = fault.code  # e.g. a 500 that is not InternalError, as other gateways send
            reply = self.error(status, code, fault.message or message, headers=extra_headers)
            return self.record(replace(reply, code=label), fault=kind)
        if kind == "bad_gateway_html":
            reply = bad_gateway_page(self.request_id, label)
            return self.record(replace(reply, headers=extra_headers), fault=kind)
        if kind == "business_error":
            reply = business_reply(
                # A refusal that stays: `conflict` is the kind for an instance that is busy.
                "UnsupportedOperation" if fault.code is None else fault.code,
                fault.message or "The specified instance does not support this operation.",
                success=False,
                request_id=self.request_id,
            )
            return self.record(replace(reply, code=label, headers=extra_headers), fault=kind)
        if kind == "reset":
            return self.record(
                Reply(0, request_id=self.request_id, code=label, abort="reset"), fault=kind
            )
        if kind == "hang":
            self.record(Reply(0, request_id=self.request_id, code=label, abort="close"), fault=kind)
            self.gateway.hold(fault.hold_s)
            return Reply(0, request_id=self.request_id, code=label, abort="close")
        if kind == "latency":
            if not self.gateway.hold(fault.delay_s):
                return self.record(
                    Reply(0, request_id=self.request_id, code=label, abort="close"), fault=kind
                )
            return self.record(self.perform(action), fault=kind)
        # timeout_after_commit: the action takes effect, its answer comes too late to matter.
        # The journal keeps the action's own code, as for latency: whether it deleted.
        reply = self.perform(action)
        self.record(reply, fault=kind)
        if not self.gateway.hold(fault.hold_s):
            return replace(reply, abort="close")
        return reply

    def error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        extra: dict[str, object] | None = None,
    ) -> Reply:
        return gateway_error(
            status,
            code,
            message,
            request_id=self.request_id,
            host_id=self.host_id,
            headers=headers,
            extra=extra,
        )

    def forbidden(self, action: str) -> Reply:
        instance_id = self.params.get("InstanceId", "*")
        resource = f"acs:cams:{DEFAULT_REGION}:{EMULATED_ACCOUNT_ID}:instance/{instance_id}"
        diagnostic = json.dumps({"AuthAction": f"cams:{action}", "AuthResource": resource})
        detail = {
            "PolicyType": "AccountLevelIdentityBasedPolicy",
            "AuthPrincipalOwnerId": EMULATED_ACCOUNT_ID,
            "EncodedDiagnosticMessage": base64.b64encode(diagnostic.encode()).decode(),
            "AuthPrincipalType": "AssumedRoleUser"
            if self.identity.credential is not None and self.identity.credential.is_sts
            else "SubUser",
            "AuthPrincipalDisplayName": self.identity.access_key_id or "",
            "NoPermissionType": "ImplicitDeny",
            "AuthAction": f"cams:{action}",
        }
        return self.error(
            403,
            "Forbidden.RAM",
            "User not authorized to operate on the specified resource, "
            "or this API doesn't support RAM.",
            extra={"AccessDeniedDetail": detail},
        )

    def record(self, reply: Reply, *, fault: str | None = None) -> Reply:
        self.gateway.journal.record(
            self.seq,
            JournalEntry(
                time=self.arrived,
                action=self.action,
                version=self.version,
                params=self.params,
                instance_id=self.params.get("InstanceId"),
                access_key_id=self.identity.access_key_id,
                security_token=self.identity.security_token,
                signature_valid=self.identity.signature_valid,
                status=0 if reply.abort is not None else reply.status,
                code=reply.code,
                fault=fault,
            ),
        )
        return reply


_API_NOT_FOUND = "Specified api is not found, please check your url and method."


def _missing(name: str) -> str:
    return (
        f'The input parameter "{name}" that is mandatory for processing this request '
        "is not supplied."
    )
