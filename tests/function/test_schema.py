"""The shipped JSON Schema is strict enough to catch a wrong document."""

from __future__ import annotations

import jsonschema
import pytest

from tests.conftest import assert_valid_result

GOOD = {
    "Success": True,
    "Code": "OK",
    "Message": None,
    "RequestId": "A1B2",
    "AccessDeniedDetail": None,
    "InstanceId": "i-1",
    "Outcome": "deleted",
    "Retryable": False,
    "Attempts": 1,
}


def test_a_good_result_validates():
    assert_valid_result(GOOD)
    assert_valid_result(
        {
            "Success": True,
            "Code": "OK",
            "Message": None,
            "Total": 1,
            "Counts": {
                "deleted": 1,
                "already_deleted": 0,
                "dry_run": 0,
                "rejected": 0,
                "failed": 0,
            },
            "Results": [GOOD],
        }
    )


@pytest.mark.parametrize(
    "change",
    [
        {"Success": False},  # deleted but not successful
        {"Outcome": "gone"},
        {"Code": ""},
        {"Attempts": 0},  # a deletion took at least one call
        {"AccessDeniedDetail": "{}"},  # must be parsed, not a string
        {"Outcome": "rejected", "Success": False, "Attempts": 2},
        {"Extra": 1},
    ],
)
def test_wrong_results_fail(change):
    with pytest.raises(jsonschema.ValidationError):
        assert_valid_result(GOOD | change)


def test_a_missing_field_fails():
    document = dict(GOOD)
    del document["Retryable"]
    with pytest.raises(jsonschema.ValidationError):
        assert_valid_result(document)
