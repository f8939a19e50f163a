"""Is this InstanceId safe to send, and may this instance be deleted?"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cams_delete.results import DeletionResult, Outcome, rejected

MAX_INSTANCE_ID_LENGTH = 64
_ALLOWED = re.compile(r"[A-Za-z0-9._-]+")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._-]")
_LETTER_OR_DIGIT = re.compile(r"[A-Za-z0-9]")
# What serializers write for a missing value (JavaScript, Python, Go, JSON), and what an
# example, a form or a template leaves where the ID goes ("string" is an OpenAPI tool's
# example of any string), read without case, "-", "_" or ".": sent on, CAMS answers "no
# such instance" and the retirement looks done when nothing was.
_PLACEHOLDERS = frozenset(
    {"null", "none", "nil", "undefined", "nan", "true", "false"}
    | {"string", "instanceid", "yourinstanceid", "myinstanceid", "replaceme", "changeme"}
    | {"placeholder", "example", "todo", "tbd"}
)
_WITHOUT_SEPARATORS = str.maketrans("", "", "-_.")


def _is_placeholder(value: str) -> bool:
    """Whether an ID of allowed characters is a placeholder: null, None, REPLACE_ME,
    your-instance-id, string, TODO, or a run of x's (xxx)."""
    letters = value.casefold().translate(_WITHOUT_SEPARATORS)
    return letters in _PLACEHOLDERS or (len(letters) >= 3 and letters.strip("x") == "")


@dataclass(frozen=True)
class InputProblem:
    code: str
    message: str


def instance_id_problem(value: object) -> InputProblem | None:
    """Why `value` is not an acceptable InstanceId, or None when it is."""
    if not isinstance(value, str):
        kind = json_kind(value)
        return InputProblem(
            "InvalidParameter.InstanceId",
            f'InstanceId must be a JSON string such as "9383883", not {kind}',
        )
    if value == "":
        return InputProblem("InvalidParameter.InstanceId", "InstanceId is empty")
    if len(value) > MAX_INSTANCE_ID_LENGTH:
        return InputProblem(
            "InvalidParameter.InstanceId",
            f"InstanceId is {len(value)} characters long; the limit is {MAX_INSTANCE_ID_LENGTH}",
        )
    if "*" in value:
        return InputProblem(
            "InvalidParameter.InstanceId",
            f"InstanceId {value!r} contains '*': it looks like a masked sample from the "
            "documentation, where '*' hides digits. Send the real instance ID",
        )
    if _ALLOWED.fullmatch(value):
        if _is_placeholder(value):
            return InputProblem(
                "InvalidParameter.InstanceId",
                f"InstanceId {value!r} is a placeholder, what a serializer, an example or a "
                "template leaves for a missing value, not an instance's ID: check what fills "
                "in the InstanceId",
            )
        if _LETTER_OR_DIGIT.search(value):
            return None
        # ".", ".." or "-": a placeholder or a piece of a path, never an instance's name.
        return InputProblem(
            "InvalidParameter.InstanceId",
            f"InstanceId {value!r} has no letter or digit, so it cannot name an instance",
        )
    if any(char.isspace() or not char.isprintable() for char in value):
        return InputProblem(
            "InvalidParameter.InstanceId",
            "InstanceId contains whitespace or control characters",
        )
    offending = _NOT_ALLOWED.search(value)
    shown = repr(offending.group()) if offending else "a character"
    return InputProblem(
        "InvalidParameter.InstanceId",
        f"InstanceId contains {shown}; only ASCII letters, digits, '-', '_' and '.' are allowed",
    )


def check_instance_id(value: object) -> str | DeletionResult:
    """The InstanceId itself when valid, otherwise the rejection to report."""
    problem = instance_id_problem(value)
    if problem is None:
        assert isinstance(value, str)  # narrowed by instance_id_problem
        return value
    return rejected(value, problem.code, problem.message)


def protection_key(instance_id: str) -> str:
    """How an InstanceId is matched against PROTECTED_INSTANCE_IDS: without regard to case,
    and a number without its leading zeros. CAMS's ID format is undocumented, and
    protection must not hinge on how an ID was typed."""
    folded = instance_id.casefold()
    if folded.isdigit():  # validated IDs are ASCII: isdigit is 0-9 here
        return folded.lstrip("0") or "0"
    return folded


def policy_result(
    instance_id: str, *, protected: frozenset[str], dry_run: bool
) -> DeletionResult | None:
    """The answer that policy gives without calling CAMS, or None to go ahead and delete."""
    if protection_key(instance_id) in protected:
        return rejected(
            instance_id,
            "Forbidden.ProtectedInstance",
            f"Instance {instance_id!r} is listed in PROTECTED_INSTANCE_IDS and is never deleted",
            http_status=403,
        )
    if dry_run:
        return DeletionResult(
            instance_id=instance_id,
            outcome=Outcome.DRY_RUN,
            code="DryRunOperation",
            message="Dry run: the request is valid and would be sent; this request deleted nothing",
            http_status=200,
        )
    return None


def json_kind(value: object) -> str:
    """How a parsed JSON value is named in messages: 'a number', 'an array', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
