"""A lean HTTP/1.1 request reader and response writer.

``http.server`` parses headers with the email package, which costs more than the whole
emulated API call; this reads only what the emulator needs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qsl

MAX_LINE = 65_536
MAX_HEADERS = 100
MAX_BODY = 10 * 1024 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


class Readable(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...
    def read(self, size: int = -1, /) -> bytes: ...


class BadRequestError(Exception):
    """The bytes on the wire are not an HTTP request this server accepts."""


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    headers: dict[str, list[str]]  # lower-case names; repeated headers keep every value
    body: bytes = b""
    path: str = field(init=False)
    query: str = field(init=False)

    def __post_init__(self) -> None:
        self.path, _, self.query = self.target.partition("?")

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"

    def query_params(self) -> dict[str, str]:
        return dict(self._query_pairs())

    def repeated_param_names(self) -> list[str]:
        """Parameter names given more than once, in the query, the form body, or both, in
        the order they first appear."""
        counts = Counter(name for name, _ in self._query_pairs() + self._form_pairs())
        return [name for name, count in counts.items() if count > 1]

    def params(self, query_params: dict[str, str]) -> dict[str, str]:
        """The query's parameters, then form-body ones over them (RPC accepts both)."""
        params = dict(query_params)
        params.update(self._form_pairs())
        return params

    def _query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def _form_pairs(self) -> list[tuple[str, str]]:
        content_type = (self.header("content-type") or "").split(";")[0].strip().lower()
        if not (self.body and content_type == FORM_TYPE):
            return []
        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)


def read_request(rfile: Readable) -> HttpRequest | None:
    """Read one request; None when the peer closed the connection between requests."""
    line = rfile.readline(MAX_LINE + 1)
    while line in (b"\r\n", b"\n"):  # tolerate stray blank lines between requests
        line = rfile.readline(MAX_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_LINE:
        raise BadRequestError("request line too long")
    parts = line.decode("latin-1").rstrip("\r\n").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequestError("malformed request line")
    method, target, version = parts
    headers: dict[str, list[str]] = {}
    for _ in range(MAX_HEADERS + 1):
        raw = rfile.readline(MAX_LINE + 1)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, colon, value = raw.decode("latin-1").partition(":")
        if not colon:
            raise BadRequestError("malformed header line")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    else:
        raise BadRequestError("too many headers")
    request = HttpRequest(method.upper(), target, version, headers)
    if request.header("transfer-encoding"):
        raise BadRequestError("chunked request bodies are not supported")
    length_text = request.header("content-length") or "0"
    if not length_text.isdigit() or int(length_text) > MAX_BODY:
        raise BadRequestError("bad content-length")
    length = int(length_text)
    if length:
        request.body = rfile.read(length)
        if len(request.body) != length:
            raise BadRequestError("body shorter than content-length")
    return request


def render_response(
    status: int,
    body: bytes,
    *,
    content_type: str,
    headers: tuple[tuple[str, str], ...] = (),
    keep_alive: bool = True,
) -> bytes:
    """Status line, headers and body as one buffer, so it leaves in one send."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
