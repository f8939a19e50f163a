"""``python -m cams_emulator`` as a process: first line, real SDK calls, clean signal exits."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cams_emulator import CamsEmulator
from tests.emulator.support import AK, PROXY_VARS, SK, Sdk, make_client

REPO = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"^cams-emulator listening on 127\.0\.0\.1:(\d+)$")


def start(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "cams_emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def first_line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the emulator printed nothing"
    return proc.stdout.readline().rstrip("\n")


@pytest.fixture
def cli() -> Iterator[tuple[subprocess.Popen[str], CamsEmulator]]:
    """The CLI on a free port, and a CamsEmulator stand-in naming its endpoint for the SDK."""
    proc = start(
        "--port", "0", "--instance", "c-1", "--instance", "c-2",
        "--access-key-id", AK, "--access-key-secret", SK,
    )  # fmt: skip
    try:
        match = LISTENING.match(first_line(proc))
        assert match, "first line must name 127.0.0.1:<port>"
        # An unstarted CamsEmulator only to carry host:port into make_client.
        yield proc, CamsEmulator(port=int(match.group(1)))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_the_sdk_and_exits_cleanly_on_signal(cli, mode, signum):
    # GIVEN the CLI started with two instances and one key
    proc, target = cli
    sdk = Sdk(make_client(target), mode)
    # WHEN the SDK deletes c-1 twice
    # THEN the first deletes, the second is not found
    assert sdk.delete("c-1").body.code == "OK"
    assert sdk.delete("c-1").body.code == "InvalidInstanceId.NotFound"
    # WHEN the process gets the signal
    proc.send_signal(signum)
    # THEN it exits 0 promptly, with no traceback
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "cams-emulator stopped" in stdout
    assert "Traceback" not in stderr


def test_cli_with_an_sts_key_requires_its_token(mode):
    proc = start(
        "--port", "0", "--instance", "s-1", "--access-key-id", "STS.cli",
        "--access-key-secret", "cli-secret", "--security-token", "cli-token",
    )  # fmt: skip
    try:
        port = int(LISTENING.match(first_line(proc)).group(1))
        target = CamsEmulator(port=port)
        sdk = Sdk(make_client(target, "STS.cli", "cli-secret", "cli-token"), mode)
        assert sdk.delete("s-1").body.code == "OK"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_cli_refuses_a_non_loopback_address():
    proc = start("--host", "0.0.0.0", "--access-key-id", AK, "--access-key-secret", SK)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "loopback" in stderr


def test_cli_requires_a_key():
    proc = start("--port", "0")
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "--access-key-id" in stderr


def test_cli_reports_a_port_in_use(emulator):
    # GIVEN a port already taken by a running emulator
    proc = start(
        "--port", str(emulator.port), "--access-key-id", AK, "--access-key-secret", SK,
    )  # fmt: skip
    # WHEN the CLI tries it THEN it says so and exits 1
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "cannot listen" in stderr
