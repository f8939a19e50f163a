"""The sample events, the InstanceIds they name, and the manifest that says what each does."""

from __future__ import annotations

import json
import pathlib

import pytest

from cams_local.events import ManifestError, instance_ids, load_manifest, sample_files
from tests.conftest import EVENTS


def test_every_sample_is_in_the_demo(manifest):
    """GIVEN the sample events in events/
    WHEN the manifest is read
    THEN each sample is run by the demo at least once (none goes unchecked)."""
    assert {path.name for path in sample_files()} == {run.event for run in manifest.runs}


def test_every_run_expects_something_checkable(manifest):
    """GIVEN the manifest's runs
    WHEN their expectations are read
    THEN each states an outcome list or a function error, and a count of CAMS calls."""
    for run in manifest.runs:
        assert run.story, run.event
        assert (run.expect.outcomes is None) != (run.expect.error is None), run.event
        assert run.expect.cams_calls is not None, run.event


@pytest.mark.parametrize(
    ("name", "ids"),
    [
        ("eventbridge-kafka-batch.json", ["cams-7f3a9c02", "cams-7f3a9c03"]),
        ("eventbridge-mns-batch-strings.json", ["9383883", "9383884"]),
        ("timer.json", ["cams-7f3a9c08"]),
        ("http-post.json", ["cams-7f3a9c10"]),
        ("http-delete.json", ["cams-7f3a9c09"]),
        ("invalid-masked-instance-id.json", []),
    ],
)
def test_instance_ids_are_found_as_the_function_finds_them(name, ids):
    """GIVEN a sample event of each shape
    WHEN its InstanceIds are looked for
    THEN the valid ones come back once each, in order; masked IDs are left out."""
    assert instance_ids((EVENTS / name).read_bytes()) == ids


def test_seed_names_every_valid_instance(manifest):
    """GIVEN the samples
    WHEN the demo's seed is computed
    THEN it holds the 14 valid IDs, the protected one included, and no masked one."""
    seed = manifest.seed()

    assert len(seed) == 14
    assert "cams-7f3a9c13" in seed  # inside a RocketMQ body: found where the function reads it
    assert "cams-7f3a9c12" in seed
    assert not any("*" in value for value in seed)


def test_malformed_manifest_is_refused_with_where(tmp_path: pathlib.Path):
    """GIVEN a manifest whose run has an unknown expectation field
    WHEN it is loaded
    THEN ManifestError names the run."""
    path = tmp_path / "expectations.json"
    path.write_text(json.dumps({"runs": [{"event": "direct.json", "expect": {"outcome": "x"}}]}))

    with pytest.raises(ManifestError, match="run 1"):
        load_manifest(path)
