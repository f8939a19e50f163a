"""The control API under ``/cams-emulator-api/``: plain JSON, never signed, never journaled.

Routes (docs/emulator.md has examples):
    GET    /health                  liveness and endpoint
    GET    /instances               the instances that exist
    POST   /instances               {"instances": [...]} adds; PUT replaces them
    POST   /reset                   {"instances": [...]} optional; clears state, faults, journal
    GET    /faults                  armed faults with ids and remaining uses
    POST   /faults                  a Fault as JSON -> {"id": ...}
    DELETE /faults[/<id>]           disarms all faults, or one
    GET    /journal[?action=A]      received API requests, in arrival order
    DELETE /journal                 forgets them
    GET    /credentials             registered keys (no secrets)
    POST   /credentials             a Credential as JSON
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl

from cams_emulator.models import Credential, Fault, JournalEntry
from cams_emulator.responses import JSON_TYPE, Reply, json_bytes
from cams_emulator.wire import HttpRequest

PREFIX = "/cams-emulator-api"


class Controllable(Protocol):
    """What the control API drives (CamsEmulator)."""

    @property
    def endpoint(self) -> str: ...
    def instances(self) -> set[str]: ...
    def add_instances(self, *ids: str) -> None: ...
    def replace_instances(self, ids: Sequence[str]) -> None: ...
    def reset(self, instances: Sequence[str] = ()) -> None: ...
    def add_fault(self, fault: Fault) -> str: ...
    def remove_fault(self, fault_id: str) -> bool: ...
    def clear_faults(self) -> None: ...
    def faults(self) -> list[dict[str, object]]: ...
    def journal(self) -> list[JournalEntry]: ...
    def clear_journal(self) -> None: ...
    def add_credential(self, credential: Credential) -> None: ...
    def credentials(self) -> list[Credential]: ...


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_control_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def handle_control(emulator: Controllable, request: HttpRequest) -> Reply:
    try:
        status, body = _route(emulator, request)
    except ControlError as exc:
        status, body = exc.status, {"error": str(exc)}
    except (ValueError, TypeError) as exc:
        # Bad input from the caller; the message says which, without a stack trace.
        status, body = 400, {"error": str(exc)}
    return Reply(status, json_bytes(body), content_type=JSON_TYPE)


def _route(emulator: Controllable, request: HttpRequest) -> tuple[int, Any]:
    route = request.path[len(PREFIX) :].strip("/")
    method = request.method
    if route == "health" and method == "GET":
        return 200, {"status": "ok", "endpoint": emulator.endpoint}
    if route == "instances":
        if method == "GET":
            return 200, {"instances": sorted(emulator.instances())}
        if method in ("POST", "PUT"):
            ids = _id_list(_json_body(request), "instances")
            if method == "POST":
                emulator.add_instances(*ids)
            else:
                emulator.replace_instances(ids)
            return 200, {"instances": sorted(emulator.instances())}
    if route == "reset" and method == "POST":
        body = _json_body(request) if request.body else {}
        emulator.reset(instances=_id_list(body, "instances") if "instances" in body else ())
        return 200, {"instances": sorted(emulator.instances())}
    if route == "faults":
        if method == "GET":
            return 200, {"faults": emulator.faults()}
        if method == "POST":
            return 201, {"id": emulator.add_fault(Fault.from_json(_json_body(request)))}
        if method == "DELETE":
            emulator.clear_faults()
            return 200, {"faults": []}
    if route.startswith("faults/") and method == "DELETE":
        fault_id = route.removeprefix("faults/")
        if not emulator.remove_fault(fault_id):
            raise ControlError(404, f"no armed fault {fault_id}")
        return 200, {"removed": fault_id}
    if route == "journal":
        if method == "GET":
            action = dict(parse_qsl(request.query)).get("action")
            entries = [
                entry.to_json()
                for entry in emulator.journal()
                if action is None or entry.action == action
            ]
            return 200, {"entries": entries}
        if method == "DELETE":
            emulator.clear_journal()
            return 200, {"entries": []}
    if route == "credentials":
        if method == "GET":
            return 200, {"credentials": [c.to_json() for c in emulator.credentials()]}
        if method == "POST":
            credential = Credential.from_json(_json_body(request))
            emulator.add_credential(credential)
            return 201, credential.to_json()
    if route in _ROUTES:
        raise ControlError(405, f"{method} is not allowed on {PREFIX}/{route}")
    raise ControlError(404, f"no control route {request.path}")


_ROUTES = frozenset({"health", "instances", "reset", "faults", "journal", "credentials"})


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body


def _id_list(body: dict[str, Any], key: str) -> list[str]:
    ids = body.get(key)
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
        raise ControlError(400, f'"{key}" must be a list of non-empty strings')
    return ids
