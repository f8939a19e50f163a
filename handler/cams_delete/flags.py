"""Dry-run flags: where a request says it wants one, and where a flag would be missed.

A flag counts on every object on the way to the InstanceId and in a query string one of
them carries. Anywhere else it would be ignored, and the caller's dry run lost, so it is
found and refused instead (off_the_way).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cams_delete.sources import MESSAGE_BODY_FIELDS, RepeatedKeys, json_or_text

QUERY_FIELDS = ("queryString", "queryParameters")
# "_", "-", "." and every ASCII character str.split() takes for a space (tab, newline...).
_NAME_SEPARATORS = str.maketrans("", "", "_-." + "".join(filter(str.isspace, map(chr, range(128)))))
_DRY_RUN_NAMES = frozenset({"dryrun", "xdryrun"})
_MAX_NAME_LETTERS = max(map(len, _DRY_RUN_NAMES))
# Dashes of every kind (Pd), "_" and its kin (Pc), invisible format characters (Cf).
_SEPARATOR_CATEGORIES = frozenset({"Pd", "Pc", "Cf"})
# "dry run", "DryRun", "dry_run"... as words in text ("laundry run" is not one).
_DRY_RUN_WORDS = re.compile(r"(?<![a-z0-9])dry[\W_]*run", re.IGNORECASE)
_QUERY_TRUE = frozenset({"true", "1"})
_QUERY_FALSE = frozenset({"false", "0"})
# A key that reads unambiguously after a dot in a location; others are written ["as JSON"].
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MAX_KEY_SHOWN = 32
_MAX_LOCATION = 128


def dry_run_flags(container: Mapping[str, Any]) -> tuple[object, ...]:
    """The dry-run flags an object sets, under a key that reads as one (DryRun, dry_run,
    Dry-Run...: see is_dry_run_name), and in a query string it carries (an EventBridge HTTP
    source's `queryString`), where values are text."""
    flags = [value for key, value in container.items() if is_dry_run_name(key)]
    for query_field in QUERY_FIELDS:
        query = container.get(query_field)
        if isinstance(query, Mapping):
            flags.extend(query_flag(value) for key, value in query.items() if is_dry_run_name(key))
    return tuple(flags)


def is_dry_run_name(key: object) -> bool:
    """Whether a key reads `dryrun` or `xdryrun` (the X-Dry-Run header) once case, `_`,
    `.`, dashes and spaces are set aside, full-width letters (typed by some input methods)
    read as ASCII."""
    if not isinstance(key, str):
        return False
    if key.isascii():  # almost every key: a few calls in C
        return len(key) >= 6 and key.casefold().translate(_NAME_SEPARATORS) in _DRY_RUN_NAMES
    return _letters(key) in _DRY_RUN_NAMES


def _letters(key: str) -> str | None:
    """A key's letters as they read: separators (any dash, space or invisible format
    character, `_`, `.`) dropped, the rest NFKC-normalised and casefolded, one character at
    a time so that a long key costs no more than its first few letters: None once there are
    more than a dry-run flag's name has."""
    letters = ""
    for character in key:
        if character.isspace() or unicodedata.category(character) in _SEPARATOR_CATEGORIES:
            continue
        letters += unicodedata.normalize("NFKC", character).casefold().translate(_NAME_SEPARATORS)
        if len(letters) > _MAX_NAME_LETTERS:
            return None
    return letters


def query_flag(value: object) -> object:
    """A dry-run flag given as query-string text: True or False, or the value itself when it
    is neither (refused by the caller)."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _QUERY_TRUE:
        return True
    if text in _QUERY_FALSE:
        return False
    return value  # unreadable: refused with the rest


@dataclass(frozen=True)
class OffTheWay:
    """Something in an object's other fields that the function would not read: a dry-run
    flag that is not false, or an object that repeats a key (the value dropped may hold
    one). Either is refused."""

    location: str
    repeated: tuple[str, ...] = ()


def off_the_way(
    container: Mapping[str, Any], prefix: str, skip: tuple[str, ...] = ()
) -> OffTheWay | None:
    """What `container`'s fields (but `skip`, the way on) hold off the way to the InstanceId
    that would be missed, or None. `prefix` is where `container` is, for the location.

    The container's own flags are read, and so are those of a query string it carries; a
    flag nested deeper is not, so a caller's dry run would be lost: it is refused. A false
    one changes nothing and is let be. So is a `{"key": "DryRun", "value": "true"}` pair,
    as Kafka headers come. Message text beside the way (Kafka `value`...) is looked into
    too, and refused when it mentions a dry run but cannot be parsed. The walk keeps one
    iterator per level, not one entry per value: a wide event costs no more than its
    depth, and a deep one no recursion."""
    fields = [
        (key, json_or_text(value) if key in MESSAGE_BODY_FIELDS else value)
        for key, value in container.items()
        if key not in skip
    ]
    keys: list[Any] = []  # the key that led to each level below the container's own
    levels: list[Iterator[tuple[Any, Any]]] = [iter(fields)]
    while levels:
        for key, value in levels[-1]:
            if _asks_unread(keys, key, value):
                return OffTheWay(_location(prefix, [*keys, key]))
            if isinstance(value, RepeatedKeys):
                return OffTheWay(_location(prefix, [*keys, key]), value.repeated)
            if isinstance(value, Mapping):
                keys.append(key)
                levels.append(iter(value.items()))
                break
            if isinstance(value, list):
                keys.append(key)
                levels.append(enumerate(value))
                break
        else:
            levels.pop()
            if keys:
                keys.pop()
    return None


def _asks_unread(keys: list[Any], key: Any, value: Any) -> bool:
    """Whether `key: value`, reached through `keys`, asks for a dry run nothing reads."""
    if not keys:
        # The container's own flags are read. Its message text was parsed before the walk:
        # text still left as text cannot be read, so it must not mention a dry run.
        return key in MESSAGE_BODY_FIELDS and isinstance(value, str) and _mentions_dry_run(value)
    if isinstance(value, Mapping) and _is_flag_pair(value):
        return True
    if len(keys) == 1 and keys[0] in QUERY_FIELDS:
        return False  # a query string's own flags are read
    return is_dry_run_name(key) and query_flag(value) is not False


def _is_flag_pair(pair: Mapping[str, Any]) -> bool:
    return is_dry_run_name(pair.get("key")) and query_flag(pair.get("value")) is not False


def _mentions_dry_run(text: str) -> bool:
    # For message text that did not parse (a byte order mark, a number too long...).
    return _DRY_RUN_WORDS.search(text) is not None


def _location(prefix: str, keys: list[Any]) -> str:
    """`data.options[0]["a.b"]`: where a value is, long keys shortened and, when still too
    long, the end kept (the last key names what was found)."""
    text = prefix.rstrip(".")
    for key in keys:
        if isinstance(key, int):
            text += f"[{key}]"
            continue
        shown = key if len(key) <= _MAX_KEY_SHOWN else key[: _MAX_KEY_SHOWN - 3] + "..."
        if _PLAIN_KEY.fullmatch(shown):
            text += f".{shown}" if text else shown
        else:
            text += f"[{json.dumps(shown)}]"
    return text if len(text) <= _MAX_LOCATION else "…" + text[-_MAX_LOCATION:]
