"""structlog, one JSON object per line on stdout, with redaction as a processor."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(r"secret|token|password|authorization|signature|credential", re.I)
# Shorter strings would scrub ordinary words out of log lines.
_MIN_SECRET_LENGTH = 6
# Loggers of the SDK and its transport: never on stdout, which is the function's log.
SDK_LOGGERS = ("alibabacloud-tea", "darabonba-core", "credentials", "apscheduler", "urllib3")

_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "cams_delete_secrets", default=()
)


def register_secrets(*values: str | None) -> None:
    """Values that must never appear in a log line, for the current invocation."""
    current = _secrets.get()
    added = tuple(v for v in values if v and len(v) >= _MIN_SECRET_LENGTH and v not in current)
    if added:
        _secrets.set(current + added)


def clear_secrets() -> None:
    _secrets.set(())


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Processor: mask values under sensitive keys, and scrub known secrets anywhere."""
    secrets = _secrets.get()
    return {key: _redact(key, value, secrets) for key, value in event_dict.items()}


def _redact(key: object, value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(key, str) and _SENSITIVE_KEY.search(key) and value is not None:
        return REDACTED
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _redact(k, v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(None, item, secrets) for item in value]
    return value


class StdoutLogger:
    """Writes each line to whatever sys.stdout is now (FC's log, or a test's capture)."""

    def msg(self, message: str) -> None:
        stream = sys.stdout
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warning = warn = error = critical = exception = msg


def leading_keys(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Processor: time, level and event first, so a line reads left to right."""
    head = {
        key: event_dict.pop(key) for key in ("timestamp", "level", "event") if key in event_dict
    }
    return head | dict(event_dict)


def _render(event_dict: Any, **_: Any) -> str:
    return json.dumps(event_dict, separators=(",", ":"), ensure_ascii=False, default=str)


_processors: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    structlog.processors.format_exc_info,
    redact_secrets,
    leading_keys,
    structlog.processors.JSONRenderer(serializer=_render),
]
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_level: str | None = None
_logger: Any = None


def configure(level: str = "INFO") -> None:
    """Build the logger once per level; later calls with the same level do nothing."""
    global _level, _logger  # noqa: PLW0603 - configured once, read everywhere
    if _level == level and _logger is not None:
        return
    _logger = structlog.wrap_logger(
        StdoutLogger(),
        processors=_processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
    )
    _level = level


def get() -> Any:
    if _logger is None:
        configure()
    return _logger


def silence_sdk_loggers(names: Iterable[str]) -> None:
    for name in names:
        sdk_logger = logging.getLogger(name)
        sdk_logger.handlers[:] = [logging.NullHandler()]
        sdk_logger.propagate = False


def bind_invocation(**fields: Any) -> None:
    """Start an invocation's context afresh (warm instances are reused)."""
    structlog.contextvars.clear_contextvars()
    clear_secrets()
    structlog.contextvars.bind_contextvars(**fields)
