"""`make demo`: the whole story, checked against events/expectations.json."""

from __future__ import annotations

import dataclasses
import io
import re

from cams_local.demo import run_demo
from cams_local.events import Expectation, Manifest
from tests.local.conftest import run_cli


def test_demo_command_runs_every_sample_and_exits_zero(manifest: Manifest):
    """GIVEN a clean checkout (no emulator running, no configuration)
    WHEN `python -m cams_local demo` runs
    THEN it prints the state before, a table per sample, the state after, and ends with
    every sample as documented; exit status 0."""
    run = run_cli("demo")

    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "CAMS instances before (14):" in out
    assert out.count("✓ as documented") == len(manifest.runs) == 16
    assert "✗" not in out
    assert re.search(r"InstanceId +Outcome +Code +Attempts +Retryable +Message", out)
    for outcome in ("deleted", "already_deleted", "dry_run", "rejected", "failed"):
        assert f" {outcome} " in out, outcome
    assert "HTTP 405 (Allow: DELETE)" in out
    assert "function error: RetryableDeletionError" in out
    assert "CAMS instances after (2):\n  cams-7f3a9c11 cams-7f3a9c12" in out
    assert out.rstrip().endswith("demo: 16 samples, all as documented")
    assert '"event":' not in out, "the function's log lines are condensed, not dumped"


def test_demo_exits_non_zero_and_says_what_differed(manifest: Manifest):
    """GIVEN a manifest whose first run expects the wrong outcome
    WHEN the demo runs it
    THEN exit status 1, and the last lines name the sample and the difference."""
    first = manifest.runs[0]
    wrong = dataclasses.replace(first, expect=Expectation(outcomes=["already_deleted"]))
    out = io.StringIO()

    status = run_demo(out, manifest=Manifest(manifest.environment, [wrong]), width=100)

    assert status == 1
    text = out.getvalue()
    assert "✗ Outcome: expected ['already_deleted'], got ['deleted']" in text
    assert "demo: 1 difference(s) from events/expectations.json:" in text
    assert f"  - {first.event} (run 1): Outcome" in text


def test_demo_under_the_python312_context(manifest: Manifest):
    """GIVEN the python3.12 runtime's context (no credentials on it; keys in variables)
    WHEN the demo runs
    THEN every sample still does what it should."""
    out = io.StringIO()

    status = run_demo(out, manifest=manifest, runtime="python3.12", width=100)

    assert status == 0, out.getvalue()
