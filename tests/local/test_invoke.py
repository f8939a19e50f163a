"""`python -m cams_local invoke`: one event, the result as the only thing on stdout."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib

import pytest

import index
from cams_delete.config import load_settings
from cams_local import invoke
from cams_local.runner import LogTap
from tests.conftest import EVENTS, assert_valid_result
from tests.local.conftest import run_cli


def test_invoke_prints_the_result_as_json_on_stdout_only():
    """GIVEN a sample event and no emulator running
    WHEN `invoke --event-file` runs as a command
    THEN it starts its own emulator, and stdout is exactly the result's JSON (logs on stderr)."""
    run = run_cli("invoke", "--event-file", "events/eventbridge-kafka-batch.json")

    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert_valid_result(document)
    assert [item["Outcome"] for item in document["Results"]] == ["deleted"] * 3
    assert '"event":"deletion"' in run.stderr


def test_env_pairs_configure_the_function():
    """GIVEN --env DRY_RUN=true
    WHEN an event is invoked
    THEN the function runs with it: a dry run."""
    run = run_cli(
        "invoke", "--event-file", "events/direct.json", "--env", "DRY_RUN=true", "--quiet"
    )

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["Outcome"] == "dry_run"
    assert run.stderr == ""


def test_function_error_is_reported_as_fc_does(tmp_path: pathlib.Path):
    """GIVEN a configuration the function refuses
    WHEN an event is invoked
    THEN stdout holds FC's error body, exit status 1, and no frame of the local runner."""
    out, err = io.StringIO(), io.StringIO()

    status = invoke.invoke(
        EVENTS / "direct.json", overrides={"MAX_ATTEMPTS": "many"}, out=out, err=err
    )

    assert status == 1
    error = json.loads(out.getvalue())
    assert error["errorType"] == "InvalidConfigurationError"
    assert "MAX_ATTEMPTS" in error["errorMessage"]
    assert error["stackTrace"]
    assert not any("cams_local" in frame for frame in error["stackTrace"])


def test_unreadable_event_file_is_a_usage_error(tmp_path: pathlib.Path):
    """GIVEN a path that does not exist
    WHEN invoke runs
    THEN exit status 2 and a message naming the file; stdout stays empty."""
    out, err = io.StringIO(), io.StringIO()

    status = invoke.invoke(tmp_path / "missing.json", overrides={}, out=out, err=err)

    assert status == 2
    assert "missing.json" in err.getvalue()
    assert out.getvalue() == ""


def big_batch(tmp_path: pathlib.Path, *, own_dry_runs: int = 0) -> pathlib.Path:
    items: list[dict[str, object]] = [{"InstanceId": f"cams-big{n:02d}"} for n in range(12)]
    items += [
        {"InstanceId": "cams-big00"},
        {"InstanceId": "masked****"},
        {"InstanceId": "cams-7f3a9c12"},
    ]
    # Requests that ask for a dry run themselves: each is its own dry_run line.
    items += [{"InstanceId": "cams-big01", "DryRun": True}] * own_dry_runs
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(items))
    return path


def test_progress_line_counts_every_item_of_a_large_batch(tmp_path: pathlib.Path):
    """GIVEN a batch of 15 items: 12 distinct instances, a duplicate, a masked ID, a protected ID
    WHEN it is invoked with the progress display on
    THEN stderr shows a progress line redrawn with \\r, ending at 14/14 settled (one per
    distinct instance plus one per refused item), and stdout is still only the JSON."""
    out, err = io.StringIO(), io.StringIO()

    status = invoke.invoke(
        big_batch(tmp_path), overrides={}, progress="always", quiet=True, out=out, err=err
    )

    assert status == 0
    assert json.loads(out.getvalue())["Total"] == 15
    assert "\r" in err.getvalue()
    assert err.getvalue().rstrip().endswith("14/14 settled")


def test_no_progress_for_small_batches(tmp_path: pathlib.Path):
    """GIVEN a batch of 3
    WHEN it is invoked with the progress display on
    THEN no progress line is drawn (it is for more than a handful)."""
    out, err = io.StringIO(), io.StringIO()

    invoke.invoke(
        EVENTS / "eventbridge-kafka-batch.json",
        overrides={},
        progress="always",
        quiet=True,
        out=out,
        err=err,
    )

    assert "settled" not in err.getvalue()


@pytest.mark.parametrize(
    "dry_runs", [("false", 0), ("true", 0), ("false", 2), ("true", 2)], ids=str
)
def test_expected_settlements_match_the_functions_deletion_lines(
    tmp_path: pathlib.Path, emulator, context, dry_runs: tuple[str, int], monkeypatch
):
    """GIVEN a mixed batch and the function's settings (a protected ID; dry run or not),
    with or without requests that ask for their own dry run
    WHEN the batch runs through the handler
    THEN it writes exactly as many `deletion` lines as the progress display expects: one per
    distinct instance, one per refused item and one per request's own dry run (14 + those);
    under DRY_RUN every item is decided without CAMS, its duplicate too (15 + those)."""
    dry_run, own_dry_runs = dry_runs
    monkeypatch.setenv("PROTECTED_INSTANCE_IDS", "cams-7f3a9c12")
    monkeypatch.setenv("DRY_RUN", dry_run)
    event = big_batch(tmp_path, own_dry_runs=own_dry_runs).read_bytes()
    expected = invoke.settlements_expected(event, load_settings(os.environ))
    tap = LogTap()

    with contextlib.redirect_stdout(tap):
        index.handler(event, context)

    assert expected == sum('"event":"deletion"' in line for line in tap.lines)
    assert expected == (15 if dry_run == "true" else 14) + own_dry_runs  # counted by hand
