"""The HTTP trigger: guards, routes, and the rendering of a result as an HTTP response."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from cams_delete import deleter
from cams_delete.config import Settings
from cams_delete.extract import Candidate, Extracted, from_direct, unread_refusal
from cams_delete.flags import (
    find_unread,
    is_dry_run_header_name,
    is_dry_run_name,
    is_instance_id_name,
    mentions_dry_run,
    mentions_dry_run_in_text,
    query_flag,
)
from cams_delete.logs import register_secrets, shown
from cams_delete.results import (
    UNEXPECTED_ERROR,
    DeletionResult,
    echoable_instance_id,
    failed,
    rejected,
)
from cams_delete.sources import (
    DirectRequest,
    HttpTriggerEvent,
    RepeatedKeys,
    UnrecognisedEvent,
    parse_json,
)

MAX_BODY_BYTES = 64 * 1024
INSTANCES_PREFIX = "instances"
ROUTES_HINT = "use DELETE /instances/{InstanceId} or POST / with a JSON body"
_BODY_EXAMPLE = 'a JSON object such as {"InstanceId": "9383883"}'


@dataclass(frozen=True)
class HttpAnswer:
    result: DeletionResult
    headers: dict[str, str] = field(default_factory=dict)
    # Whether a line about the result is written already (the deletion's, or the bug's).
    logged: bool = False

    @property
    def status(self) -> int:
        return self.result.http_status


def respond(
    request: HttpTriggerEvent, settings: Settings, plan_for: Callable[[bool], deleter.Plan]
) -> HttpAnswer:
    """Check the request in order (token, envelope, route, method, body size, query,
    dry-run header, then the body's type and content, or the path's InstanceId) and delete."""
    if settings.bearer_token_sha256 is not None:
        denied = check_bearer_token(request.headers.get("authorization"), settings)
        if denied is not None:
            return _naming(denied, path_instance(request))

    malformed = envelope_problem(request)
    if malformed is not None:
        return _naming(malformed, path_instance(request))

    route = match_route(request.raw_path)
    if route is None:
        return _refuse(
            404, "NotFound", f"No route for {shown(request.raw_path, 200)!r}; {ROUTES_HINT}"
        )
    # What the path names, so that a refused DELETE can be found by its instance.
    named, allowed_method = route
    if request.method != allowed_method:
        return _refuse(
            405,
            "MethodNotAllowed",
            f"{shown(request.method, 16)} is not allowed on this path; use {allowed_method}",
            {"Allow": allowed_method},
            instance_id=named,
        )

    body = decode_body(request)
    if isinstance(body, HttpAnswer):
        return _naming(body, named)
    dry_run = dry_run_from_query(request.query)
    if isinstance(dry_run, HttpAnswer):
        return _naming(dry_run, named)
    header = dry_run_header(request.headers)
    if header is not None:
        return _naming(header, named)

    candidate: Extracted | HttpAnswer = (
        candidate_from_body(request, body) if named is None else candidate_from_path(named, body)
    )
    if isinstance(candidate, HttpAnswer):
        return _naming(candidate, named)

    [result] = deleter.process([candidate], plan_for(dry_run or settings.dry_run))
    headers = {}
    if result.http_status in (429, 503):
        headers["Retry-After"] = str(max(1, math.ceil(result.retry_after_s or 1)))
    return HttpAnswer(result, headers, logged=True)


def check_bearer_token(authorization: str | None, settings: Settings) -> HttpAnswer | None:
    """None when the request carries the configured bearer token, else a 401."""
    expected = settings.bearer_token_sha256
    assert expected is not None
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    presented = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    # Compare digests in constant time; both sides are always computed.
    if scheme.lower() == "bearer" and token and hmac.compare_digest(presented, expected):
        register_secrets(token)
        return None
    # A wrong token is not registered: headers are never logged, and any text a caller
    # registers is masked in its own log lines ("Bearer invocation" would mask the event).
    return _refuse(
        401,
        "Unauthorized",
        "Send the header 'Authorization: Bearer <token>' with a valid token",
        {"WWW-Authenticate": 'Bearer realm="cams-delete-instance"'},
    )


def envelope_problem(request: HttpTriggerEvent) -> HttpAnswer | None:
    """A 400 for an envelope FC would not build, else None. Such an event comes from a
    direct invocation, and each way of reading it could lose a dry run: a key given twice
    (FC joins repeated headers and query parameters with commas), a query, headers or body
    of the wrong type (read as none), or a flag or an InstanceId beside them, a flag deeper
    in requestContext or a field FC does not send, or an InstanceId in a message field FC
    does not send (not read)."""
    raw = request.raw
    if not isinstance(raw.get("rawPath"), str):
        return _refuse(
            400, "InvalidEvent", "The request's rawPath must be a string, as FC sends it"
        )
    if not str(raw["requestContext"]["http"]["method"]).isascii():
        # str.upper() reads some non-ASCII letters as ASCII ones (U+017F as S).
        return _refuse(400, "InvalidEvent", "The request's method must be ASCII, as FC sends it")
    context = raw["requestContext"]  # recognised by it: an object, as is its http
    parts = (
        ("", raw),
        ("headers", raw.get("headers")),
        ("queryParameters", raw.get("queryParameters")),
        # Its method decides between a DELETE and a 405.
        ("requestContext", context),
        ("requestContext.http", context["http"]),
    )
    for name, part in parts:
        if isinstance(part, RepeatedKeys):
            where = f"The request's {name}" if name else "The request"
            names = ", ".join(repr(shown(key, 64)) for key in part.repeated[:3])
            return _refuse(
                400,
                "InvalidParameter.RepeatedKey",
                f"{where} names {names} more than once; send each once",
            )
    headers = raw.get("headers")
    if isinstance(headers, dict) and len(request.headers) < len(headers):
        # Names differing only in case: one of them would be read, the other dropped.
        return _refuse(
            400,
            "InvalidParameter.RepeatedKey",
            "The request's headers name one header more than once, in different cases; "
            "send each once",
        )
    for name in ("headers", "queryParameters"):
        part = raw.get(name)
        if part is not None and not (
            isinstance(part, dict) and all(isinstance(value, str) for value in part.values())
        ):
            return _refuse(
                400,
                "InvalidEvent",
                f"The request's {name} must be an object of strings, as FC's HTTP trigger sends it",
            )
    if raw.get("body") is not None and not isinstance(raw.get("body"), str):
        return _refuse(400, "InvalidEvent", "The request's body must be a string, as FC sends it")
    for key, value in raw.items():
        if key not in _TRIGGER_FIELDS and _may_ask_for_something(key, value):
            return _refuse(
                400,
                "InvalidEvent",
                f"{shown(str(key), 64)!r} beside the HTTP request is not read; name the "
                "instance in the path or body, and add ?dryRun=true to check without deleting",
            )
    # Deeper, in requestContext or a field FC does not send: a flag there is not read.
    unread = find_unread(raw, "", skip=_READ_FIELDS)
    if unread is not None:
        return HttpAnswer(unread_refusal(unread))
    return None


# What FC's HTTP trigger sends, and the fields of it read on their own (their own checks).
_TRIGGER_FIELDS = frozenset(
    {
        "version",
        "rawPath",
        "headers",
        "queryParameters",
        "body",
        "isBase64Encoded",
        "requestContext",
    }
)
_READ_FIELDS = ("headers", "queryParameters", "body")


def _may_ask_for_something(key: str, value: object) -> bool:
    """Whether a field FC does not send may hold a dry run or an instance: by its name, as
    a query string or headers of another shape (an EventBridge HTTP source's
    `queryString`, AWS's `queryStringParameters`, `rawQueryString`, `multiValueHeaders`,
    whose parameters FC's `queryParameters` would refuse unless read), or as text that
    mentions one."""
    name = key.casefold()
    return (
        is_dry_run_name(key)
        or mentions_dry_run(key)
        or is_instance_id_name(key)
        or "query" in name
        or "header" in name
        or mentions_dry_run_in_text(value)
    )


def match_route(raw_path: str) -> tuple[str | None, str] | None:
    """(the InstanceId the path names, or None for `POST /`, and the one method allowed)
    for a known path, else None."""
    segments = raw_path.split("/")
    if raw_path in ("", "/"):
        return None, "POST"
    if len(segments) == 3 and segments[0] == "" and segments[1] == INSTANCES_PREFIX:
        # rawPath is URL-encoded: decode the segment only after splitting, so an
        # encoded '/' stays inside the ID (and is then rejected by validation).
        return unquote(segments[2]), "DELETE"
    return None


def path_instance(request: HttpTriggerEvent) -> str | None:
    """The instance a request's path names, for a refusal made before its route is read."""
    route = match_route(request.raw_path)
    return route[0] if route is not None else None


def decode_body(request: HttpTriggerEvent) -> bytes | HttpAnswer:
    too_large = _refuse(
        413, "PayloadTooLarge", f"The request body exceeds {MAX_BODY_BYTES // 1024} KiB"
    )
    text = request.body
    if request.is_base64_encoded:
        if len(text) > math.ceil(MAX_BODY_BYTES / 3) * 4 + 4:
            return too_large
        try:
            body = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return _refuse(400, "InvalidParameter.Body", "The body is marked base64 but is not")
    else:
        if len(text) > MAX_BODY_BYTES:
            return too_large
        body = text.encode("utf-8", "surrogatepass")
    return too_large if len(body) > MAX_BODY_BYTES else body


def dry_run_from_query(query: dict[str, str]) -> bool | HttpAnswer:
    """`dryRun` in any spelling of its case; any other parameter is refused, so that a
    misspelt dry run can never turn into a deletion."""
    if sum(name.lower() == "dryrun" for name in query) > 1:
        # dryRun and dryrun are two keys: whichever counted, the other could undo a dry run.
        return _refuse(
            400,
            "InvalidParameter.DryRun",
            "The query names dryRun more than once, in different cases; send it once",
        )
    dry_run = False
    for name, value in query.items():
        if name.lower() != "dryrun":
            return _refuse(
                400,
                "InvalidParameter.Query",
                f"Unknown query parameter {shown(name, 64)!r}; the only one is dryRun",
            )
        flag = query_flag(value)
        if not isinstance(flag, bool):
            return _refuse(
                400,
                "InvalidParameter.DryRun",
                "dryRun must be given once, as true or false (or 1 or 0)",
            )
        dry_run = dry_run or flag
    return dry_run


def dry_run_header(headers: dict[str, str]) -> HttpAnswer | None:
    """A header that reads as a dry run (`Dry-Run`, `X-Dry-Run`, `Is-Dry-Run`, `X-Simulate`)
    is refused unless it says false: the API reads ?dryRun=true, and ignoring the header
    would delete."""
    for name, value in headers.items():
        if is_dry_run_header_name(name) and query_flag(value) is not False:
            return _refuse(
                400,
                "InvalidParameter.DryRun",
                f"The header {shown(name, 64)!r} is not read; to check without deleting, add "
                "?dryRun=true",
            )
    return None


def candidate_from_path(instance_id: str, body: bytes) -> Candidate | HttpAnswer:
    """DELETE /instances/{id} takes its instance from the path and nothing from a body: a
    body is refused rather than ignored, since a DryRun in it would otherwise be lost."""
    if body.strip() and parse_json(body) != {}:
        return _refuse(
            400,
            "InvalidParameter.Body",
            "DELETE /instances/{InstanceId} takes no body; to check without deleting, "
            "add ?dryRun=true",
        )
    return Candidate(instance_id)


def candidate_from_body(request: HttpTriggerEvent, body: bytes) -> Extracted | HttpAnswer:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return _refuse(
            415, "UnsupportedMediaType", "POST takes JSON: send 'Content-Type: application/json'"
        )
    parsed = parse_json(body, "The body", _BODY_EXAMPLE)
    if isinstance(parsed, UnrecognisedEvent):
        return _refuse(400, "InvalidParameter.Body", parsed.message)
    if not isinstance(parsed, dict):
        return _refuse(400, "InvalidParameter.Body", f"The body must be {_BODY_EXAMPLE}")
    extracted = from_direct(DirectRequest(parsed))
    unknown = [key for key in parsed if key != "InstanceId" and not is_dry_run_name(key)]
    if isinstance(extracted, Candidate) and unknown:
        # Refused, not ignored: it may be a misspelt dry run.
        return _refuse(
            400,
            "InvalidParameter.Body",
            f"Unknown field {shown(str(unknown[0]), 64)!r} in the body; it takes InstanceId "
            "and DryRun",
            instance_id=parsed.get("InstanceId"),
        )
    return extracted


def misconfigured(request: HttpTriggerEvent, variable: str, request_id: str | None) -> HttpAnswer:
    """A 500 while the function's configuration is invalid. It names the variable, not its
    value (the caller may not be the operator), and the instance the path named, if any."""
    return HttpAnswer(
        rejected(
            path_instance(request),
            "InvalidConfiguration",
            f"The function's configuration is invalid ({variable}); its log has the details "
            f"under request id {request_id or 'unknown'}",
            http_status=500,
        )
    )


def unexpected_error(request_id: str | None, instance_id: str | None = None) -> HttpAnswer:
    """A bug: still a normalized body, naming the instance the path named, if known; the
    traceback goes to the log only."""
    return HttpAnswer(
        failed(instance_id, UNEXPECTED_ERROR, _bug_message(request_id), 500, retryable=False),
        logged=True,
    )


def _bug_message(request_id: str | None) -> str:
    return (
        "The function failed unexpectedly; its log has the details under request id "
        f"{request_id or 'unknown'}"
    )


# The body of last_resort's 500, made once by the code that renders every answer.
_BUG_DOCUMENT = failed(None, UNEXPECTED_ERROR, None, 500, retryable=False).to_document()
_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def last_resort(request_id: str | None) -> dict[str, Any]:
    """The normalized 500 of a bug, for when rendering an answer is what fails: completed
    by hand from a document made at import, so that none of the code the bug may be in
    runs, and FC's error (with the function's frames) never reaches the caller."""
    document = {**_BUG_DOCUMENT, "Message": _bug_message(request_id)}
    return {
        "statusCode": 500,
        "headers": dict(_HEADERS),
        "isBase64Encoded": False,
        "body": json.dumps(document),
    }


def render(answer: HttpAnswer) -> dict[str, Any]:
    """The response FC's HTTP trigger expects. No `x-fc-` header: FC reserves them (it sets
    x-fc-request-id itself)."""
    headers = {**_HEADERS, **answer.headers}
    return {
        "statusCode": answer.status,
        "headers": headers,
        "isBase64Encoded": False,
        "body": json.dumps(answer.result.to_document()),
    }


def _naming(answer: HttpAnswer, instance_id: str | None) -> HttpAnswer:
    """The refusal about the instance the path named (when it did)."""
    if instance_id is None or answer.result.instance_id is not None:
        return answer
    result = replace(answer.result, instance_id=echoable_instance_id(instance_id))
    return replace(answer, result=result)


def _refuse(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    instance_id: object = None,
) -> HttpAnswer:
    """Refused by the trigger's checks, before any call; `instance_id` is what the path
    or body named, if anything, as the caller sent it."""
    return HttpAnswer(rejected(instance_id, code, message, http_status=status), headers or {})
