"""The CAMS instance actions, over the emulator's instance store.

Business outcomes are HTTP 200 with ``Code``; only malformed input is a gateway error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from cams_emulator.models import NOT_FOUND_CODE, NOT_FOUND_MESSAGE
from cams_emulator.responses import Reply, business_reply
from cams_emulator.state import InstanceRecord, InstanceStore

# Parameters the gateway requires before the action runs (MissingParameter otherwise).
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {
    "DeleteInstance": ("InstanceId",),
    "QueryInstance": ("InstanceId",),
    "CreateInstance": ("ChannelType", "InstanceName"),
    "ListInstance": (),
}
ACTIONS = frozenset(REQUIRED_PARAMS)

# Assumed like NOT_FOUND_CODE: CAMS documents no code for a duplicate instance id.
DUPLICATE_CODE = "InstanceId.AlreadyExists"
OK_MESSAGE = "NULL"  # what the DeleteInstance reference page shows
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100


class InvalidParameterError(ValueError):
    """A parameter the gateway would refuse (answered as 400 InvalidParameter)."""


class InstanceActions:
    def __init__(self, store: InstanceStore, *, ok_success_flag: bool = True) -> None:
        self.store = store
        # False reproduces the reference page's sample: Code OK with Success false.
        self.ok_success_flag = ok_success_flag
        self._handlers: dict[str, Callable[[dict[str, str], str], Reply]] = {
            "DeleteInstance": self.delete_instance,
            "QueryInstance": self.query_instance,
            "CreateInstance": self.create_instance,
            "ListInstance": self.list_instance,
        }

    def run(self, action: str, params: dict[str, str], request_id: str) -> Reply:
        return self._handlers[action](params, request_id)

    def delete_instance(self, params: dict[str, str], request_id: str) -> Reply:
        if self.store.delete(params["InstanceId"]):
            return business_reply(
                "OK", OK_MESSAGE, success=self.ok_success_flag, request_id=request_id
            )
        return _not_found(request_id)

    def query_instance(self, params: dict[str, str], request_id: str) -> Reply:
        record = self.store.get(params["InstanceId"])
        if record is None:
            return _not_found(request_id)
        return business_reply(
            "OK", OK_MESSAGE, success=True, request_id=request_id, extra={"Data": record.to_json()}
        )

    def create_instance(self, params: dict[str, str], request_id: str) -> Reply:
        # InstanceId is not an SDK parameter: tests and demos may pass it (extends_parameters)
        # to get a known id; otherwise the emulator makes one in the documented sample's shape.
        instance_id = params.get("InstanceId") or f"cams-{uuid.uuid4().hex[:10]}"
        record = InstanceRecord(
            instance_id=instance_id,
            instance_name=params["InstanceName"],
            channel_type=params["ChannelType"],
            instance_description=params.get("InstanceDescription", ""),
        )
        if not self.store.create(record):
            return business_reply(
                DUPLICATE_CODE,
                "The specified instance already exists.",
                success=False,
                request_id=request_id,
            )
        created = self.store.get(instance_id) or record
        data = {
            key: value
            for key, value in created.to_json().items()
            if key not in ("CustSpaceId", "State")
        }
        return business_reply(
            "OK", OK_MESSAGE, success=True, request_id=request_id, extra={"Data": data}
        )

    def list_instance(self, params: dict[str, str], request_id: str) -> Reply:
        page_index = _positive_int(params, "PageIndex", 1)
        page_size = min(_positive_int(params, "PageSize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        wanted_id = params.get("InstanceId")
        name_part = params.get("InstanceName")
        channel = params.get("ChannelType")
        matching = [
            record
            for record in self.store.records()
            if (not wanted_id or record.instance_id == wanted_id)
            and (not name_part or name_part in record.instance_name)
            and (not channel or record.channel_type == channel)
        ]
        start = (page_index - 1) * page_size
        page = matching[start : start + page_size]
        return business_reply(
            "OK",
            OK_MESSAGE,
            success=True,
            request_id=request_id,
            extra={"Data": [record.to_json() for record in page], "TotalCount": len(matching)},
        )


def _not_found(request_id: str) -> Reply:
    return business_reply(NOT_FOUND_CODE, NOT_FOUND_MESSAGE, success=False, request_id=request_id)


def _positive_int(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or int(text) < 1:
        raise InvalidParameterError(name)
    return int(text)
