"""What the emulator answers: the reply type and the gateway's and CAMS's body shapes."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from typing import Any, Literal

JSON_TYPE = "application/json;charset=utf-8"
HTML_TYPE = "text/html"

Abort = Literal["close", "reset"]


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, or (``abort``) how to end the connection without one."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    request_id: str = ""
    code: str = ""  # for the journal: OK, the error code, or fault:<kind>
    abort: Abort | None = None


def new_request_id() -> str:
    """An upper-case UUID4, the shape the gateway uses.

    From ``random``, not ``uuid.uuid4()``: its ``os.urandom`` syscall lets go of the GIL,
    and winning it back costs handler threads more than the whole request.
    """
    return str(uuid.UUID(int=random.getrandbits(128), version=4)).upper()


def json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def gateway_error(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str,
    host_id: str,
    extra: dict[str, Any] | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Reply:
    """The API gateway's error body: RequestId, HostId, Code, Message, Recommend."""
    body: dict[str, Any] = {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": code,
        "Message": message,
        "Recommend": (
            f"https://api.aliyun.com/troubleshoot?q={code}&product=cams&requestId={request_id}"
        ),
    }
    if extra:
        body.update(extra)
    return Reply(status, json_bytes(body), headers=headers, request_id=request_id, code=code)


def business_reply(
    code: str,
    message: str,
    *,
    success: bool,
    request_id: str,
    extra: dict[str, Any] | None = None,
) -> Reply:
    """A CAMS answer: HTTP 200 whatever the outcome, ``Code`` tells (``OK`` is success).
    An empty ``code`` leaves the field out: an answer that does not say what happened."""
    body: dict[str, Any] = {
        "RequestId": request_id,
        "Code": code,
        "Message": message,
        "Success": success,
        "AccessDeniedDetail": "{}",
    }
    if not code:
        del body["Code"]
    if extra:
        body.update(extra)
    return Reply(200, json_bytes(body), request_id=request_id, code=code)


BAD_GATEWAY_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def bad_gateway_page(request_id: str, code: str) -> Reply:
    return Reply(502, BAD_GATEWAY_PAGE, content_type=HTML_TYPE, request_id=request_id, code=code)
