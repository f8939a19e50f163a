"""`python -m bench`'s options: where a run's JSON goes unless told."""

from __future__ import annotations

from pathlib import Path

from bench.__main__ import RESULTS, parse_args


def test_a_full_run_writes_latest_json() -> None:
    """GIVEN no --only (every part, in any order) WHEN the options are parsed
    THEN the results go to bench/results/latest.json."""
    assert parse_args([]).output == RESULTS / "latest.json"
    assert parse_args(["--only", "batch,warm,cold,profile"]).output == RESULTS / "latest.json"


def test_a_partial_run_leaves_the_full_runs_json_alone() -> None:
    """GIVEN --only some parts WHEN the options are parsed
    THEN the results go to a file named by those parts, in the bench's order."""
    assert parse_args(["--only", "warm"]).output == RESULTS / "latest-warm.json"
    assert parse_args(["--only", "batch, cold"]).output == RESULTS / "latest-cold-batch.json"


def test_an_output_given_is_kept(tmp_path: Path) -> None:
    """GIVEN --output WHEN the options are parsed with --only THEN that file is used."""
    target = tmp_path / "mine.json"
    assert parse_args(["--only", "warm", "--output", str(target)]).output == target
