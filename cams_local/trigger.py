"""An HTTP request as FC 3.0's HTTP trigger hands it to the function, and the response back.

The event's shape (FC 3.0 built-in runtimes): version v1; rawPath URL-encoded as received
and requestContext.http.path decoded; repeated headers and query keys comma-joined;
timeEpoch a string; a body that is not UTF-8 base64-encoded with isBase64Encoded true.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

# Characters a URL path may carry as they are; anything else is percent-encoded, so a
# path that arrives with raw spaces or non-ASCII still gives a URL-encoded rawPath.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_PORT = re.compile(r":[0-9]*$")
DEFAULT_ACCOUNT_ID = "1649015465570000"


@dataclass(frozen=True)
class HttpRequest:
    """What arrived on the socket, before the trigger turns it into an event."""

    method: str
    target: str  # the request line's target: path and query, as sent
    protocol: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str


def comma_joined(pairs: Iterable[tuple[str, str]], *, fold_case: bool) -> dict[str, str]:
    """Pairs as a dict, repeated keys joined with ','; header names match case-insensitively
    and keep the spelling of their first occurrence."""
    joined: dict[str, str] = {}
    spelling: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower() if fold_case else name
        if key in spelling:
            joined[spelling[key]] += "," + value
        else:
            spelling[key] = name
            joined[name] = value
    return joined


def build_event(
    request: HttpRequest,
    *,
    request_id: str,
    now: float | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> dict[str, Any]:
    """The FC 3.0 HTTP trigger event for `request`."""
    now = time.time() if now is None else now
    raw_path, _, query = request.target.partition("?")
    raw_path = quote(raw_path or "/", safe=_PATH_SAFE)
    headers = comma_joined(request.headers, fold_case=True)
    lowered = {name.lower(): value for name, value in headers.items()}
    domain = _PORT.sub("", lowered.get("host", "")) or "127.0.0.1"
    try:
        body, is_base64 = request.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    return {
        "version": "v1",
        "rawPath": raw_path,
        "body": body,
        "isBase64Encoded": is_base64,
        "headers": headers,
        "queryParameters": comma_joined(parse_qsl(query, keep_blank_values=True), fold_case=False),
        "requestContext": {
            "accountId": account_id,
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": request.method.upper(),
                "path": unquote(raw_path),
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": request_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "timeEpoch": str(int(now * 1000)),
        },
    }


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def response_from_result(result: dict[str, Any]) -> HttpResponse:
    """The function's {statusCode, headers, isBase64Encoded, body} as an HTTP response."""
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = {str(name): str(value) for name, value in (result.get("headers") or {}).items()}
    return HttpResponse(int(result.get("statusCode", 200)), headers, data)
