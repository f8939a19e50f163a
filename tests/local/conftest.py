"""Fixtures for the local loop: the `serve` stack in-process, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cams_local.events import Manifest, load_manifest
from cams_local.runner import function_configuration
from cams_local.serve import LocalTrigger
from tests.conftest import ROOT


@pytest.fixture
def manifest() -> Manifest:
    return load_manifest()


def start_trigger(manifest: Manifest, **overrides: str) -> LocalTrigger:
    """The `make serve` stack on a free port, configured as the local loop is, quietly."""
    configuration = function_configuration(manifest.environment, overrides, inherit=False)
    return LocalTrigger(seed=manifest.seed(), configuration=configuration, log=None).start()


@pytest.fixture
def local_server(manifest: Manifest) -> Iterator[LocalTrigger]:
    trigger = start_trigger(manifest)
    try:
        yield trigger
    finally:
        trigger.stop()


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m cams_local ...` as `make` runs it: from the repository, no proxy."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'handler'}{os.pathsep}{ROOT}"}
    return subprocess.run(
        [sys.executable, "-m", "cams_local", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
