"""Dry-run flags: where a request says it wants one, and where one would go unread.

A flag is read on every object that leads to the InstanceId (the request, the message that
holds it, the envelope around them) and in a query string such an object carries. Anywhere
else in those objects it would be ignored and the caller's dry run lost, so `find_unread`
finds it, and the request is refused instead. So is a second InstanceId there: which of
the two the caller meant is unknown.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from cams_delete.logs import shown
from cams_delete.sources import MESSAGE_BODY_FIELDS, RepeatedKeys, json_or_text

_QUERY_FIELDS = ("queryString", "queryParameters")
# The fields that carry a message or a query string beside an object: read as objects.
_CARRIER_FIELDS = frozenset(MESSAGE_BODY_FIELDS + _QUERY_FIELDS)
# Text there, or in a field of these names, that is not read must not mention a dry run.
_TEXT_FIELDS = _CARRIER_FIELDS | {"data", "payload"}
# An EventBridge HTTP source's request headers (and a Kafka record's, as an object).
_HEADER_FIELDS = ("headers",)
# "_", "-", "." and every ASCII character str.split() takes for a space (tab, newline...).
_NAME_SEPARATORS = str.maketrans("", "", "_-." + "".join(filter(str.isspace, map(chr, range(128)))))
_DRY_RUN_NAMES = frozenset({"dryrun", "xdryrun"})
_INSTANCE_ID_NAMES = frozenset({"instanceid"})
# A list of them, or one of a list, once case and separators are set aside: InstanceIds,
# instance_id_list, InstanceId[], and the `.N` names of Alibaba Cloud's RPC APIs
# (InstanceId.2, InstanceIds.1).
_INSTANCE_ID_LIST_NAME = re.compile(r"instanceids?(?:list|set|array)?[0-9]*(?:\[[0-9]*\])?")
# Read on the request itself, more widely: a list of InstanceIds with more around its name
# (TargetInstanceIds, InstanceIdsToDelete), a list of instances (Instances, InstanceList),
# and CustSpaceId, which a direct customer's instance ID also is. One InstanceId with more
# around it (SourceInstanceId, InstanceIdType) may well be about something else.
_OTHER_INSTANCES_NAME = re.compile(
    r".*instanceid(?:s|list|set|array).*|instances(?:list|set|array)?|instance(?:list|set|array)"
    r"|custspaceids?"
)
# Other names for a dry run, as other tools spell one (Azure's what-if, Google's
# validateOnly, Ansible's check mode, a no-op), read as a request's own key that is not
# false (`"simulate": true`).
_DRY_RUN_SYNONYMS = frozenset(
    {"simulate", "simulated", "simulation", "whatif", "noop", "validateonly", "checkmode"}
    | {"preview", "planonly", "dry"}
)
# Names that say to go ahead, read as a request's own key that says no (see says_no):
# `"confirm": false`, `"execute": "no"` or `"wetRun": 0` asks for no deletion, as a dry run
# does; `"commit": "3f2a9c1"` is something else.
_GO_AHEAD_NAMES = frozenset({"execute", "apply", "commit", "confirm", "confirmed", "wetrun"})
# Each set's shortest and longest name: a key with fewer letters, or more, is none of them.
_NAME_LENGTHS = {
    names: (min(map(len, names)), max(map(len, names)))
    for names in (_DRY_RUN_NAMES, _INSTANCE_ID_NAMES, _DRY_RUN_SYNONYMS, _GO_AHEAD_NAMES)
}
# A value, or a key, is read as one word up to this length: a word for a mode is short.
_MAX_WORD = 64
# A key with characters beyond ASCII is read this far: NFKC can make one character eighteen.
_MAX_FLAG_KEY = 4096
# Dashes of every kind (Pd), "_" and its kin (Pc), invisible format characters (Cf).
_SEPARATOR_CATEGORIES = frozenset({"Pd", "Pc", "Cf"})
# Accents and other combining marks, set aside: "Dry\u0301Run" reads DryRun.
_MARK_CATEGORIES = frozenset({"Mn", "Me"})
# Hangul fillers (U+3164 and its half-width U+FFA0 read as U+1160): letters to Python,
# blank to the eye, so set aside as a zero-width space is: "Dry\u3164Run" reads DryRun.
_BLANK_LETTERS = frozenset({"\u115f", "\u1160"})
_WITHOUT_BLANK_LETTERS = dict.fromkeys(map(ord, _BLANK_LETTERS))
# Scripts whose letters include lookalikes of Latin ones (Cyrillic U+0443 for y, Greek
# U+03B9 for i, Armenian U+057D for u).
# Such a letter may stand for any Latin one in a name that would otherwise be refused.
_LOOKALIKE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC"})
_LOOKALIKE = "?"
# "dry run", "DryRun", "dry_run" in text, as a word or a capitalised part of one
# ("isDryRun=true", "XDryRun: 1"); "laundry run" is not one.
_DRY_RUN_WORDS = re.compile(r"(?:(?<![A-Za-z])d|D)(?i:ry[\W_]*run)")
_QUERY_TRUE = frozenset({"true", "1"})
_QUERY_FALSE = frozenset({"false", "0"})
# Name/value pairs, as Kafka record headers and many tag lists are written.
_PAIR_NAMES = ("key", "Key", "name", "Name")
_PAIR_VALUES = ("value", "Value")
# A key that reads unambiguously after a dot in a location; others are written ["as JSON"].
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MAX_KEY_SHOWN = 32
_MAX_LOCATION = 128


def dry_run_flags(container: Mapping[str, Any]) -> tuple[object, ...]:
    """The dry-run flags an object sets, under a key that reads as one (DryRun, dry_run,
    Dry-Run...: see is_dry_run_name), and in a query string it carries (an EventBridge HTTP
    source's `queryString`), where values are text."""
    flags = [value for key, value in container.items() if is_dry_run_name(key)]
    for query_field in _QUERY_FIELDS:
        query = container.get(query_field)
        if isinstance(query, Mapping):
            flags.extend(query_flag(value) for key, value in query.items() if is_dry_run_name(key))
    return tuple(flags)


def is_dry_run_name(key: object) -> bool:
    """Whether a key reads `dryrun` or `xdryrun` (the X-Dry-Run header) once case, `_`,
    `.`, dashes and spaces are set aside, full-width letters (typed by some input methods)
    read as ASCII."""
    return _reads_as(key, _DRY_RUN_NAMES)


def is_instance_id_name(key: object) -> bool:
    """Whether a key reads `InstanceId` as is_dry_run_name reads `DryRun` (instanceId,
    instance_id, INSTANCE-ID...)."""
    return _reads_as(key, _INSTANCE_ID_NAMES)


def _reads_as(key: object, names: frozenset[str]) -> bool:
    if not isinstance(key, str):
        return False
    shortest, longest = _NAME_LENGTHS[names]
    if key.isascii():  # nearly every key: no per-character normalisation needed
        return len(key) >= shortest and key.casefold().translate(_NAME_SEPARATORS) in names
    return _letters(key, limit=longest) in names


def names_instance_ids(key: object) -> bool:
    """Whether a key reads as a list of InstanceIds, or one of a list (InstanceIds,
    instance_id_list, InstanceId[], InstanceId.2), as is_instance_id_name reads InstanceId."""
    return _name_matches(key, _INSTANCE_ID_LIST_NAME)


def names_other_instances(key: object) -> bool:
    """Whether a key may name instances, read widely (TargetInstanceIds, Instances,
    InstanceList, CustSpaceId): beside a request's own InstanceId, more to delete unless
    it names the same one."""
    return _name_matches(key, _OTHER_INSTANCES_NAME)


def _name_matches(key: object, pattern: re.Pattern[str]) -> bool:
    if not isinstance(key, str) or len(key) > _MAX_WORD:
        return False
    letters = (
        key.casefold().translate(_NAME_SEPARATORS)
        if key.isascii()
        else _letters(key, limit=_MAX_WORD)
    )
    return letters is not None and pattern.fullmatch(letters) is not None


def is_dry_run_synonym(key: object) -> bool:
    """Whether a key reads as another name for a dry run (simulate, what_if, noOp,
    validateOnly, check-mode...), as is_dry_run_name reads DryRun."""
    return _reads_as(key, _DRY_RUN_SYNONYMS)


def is_go_ahead_name(key: object) -> bool:
    """Whether a key reads as a name for going ahead (confirm, execute, apply, wet_run...),
    as is_dry_run_name reads DryRun."""
    return _reads_as(key, _GO_AHEAD_NAMES)


def is_dry_run_header_name(name: object) -> bool:
    """Whether an HTTP header's name reads as a dry run (`Dry-Run`, `X-Dry-Run`,
    `Is-Dry-Run`) or another name for one (`Simulate`, `X-What-If`, `X-Validate-Only`)."""
    if not isinstance(name, str):
        return False
    if is_dry_run_name(name) or mentions_dry_run(name) or is_dry_run_synonym(name):
        return True
    return name[:2].casefold() == "x-" and is_dry_run_synonym(name[2:])


def is_dry_run_word(value: object) -> bool:
    """Whether a value is a short text that reads as DryRun (`"dry-run"`, `"DRY_RUN"`), as
    is_dry_run_name reads a key."""
    return isinstance(value, str) and len(value) <= _MAX_WORD and is_dry_run_name(value)


def mentions_dry_run(key: object) -> bool:
    """Whether a key has the letters of `dryrun` in a row, whatever else is around or
    between them (isDryRun, isdryrun, dry:run, DryRunMode, Dry·Run): a flag the function
    does not read under that name, but that a caller may well have meant as one. A word
    that only ends in "dry" (laundryRunId) is caught too: telling it from isdryrun takes a
    dictionary, and a refusal costs a rename where a missed dry run costs a deletion. So
    are up to three lookalike letters (DryRun with a Cyrillic U+0443 for its y, pasted)."""
    if not isinstance(key, str):
        return False
    if key.isascii():  # nearly every key: the whole of it, at C speed
        lowered = key.casefold()
        return "dry" in lowered and "dryrun" in "".join(filter(str.isalnum, lowered))
    letters = "".join(filter(_is_letter, _read(key[:_MAX_FLAG_KEY])))
    return _resembles_within(letters, "dryrun")


def mentions_dry_run_in_text(value: object) -> bool:
    """Whether a value is text that mentions a dry run as a word or a capitalised part of
    one ("dryRun=true", "isDryRun: 1"; "laundry run" is not one), URL-encoded ("dry%20run")
    or in full-width letters too."""
    if not isinstance(value, str):
        return False
    # As sent, then decoded once and twice (a query string inside a URL is encoded twice).
    texts = [value]
    while "%" in texts[-1] and len(texts) < 3:
        texts.append(unquote(texts[-1]))
    for text in texts:
        if _DRY_RUN_WORDS.search(text):
            return True
        if not text.isascii():
            readable = unicodedata.normalize("NFKC", text).translate(_WITHOUT_BLANK_LETTERS)
            if _DRY_RUN_WORDS.search(readable):
                return True
    return False


def may_be_instance_id_name(key: object) -> bool:
    """Whether a key reads `InstanceId` (see is_instance_id_name), or would if up to half
    of its letters were the Latin ones they look like (a Cyrillic U+0441 for its c): a
    key that may name an instance, read as the InstanceId or not."""
    if not isinstance(key, str):
        return False
    if key.isascii():
        return is_instance_id_name(key)
    letters = _letters(key, limit=len("instanceid"))
    return letters is not None and _resembles(letters, "instanceid")


def _is_letter(character: str) -> bool:
    return character == _LOOKALIKE or character.isalnum()


def _resembles(letters: str, name: str) -> bool:
    """Whether `letters` are `name`, each lookalike letter standing for the one in its place,
    with at most half of them lookalikes (a word of another script is not a Latin name)."""
    return (
        len(letters) == len(name)
        and letters.count(_LOOKALIKE) <= len(name) // 2
        and all(have in (want, _LOOKALIKE) for have, want in zip(letters, name, strict=True))
    )


def _resembles_within(letters: str, name: str) -> bool:
    return any(
        _resembles(letters[start : start + len(name)], name)
        for start in range(len(letters) - len(name) + 1)
    )


def _read(key: str) -> Iterator[str]:
    """A key's characters as they read, one at a time (a long key is never expanded whole):
    NFKD-decomposed with combining marks dropped, then NFKC-normalised and casefolded. A
    letter still not ASCII reads `?` when its script has lookalikes of Latin letters."""
    for character in key:
        if character.isascii():
            yield character.lower()
            continue
        for part in unicodedata.normalize("NFKD", character):
            if unicodedata.category(part) in _MARK_CATEGORIES:
                continue
            for folded in unicodedata.normalize("NFKC", part).casefold():
                if folded in _BLANK_LETTERS:
                    continue
                if folded.isascii() or not folded.isalpha():
                    yield folded
                elif unicodedata.name(folded, "").partition(" ")[0] in _LOOKALIKE_SCRIPTS:
                    yield _LOOKALIKE
                else:
                    yield folded


def _letters(key: str, *, limit: int) -> str | None:
    """A key's letters as they read (see _read): separators (any dash, space or invisible
    format character, `_`, `.`) dropped, one character at a time so that a long key costs
    no more than its first few letters: None once there are more than `limit`."""
    letters = ""
    for character in _read(key):
        if character.isspace() or unicodedata.category(character) in _SEPARATOR_CATEGORIES:
            continue
        letters += character.translate(_NAME_SEPARATORS)
        if len(letters) > limit:
            return None
    return letters


_NO_WORDS = frozenset({"false", "0", "no", "off", "n", ""})
# Text that answers yes or no, as a switch's value is written ("delete": "no"). Numbers and
# null are not read so: a count of 0 or an unset reason is no switch.
_YES_OR_NO_WORDS = frozenset({"true", "false", "yes", "no", "y", "n", "on", "off"})


def says_no(value: object) -> bool:
    """Whether a value reads as no: false, null, 0, or text such as "false", "no", "off"."""
    if value is None or value is False:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == 0
    return isinstance(value, str) and value.strip().lower() in _NO_WORDS


def is_yes_or_no(value: object) -> bool:
    """Whether a value is a switch's: a JSON boolean, or text such as "true", " no", "Y"."""
    if isinstance(value, bool):
        return True
    return (
        isinstance(value, str)
        and len(value) <= _MAX_WORD
        and value.strip().lower() in _YES_OR_NO_WORDS
    )


def query_flag(value: object) -> object:
    """A dry-run flag given as query-string text: True or False, or the value itself when it
    is neither (refused by the caller)."""
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _QUERY_TRUE:
        return True
    if text in _QUERY_FALSE:
        return False
    return value  # unreadable: refused with the rest


UnreadKind = Literal[
    "flag", "pair", "misnamed", "synonym", "switch", "text", "repeated", "instance"
]


@dataclass(frozen=True)
class Unread:
    """Something in an object's fields that the function would not read, though the caller
    may have meant it, and where it is: a dry-run flag that is not false where none counts
    (`flag`), the object itself a name/value pair naming one (`pair`), or a flag under a
    name that is not read as one (`misnamed`, e.g. isDryRun); another name for a dry run
    (`synonym`: the request's own `"simulate": true` or `"mode": "dry-run"`); a yes/no
    field of the request's own under a name nothing reads (`switch`: `"delete": false`,
    `"DryRum": true`), which may say not to delete; text
    that mentions a dry run but is not JSON (`text`); an object that gives a key twice, the
    value dropped perhaps a flag (`repeated`, with the keys); or another InstanceId
    (`instance`)."""

    location: str
    kind: UnreadKind
    repeated: tuple[str, ...] = ()


def find_unread(
    container: Mapping[str, Any],
    prefix: str,
    skip: tuple[str, ...] = (),
    *,
    request: bool = False,
    instance_id: object = None,
) -> Unread | None:
    """The first thing in `container`'s fields (but those in `skip`: the one that leads on
    to the InstanceId, or is it) that may ask for something nothing reads, or None.
    `prefix` is where `container` is, for the location.

    The container's own flags are read, and so are those of a query string it carries;
    the container as a name/value pair naming a flag is not.
    Nested deeper, a flag, or a `{"key": "DryRun", "value": "true"}` pair, is unread unless
    it says false; so is a key like a flag's that is not read as one, at any depth. A key
    that reads as InstanceId, or as a list of them (InstanceIds), is another instance
    among the container's own fields, or in a message or query string it carries. When
    the container is the `request` itself (it holds `instance_id`), so is one in a list
    in it (`Targets[0].InstanceId`), and a key of its own that names instances more
    widely (`Instances`, `TargetInstanceIds`, `CustSpaceId`), unless either names the
    same instance (`"CustSpaceId"` equal to the InstanceId); and its own fields are
    read for another name for a dry run too: a key like `simulate` that is not false, or
    a value that reads as DryRun (`"mode": "dry-run"`). Envelopes and records are not:
    their values name buses, topics and timers, and their keys are the producer's. The container's
    message fields (Kafka `value`...) are parsed and searched too. The walk keeps one
    iterator per level, not one entry per value: a wide event costs no more than its depth,
    and a deep one no recursion."""
    pair_name = _flag_pair_name(container)
    if pair_name is not None:  # the object is itself a pair: {"key": "DryRun", "value": "true"}
        return Unread(_location(prefix, [pair_name]), "pair")
    fields = [
        (key, json_or_text(value) if key in MESSAGE_BODY_FIELDS else value)
        for key, value in container.items()
        if key not in skip
    ]
    keys: list[str | int] = []  # the key that led to each level below the container's own
    levels: list[Iterator[tuple[Any, Any]]] = [iter(fields)]
    while levels:
        for key, value in levels[-1]:
            kind = _unread_kind(keys, key, value, request=request, instance_id=instance_id)
            if kind is not None:
                where = _location(prefix, [*keys, key])
                return Unread(where, kind, value.repeated if kind == "repeated" else ())
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


def _unread_kind(
    keys: list[str | int], key: str | int, value: object, *, request: bool, instance_id: object
) -> UnreadKind | None:
    """What `key: value`, reached through `keys`, holds that nothing would read, if anything."""
    if isinstance(value, RepeatedKeys):
        return "repeated"
    if may_be_instance_id_name(key) or names_instance_ids(key):
        if _where_a_request_is(keys):
            return "instance"
        if request and _in_a_list(keys) and value != instance_id:
            return "instance"
    if request and not keys and names_other_instances(key) and value != instance_id:
        return "instance"
    if isinstance(value, Mapping) and _flag_pair_name(value) is not None:
        return "flag"
    if is_dry_run_name(key):
        # The container's own flags are read, and so are its query string's.
        read = not keys or (len(keys) == 1 and keys[0] in _QUERY_FIELDS)
        return None if read or query_flag(value) is False else "flag"
    if mentions_dry_run(key) and query_flag(value) is not False:
        return "misnamed"
    if (request and not keys) or _in_a_query_string(keys):
        # The request's own fields, and a query string's (as the FC trigger reads its own).
        if is_dry_run_synonym(key) and query_flag(value) is not False:
            return "synonym"
        if is_go_ahead_name(key) and says_no(value):
            return "synonym"
        if keys and is_dry_run_word(value):  # ?mode=dry-run
            return "synonym"
    if request and not keys and is_yes_or_no(value) and not _names_a_read_switch(key):
        # A switch nothing reads ("delete": false, "approved": false, a misspelt
        # "DryRum": true) may well say not to delete: refused, as a misnamed flag is.
        return "switch"
    if _in_headers(keys) and is_dry_run_header_name(key) and query_flag(value) is not False:
        return "synonym"  # X-Simulate: true, as the FC trigger refuses it
    if request and len(keys) == 1 and isinstance(key, int) and is_dry_run_word(value):
        return "synonym"  # "args": ["--dry-run"]
    if not keys and key in _TEXT_FIELDS and isinstance(value, str):
        # Message text was parsed before the walk, and a query string is read only as an
        # object: text left as text cannot be read, so it must not mention a dry run.
        return "text" if mentions_dry_run_in_text(value) else None
    if request and not keys and key not in _PAIR_NAMES and is_dry_run_word(value):
        # `"mode": "dry-run"` beside the InstanceId; deeper, a name like any other (an
        # instance's Name "dry-run"), and a pair's name is read as a pair's.
        return "synonym"
    return None


def _names_a_read_switch(key: str | int) -> bool:
    """Whether a request's key is one whose yes or no the walk reads above: another name for
    a dry run or for going ahead, or one that mentions a dry run (all let be when false)."""
    return is_dry_run_synonym(key) or is_go_ahead_name(key) or mentions_dry_run(key)


def _in_a_query_string(keys: list[str | int]) -> bool:
    return len(keys) == 1 and keys[0] in _QUERY_FIELDS


def _in_headers(keys: list[str | int]) -> bool:
    return len(keys) == 1 and keys[0] in _HEADER_FIELDS


def _where_a_request_is(keys: list[str | int]) -> bool:
    """Whether an object reached through `keys` could hold a request: the container itself
    (the request, or an envelope or record on the way to it), or a message or query string
    beside it, or an element of one. Deeper, an InstanceId is about something else:
    RocketMQ's systemProperties.INSTANCE_ID names the queue's instance."""
    if not keys:
        return True
    first, *rest = keys
    return first in _CARRIER_FIELDS and all(isinstance(index, int) for index in rest)


def _in_a_list(keys: list[str | int]) -> bool:
    """Whether a value reached through `keys` is in a list: in the request, an InstanceId
    there is one of a list of instances (`Targets[0].InstanceId`); in an object, it may be
    about something else (`source.INSTANCE_ID`)."""
    return any(isinstance(key, int) for key in keys)


def _flag_pair_name(pair: Mapping[str, Any]) -> str | None:
    """The field naming a dry-run flag, when `pair` is a name/value pair whose name reads as
    one and whose value (any of them, if it has two) is not false; otherwise None. An object
    with a dry-run name but no value is no pair."""
    for name in _PAIR_NAMES:  # a loop, not a generator: every object on the way comes here
        if name in pair and (is_dry_run_name(pair[name]) or mentions_dry_run(pair[name])):
            values = [pair[field] for field in _PAIR_VALUES if field in pair]
            return name if any(query_flag(value) is not False for value in values) else None
    return None


def _location(prefix: str, keys: list[str | int]) -> str:
    """`data.options[0]["a.b"]`: where a value is, long keys shortened and, when still too
    long, the end kept (the last key names what was found)."""
    text = prefix.rstrip(".")
    for key in keys:
        if isinstance(key, int):
            text += f"[{key}]"
            continue
        name = shown(key, _MAX_KEY_SHOWN, "...")
        if _PLAIN_KEY.fullmatch(name):
            text += f".{name}" if text else name
        else:
            text += f"[{json.dumps(name)}]"
    return text if len(text) <= _MAX_LOCATION else "…" + text[-_MAX_LOCATION:]
