"""The gateway's authentication: key, STS token, signature, payload hash, date, nonce."""

from __future__ import annotations

import calendar
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cams_emulator import signing
from cams_emulator.models import Credential
from cams_emulator.state import NonceCache
from cams_emulator.wire import HttpRequest

# Headers that V3 requires to be signed when present (the SDK signs all of its own).
REQUIRED_SIGNED = ("host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-content-sha256")
_ACS_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$")


@dataclass(frozen=True)
class AuthError:
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Identity:
    """Who a request says it is, and whether its signature held."""

    access_key_id: str | None
    security_token: str | None
    credential: Credential | None
    signature_valid: bool


def parse_acs_date(value: str) -> float | None:
    """``2024-05-01T12:00:00Z`` as epoch seconds; None when malformed."""
    match = _ACS_DATE.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    except (OverflowError, ValueError):
        return None


class Authenticator:
    """Checks requests against the registered credentials, as the API gateway does."""

    def __init__(
        self,
        credentials: Iterable[Credential] = (),
        *,
        max_clock_skew_s: float = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._credentials = {c.access_key_id: c for c in credentials}
        self._nonces = NonceCache()
        self.max_clock_skew_s = max_clock_skew_s
        self._clock = clock

    def add(self, credential: Credential) -> None:
        with self._lock:
            self._credentials[credential.access_key_id] = credential

    def credentials(self) -> list[Credential]:
        with self._lock:
            return list(self._credentials.values())

    def forget_nonces(self) -> None:
        self._nonces.clear()

    def authenticate(
        self, request: HttpRequest, query_params: dict[str, str]
    ) -> tuple[Identity, AuthError | None]:
        """Who sent ``request`` and, unless it may pass, the gateway's error.

        ``query_params`` are the decoded query parameters: V3 signs the query, not a form body.
        """
        token = request.header("x-acs-security-token")
        header = request.header("authorization")
        auth = signing.parse_authorization(header) if header else None
        if auth is None:
            return Identity(None, token, None, False), AuthError(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards: "
                "missing or malformed Authorization header.",
            )
        with self._lock:
            credential = self._credentials.get(auth.access_key_id)
        identity = Identity(auth.access_key_id, token, credential, False)
        error = self._check_shape(request, auth)
        if error is not None:
            return identity, error
        if credential is None:
            return identity, AuthError(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        error = self._check_token(credential, token) or self._check_signature(
            request, query_params, auth, credential
        )
        if error is not None:
            return identity, error
        verified = Identity(auth.access_key_id, token, credential, True)
        return verified, self._check_freshness(request)

    @staticmethod
    def _check_shape(request: HttpRequest, auth: signing.Authorization) -> AuthError | None:
        if auth.algorithm != signing.ALGORITHM:
            return AuthError(
                400,
                "IncompleteSignature",
                f"Unsupported signature algorithm {auth.algorithm}; use {signing.ALGORITHM}.",
            )
        unsigned = [
            name
            for name in (*REQUIRED_SIGNED, "x-acs-security-token", "x-acs-signature-nonce")
            if name in request.headers and name not in auth.signed_headers
        ]
        missing = [name for name in REQUIRED_SIGNED if name not in request.headers]
        if missing or unsigned:
            return AuthError(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards: "
                f"missing headers {missing}, unsigned headers {unsigned}.",
            )
        return None

    def _check_token(self, credential: Credential, token: str | None) -> AuthError | None:
        if not credential.is_sts:
            return None
        if not token:
            return AuthError(
                400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed."
            )
        if not signing.signature_matches(credential.security_token or "", token):
            return AuthError(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            )
        if credential.expires_at is not None and self._clock() >= credential.expires_at:
            return AuthError(
                400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."
            )
        return None

    @staticmethod
    def _check_signature(
        request: HttpRequest,
        query_params: dict[str, str],
        auth: signing.Authorization,
        credential: Credential,
    ) -> AuthError | None:
        actual_hash = signing.payload_hash(request.body)
        if request.header("x-acs-content-sha256") != actual_hash:
            return AuthError(
                400,
                "SignatureDoesNotMatch",
                "The x-acs-content-sha256 header does not match the hash of the request body.",
            )
        canonical = signing.canonical_request(
            method=request.method,
            path=request.path,
            params=query_params,
            headers=request.headers,
            signed=auth.signed_headers,
            hashed_payload=actual_hash,
        )
        to_sign = signing.string_to_sign(canonical)
        expected = signing.signature(credential.access_key_secret, to_sign)
        if not signing.signature_matches(expected, auth.signature):
            # The real gateway also echoes its string to sign; it holds no secret.
            return AuthError(
                400,
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation. "
                f"server string to sign is:{to_sign}",
            )
        return None

    def _check_freshness(self, request: HttpRequest) -> AuthError | None:
        date = parse_acs_date(request.header("x-acs-date") or "")
        if date is None:
            return AuthError(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            )
        if abs(self._clock() - date) > self.max_clock_skew_s:
            return AuthError(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        nonce = request.header("x-acs-signature-nonce")
        if not nonce:
            return AuthError(
                400,
                "MissingSignatureNonce",
                "The input parameter x-acs-signature-nonce that is mandatory for processing "
                "this request is not supplied.",
            )
        if not self._nonces.first_use(nonce):
            return AuthError(
                400, "SignatureNonceUsed", "Specified signature nonce was used already."
            )
        return None
