"""Configuration from environment variables, checked once and failing fast by name."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from cams_delete.logs import LEVELS
from cams_delete.validation import instance_id_problem, protection_key

DEFAULT_REGION = "ap-southeast-1"
# CAMS documents no "instance not found" code. This is the code the project's
# emulator answers with; it is an assumption until CAMS publishes its list.
DEFAULT_NOT_FOUND_CODES = ("InvalidInstanceId.NotFound",)
# Nor does it document the codes for an instance it cannot delete now but may later (busy,
# locked, changing state). These are the families Alibaba Cloud APIs use for that; each
# covers its refinements (InstanceStatus covers InstanceStatus.Locked).
DEFAULT_RETRY_LATER_CODES = (
    "InstanceStatus",
    "IncorrectInstanceStatus",
    "IncorrectStatus",
    "OperationConflict",
)
LOG_LEVELS = tuple(LEVELS)

_REGION = re.compile(r"[a-z]{2,}(-[a-z0-9]+)+")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:(?P<port>[0-9]{1,5}))?")
# One dot-separated label of a host name (RFC 1123).
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_CODE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# How to make HTTP_BEARER_TOKEN_SHA256's value: sha256sum alone prints "<hex>  -".
BEARER_HASH_COMMAND = """printf %s "$TOKEN" | sha256sum | cut -d' ' -f1"""
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})

VARIABLES = (
    "CAMS_REGION",
    "CAMS_ENDPOINT",
    "CAMS_PROTOCOL",
    "CAMS_NOT_FOUND_CODES",
    "CAMS_RETRY_LATER_CODES",
    "PROTECTED_INSTANCE_IDS",
    "DRY_RUN",
    "LOG_LEVEL",
    "MAX_ATTEMPTS",
    "MAX_CONCURRENCY",
    "MAX_BATCH_SIZE",
    "HTTP_BEARER_TOKEN_SHA256",
    "CAMS_CONNECT_TIMEOUT_MS",
    "CAMS_READ_TIMEOUT_MS",
    "DEADLINE_MARGIN_MS",
    "RETRY_BASE_DELAY_MS",
    "RETRY_MAX_DELAY_MS",
)


class ConfigError(ValueError):
    """A variable has a value the function cannot run with."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    region: str
    endpoint: str
    protocol: str
    not_found_codes: frozenset[str]
    retry_later_codes: frozenset[str]
    protected_instance_ids: frozenset[str]
    dry_run: bool
    log_level: str
    max_attempts: int
    max_concurrency: int
    max_batch_size: int
    bearer_token_sha256: str | None
    connect_timeout_s: float
    read_timeout_s: float
    deadline_margin_s: float
    retry_base_delay_s: float
    retry_max_delay_s: float


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and check every variable; the first bad one raises ConfigError naming it."""
    _refuse_misspelt_names(environ)

    def text(name: str, default: str = "") -> str:
        return environ.get(name, default).strip()

    region = text("CAMS_REGION", DEFAULT_REGION) or DEFAULT_REGION
    if not _REGION.fullmatch(region):
        raise ConfigError("CAMS_REGION", f"{region!r} is not a region ID such as 'ap-southeast-1'")

    endpoint = text("CAMS_ENDPOINT") or f"cams.{region}.aliyuncs.com"
    match = _HOST_PORT.fullmatch(endpoint)
    if not match:
        raise ConfigError(
            "CAMS_ENDPOINT",
            f"{endpoint!r} is not host[:port] (no scheme, no path), "
            f"e.g. cams.{region}.aliyuncs.com",
        )
    host = match["host"]
    if not host.startswith("[") and not all(map(_HOST_LABEL.fullmatch, host.split("."))):
        # Else requests refuses it on every call, which reads as CAMS failing.
        raise ConfigError(
            "CAMS_ENDPOINT",
            f"{host!r} is not a host name: each dot-separated label is 1-63 letters, digits "
            "or hyphens, not beginning or ending with a hyphen",
        )
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        raise ConfigError("CAMS_ENDPOINT", f"port {match['port']} is out of range")

    protocol = (text("CAMS_PROTOCOL", "https") or "https").lower()
    if protocol not in ("https", "http"):
        raise ConfigError("CAMS_PROTOCOL", f"{protocol!r} must be 'https' (or 'http' for loopback)")
    if protocol == "http" and not _is_loopback(match["host"]):
        raise ConfigError(
            "CAMS_PROTOCOL",
            "'http' is allowed only for a loopback CAMS_ENDPOINT; role credentials never travel "
            "in clear text",
        )

    # Empty means unset, as for CAMS_REGION: no code at all would make every redelivered
    # delete of a gone instance a permanent failure, and a busy instance's refusal end the
    # event.
    not_found_codes = _codes(environ, "CAMS_NOT_FOUND_CODES", DEFAULT_NOT_FOUND_CODES)
    retry_later_codes = _codes(environ, "CAMS_RETRY_LATER_CODES", DEFAULT_RETRY_LATER_CODES)
    for code in retry_later_codes:
        if code in not_found_codes:
            raise ConfigError(
                "CAMS_RETRY_LATER_CODES",
                f"{code!r} is in CAMS_NOT_FOUND_CODES too: it cannot mean both gone and busy",
            )

    protected = _csv(text("PROTECTED_INSTANCE_IDS"))
    for instance_id in protected:
        problem = instance_id_problem(instance_id)
        if problem is not None:
            raise ConfigError("PROTECTED_INSTANCE_IDS", problem.message)

    log_level = (text("LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError("LOG_LEVEL", f"{log_level!r} is not one of {', '.join(LOG_LEVELS)}")

    token_hash = text("HTTP_BEARER_TOKEN_SHA256").lower() or None
    if token_hash is not None and not _SHA256_HEX.fullmatch(token_hash):
        raise ConfigError(
            "HTTP_BEARER_TOKEN_SHA256",
            f"must be the 64-character hex SHA-256 of the token, as `{BEARER_HASH_COMMAND}` "
            "prints it",
        )

    retry_base_ms = _integer(environ, "RETRY_BASE_DELAY_MS", 100, 1, 60_000)
    retry_max_ms = _integer(environ, "RETRY_MAX_DELAY_MS", 2_000, 1, 300_000)
    if retry_max_ms < retry_base_ms:
        raise ConfigError("RETRY_MAX_DELAY_MS", "must be at least RETRY_BASE_DELAY_MS")

    return Settings(
        region=region,
        endpoint=endpoint,
        protocol=protocol,
        not_found_codes=frozenset(not_found_codes),
        retry_later_codes=frozenset(retry_later_codes),
        protected_instance_ids=frozenset(map(protection_key, protected)),
        dry_run=_boolean(environ, "DRY_RUN"),
        log_level=log_level,
        max_attempts=_integer(environ, "MAX_ATTEMPTS", 4, 1, 10),
        max_concurrency=_integer(environ, "MAX_CONCURRENCY", 8, 1, 64),
        max_batch_size=_integer(environ, "MAX_BATCH_SIZE", 100, 1, 10_000),
        bearer_token_sha256=token_hash,
        connect_timeout_s=_integer(environ, "CAMS_CONNECT_TIMEOUT_MS", 5_000, 1, 60_000) / 1000,
        read_timeout_s=_integer(environ, "CAMS_READ_TIMEOUT_MS", 10_000, 1, 300_000) / 1000,
        deadline_margin_s=_integer(environ, "DEADLINE_MARGIN_MS", 1_000, 100, 60_000) / 1000,
        retry_base_delay_s=retry_base_ms / 1000,
        retry_max_delay_s=retry_max_ms / 1000,
    )


_cache_lock = threading.Lock()
_cached: tuple[tuple[object, ...], Settings] | None = None


def current_settings() -> Settings:
    """Settings for the environment as it is now, parsed again only when it changed."""
    global _cached  # noqa: PLW0603 - a one-entry cache; rebinding is atomic under the lock
    snapshot = _environment_snapshot()
    cached = _cached
    if cached is not None and cached[0] == snapshot:
        return cached[1]
    settings = load_settings(os.environ)
    with _cache_lock:
        _cached = (snapshot, settings)
    return settings


# The names as os.environ stores them (bytes on POSIX).
_STORED_NAMES = tuple(os.environ.encodekey(name) for name in VARIABLES)


def _environment_snapshot() -> tuple[object, ...]:
    """The watched variables' raw values, and every variable's name (a misspelt DRYRUN
    appearing must be refused, as load_settings does): compared to tell whether the
    environment changed, never parsed (load_settings reads through os.environ).

    Taken from the dict behind os.environ, which CPython keeps in step with every change
    made through os.environ: 16 lookups there cost under a microsecond, where
    os.environ.get costs one each (most of these names are unset, and a miss raises and
    catches KeyError inside the Mapping methods). Anything else falls back to os.environ.
    """
    store = getattr(os.environ, "_data", None)
    if isinstance(store, dict):
        return (*map(store.get, _STORED_NAMES), frozenset(store))
    return (*map(os.environ.get, VARIABLES), frozenset(os.environ))


def _spelling(name: str) -> str:
    """A variable's name as a misspelling of it reads: letters and digits, upper case."""
    return "".join(filter(str.isalnum, name)).upper()


# DRYRUN, dry_run or PROTECTED_INSTANCE_ID for the real names: (misspelt) -> real.
_MISSPELLINGS = {
    spelling: name
    for name in VARIABLES
    for spelling in {_spelling(name), _spelling(name).removesuffix("S")}
}


# Other names for the settings that stop a deletion or guard the trigger: ignored, each
# would delete what its author meant to keep. (word, the setting, where the word counts):
# "start": the name starts with it and goes on (PROTECT_INSTANCE_IDS, DRY_RUN_MODE), after
# a leading IS_, ENABLE_ or USE_ too (IS_DRY_RUN), or the name also says it is this
# function's (CAMS_DRY_RUN, DELETE_DRY_RUN); "own": only in a name that says so
# (EXCLUDED_INSTANCE_IDS, where SKIP_BUILD is a shell's); "anywhere" (DO_NOT_DELETE,
# HTTP_BEARER_TOKEN). Other tools' names (PIP_DRY_RUN, GITHUB_REF_PROTECTED, which CI
# runners set) are let be.
_GUARD_WORDS = (
    ("DRYRUN", "DRY_RUN", "start"),
    ("PROTECT", "PROTECTED_INSTANCE_IDS", "start"),
    ("EXCLUDE", "PROTECTED_INSTANCE_IDS", "own"),
    ("KEEP", "PROTECTED_INSTANCE_IDS", "own"),
    ("PRESERVE", "PROTECTED_INSTANCE_IDS", "own"),
    ("SKIP", "PROTECTED_INSTANCE_IDS", "own"),
    ("DONOTDELETE", "PROTECTED_INSTANCE_IDS", "anywhere"),
    ("NEVERDELETE", "PROTECTED_INSTANCE_IDS", "anywhere"),
    ("BEARER", "HTTP_BEARER_TOKEN_SHA256", "anywhere"),
)
_OWN_WORDS = ("CAMS", "INSTANCE", "DELETE")
_FLAG_PREFIXES = ("IS", "ENABLE", "USE")


def _refuse_misspelt_names(environ: Mapping[str, str]) -> None:
    """A variable that is one of the function's in another case or spelling is refused:
    it would be ignored, and DRYRUN=true would delete what its author meant to check. So
    is another name for DRY_RUN, PROTECTED_INSTANCE_IDS or HTTP_BEARER_TOKEN_SHA256 (see
    _GUARD_WORDS)."""
    for name in environ:
        spelling = _spelling(name)
        real = _MISSPELLINGS.get(spelling) or next(
            (real for word, real, where in _GUARD_WORDS if _names_guard(spelling, word, where)),
            None,
        )
        if real is not None and name != real:
            raise ConfigError(
                name,
                f"not a setting of this function, so it would be ignored; the setting is "
                f"{real}: rename it",
            )


def _names_guard(spelling: str, word: str, where: str) -> bool:
    if word not in spelling:
        return False
    if where == "anywhere" or any(own in spelling for own in _OWN_WORDS):
        return True
    if where == "own":
        return False
    if spelling.startswith(word):
        return spelling != word  # PROTECT alone says too little
    return any(spelling.removeprefix(prefix).startswith(word) for prefix in _FLAG_PREFIXES)


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _codes(environ: Mapping[str, str], name: str, default: tuple[str, ...]) -> list[str]:
    """A comma-separated list of CAMS codes; empty means the default."""
    codes = _csv(environ.get(name, "")) or list(default)
    for code in codes:
        if not _CODE.fullmatch(code):
            raise ConfigError(name, f"{code!r} is not an error code")
    return codes


def _boolean(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(name, f"{value!r} is not a boolean: use 'true' or 'false'")


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(name, f"{value} is outside {low}..{high}")
    return value


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    import ipaddress  # noqa: PLC0415 - only CAMS_PROTOCOL=http (local runs) asks

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
