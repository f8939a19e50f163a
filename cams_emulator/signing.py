"""ACS3-HMAC-SHA256 request signatures (Alibaba Cloud OpenAPI signature V3), as pure functions.

The server verifies with these; tests use :func:`sign_request` to craft requests by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_PAYLOAD_HASH = hashlib.sha256(b"").hexdigest()

_AUTHORIZATION = re.compile(
    r"^(?P<algorithm>\S+)\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]*),\s*Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)


@dataclass(frozen=True)
class Authorization:
    """The parts of an ``Authorization: ACS3-HMAC-SHA256 ...`` header."""

    algorithm: str
    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization | None:
    """Split an Authorization header; None when it is not in the V3 shape."""
    match = _AUTHORIZATION.match(value)
    if match is None:
        return None
    signed = tuple(name for name in match["signed"].lower().split(";") if name)
    return Authorization(
        algorithm=match["algorithm"],
        access_key_id=match["credential"],
        signed_headers=signed,
        signature=match["signature"].lower(),
    )


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_query(params: Mapping[str, str]) -> str:
    """Sorted ``k=v`` pairs, RFC 3986-encoded (only ``~`` left alone), joined by ``&``."""
    return "&".join(
        f"{quote(key, safe='~')}={quote(params[key], safe='~')}" for key in sorted(params)
    )


def canonical_headers(headers: Mapping[str, Sequence[str]], signed: Sequence[str]) -> str:
    """``name:value\\n`` for each signed header; repeated values are sorted and comma-joined.

    ``headers`` is keyed by lower-case name. A signed header that is absent canonicalises
    as empty, so the signature fails rather than the verifier.
    """
    lines = []
    for name in sorted(signed):
        values = sorted(v.strip() for v in headers.get(name, ()))
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def canonical_request(
    *,
    method: str,
    path: str,
    params: Mapping[str, str],
    headers: Mapping[str, Sequence[str]],
    signed: Sequence[str],
    hashed_payload: str,
) -> str:
    signed_sorted = sorted(signed)
    return "\n".join(
        (
            method.upper(),
            path or "/",
            canonical_query(params),
            canonical_headers(headers, signed_sorted),
            ";".join(signed_sorted),
            hashed_payload,
        )
    )


def string_to_sign(canonical: str) -> str:
    return f"{ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(secret: str, to_sign: str) -> str:
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_matches(expected: str, received: str) -> bool:
    # Constant time, so the emulator does not teach a timing side channel by example.
    return hmac.compare_digest(expected.encode("ascii"), received.encode("ascii", "replace"))


def sign_request(
    *,
    method: str,
    path: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    access_key_secret: str,
    security_token: str | None = None,
) -> dict[str, str]:
    """Return ``headers`` plus the V3 signing headers, signing every header given.

    ``headers`` must already hold ``host``, ``x-acs-action``, ``x-acs-version``,
    ``x-acs-date`` and ``x-acs-signature-nonce``; this adds ``x-acs-content-sha256``,
    the STS headers when a token is given, and ``Authorization``.
    """
    out = {name.lower(): value for name, value in headers.items()}
    out["x-acs-content-sha256"] = payload_hash(body)
    if security_token:
        out["x-acs-accesskey-id"] = access_key_id
        out["x-acs-security-token"] = security_token
    signed = sorted(out)
    canonical = canonical_request(
        method=method,
        path=path,
        params=params,
        headers={name: (value,) for name, value in out.items()},
        signed=signed,
        hashed_payload=out["x-acs-content-sha256"],
    )
    sig = signature(access_key_secret, string_to_sign(canonical))
    out["authorization"] = (
        f"{ALGORITHM} Credential={access_key_id},SignedHeaders={';'.join(signed)},Signature={sig}"
    )
    return out
