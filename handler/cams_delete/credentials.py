"""The function role's temporary keys, taken fresh for every invocation (they rotate)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, repr=False)
class RoleCredentials:
    access_key_id: str
    access_key_secret: str
    security_token: str | None

    def __repr__(self) -> str:
        # Never print the secret or the token, not even by accident in a traceback.
        return f"RoleCredentials(access_key_id={mask(self.access_key_id)!r}, secret=***, token=***)"

    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    @functools.cached_property
    def _secrets(self) -> tuple[str, ...]:
        # Built once: the same keys serve many invocations (see _role).
        return tuple(value for value in (self.access_key_secret, self.security_token) if value)


class MissingCredentialsError(Exception):
    """Neither the context nor the environment holds role keys."""


def from_context(context: Any) -> RoleCredentials | None:
    """python3.10 and older: `context.credentials`."""
    credentials = getattr(context, "credentials", None)
    if credentials is None:
        return None
    key_id = getattr(credentials, "access_key_id", None)
    secret = getattr(credentials, "access_key_secret", None)
    token = getattr(credentials, "security_token", None)
    if not (isinstance(key_id, str) and key_id and isinstance(secret, str) and secret):
        return None
    return _role(key_id, secret, token if isinstance(token, str) and token else None)


def from_environment(environ: Mapping[str, str]) -> RoleCredentials | None:
    """python3.12: FC puts the role's keys in ALIBABA_CLOUD_* variables."""
    key_id = environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
    secret = environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    token = environ.get("ALIBABA_CLOUD_SECURITY_TOKEN", "")
    if not (key_id and secret):
        return None
    return _role(key_id, secret, token or None)


# The role's keys last seen: they stay the same for many invocations (until they rotate).
_last_role: RoleCredentials | None = None


def _role(key_id: str, secret: str, token: str | None) -> RoleCredentials:
    global _last_role  # noqa: PLW0603 - a one-entry cache; rebinding is atomic
    last = _last_role
    if (
        last is not None
        and last.access_key_id == key_id
        and last.access_key_secret == secret
        and last.security_token == token
    ):
        return last
    _last_role = role = RoleCredentials(key_id, secret, token)
    return role


def find(context: Any) -> RoleCredentials | None:
    """Context first, then the environment as it is now (read per call, never at import)."""
    return from_context(context) or from_environment(os.environ)


def required(found: RoleCredentials | None) -> RoleCredentials:
    """The keys `find` found; their absence matters only when there is something to delete."""
    if found is None:
        raise MissingCredentialsError(
            "No role credentials: the context has none and ALIBABA_CLOUD_ACCESS_KEY_ID / "
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set. Give the function a role"
        )
    return found


def resolve(context: Any) -> RoleCredentials:
    return required(find(context))


def mask(access_key_id: str) -> str:
    """Enough of a key ID to tell keys apart in logs, not enough to use it."""
    return f"{access_key_id[:4]}***{access_key_id[-3:]}" if len(access_key_id) > 10 else "***"
