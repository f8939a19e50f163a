"""Run one driver in a fresh target interpreter, as FC starts an instance, and time it."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A proxy would capture even loopback traffic: children never get these.
from cams_local.runner import PROXY_VARIABLES


@dataclass(frozen=True)
class Credentials:
    access_key_id: str = "STS.bench-ak"
    access_key_secret: str = "bench-secret-0123456789"
    security_token: str = "bench-security-token-0123456789"


@dataclass(frozen=True)
class Run:
    report: dict[str, Any]
    spawned: float  # parent's time.monotonic() just before the child was started
    exited: float  # ... and just after it was reaped

    @property
    def wall_s(self) -> float:
        """Process start to exit, interpreter start-up and tear-down included."""
        return self.exited - self.spawned

    def since_spawn(self, key: str) -> float:
        """Seconds from spawning the child to a moment it recorded (CLOCK_MONOTONIC)."""
        return float(self.report[key]) - self.spawned


def environment(
    endpoint: str, credentials: Credentials, *, context_credentials: bool
) -> dict[str, str]:
    """A minimal environment: what FC sets that matters here, and the function's config."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "CAMS_ENDPOINT": endpoint,
        "CAMS_PROTOCOL": "http",
        "FC_FUNCTION_NAME": "cams-delete-instance",
        "FC_REGION": "ap-southeast-1",
    }
    if not context_credentials:  # python3.12: the role's keys come as variables
        env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = credentials.access_key_id
        env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = credentials.access_key_secret
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = credentials.security_token
    assert not set(env) & set(PROXY_VARIABLES)
    return env


def run(
    interpreter: Path,
    driver: str,
    package_dir: Path,
    job: dict[str, Any],
    *,
    env: dict[str, str],
    workdir: Path,
    extra_flags: tuple[str, ...] = (),
    timeout_s: float = 120,
) -> Run:
    """`python -I -S -B -c driver PKG REPORT JOB` with stdout on /dev/null."""
    report_path = workdir / "report.json"
    report_path.unlink(missing_ok=True)
    command = [
        str(interpreter),
        "-I",
        "-S",
        "-B",
        *extra_flags,
        "-c",
        driver,
        str(package_dir),
        str(report_path),
        json.dumps(job),
    ]
    spawned = time.monotonic()
    child = subprocess.run(
        command,
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # the handler's log lines: a real file, as FC's log pipe
        stderr=subprocess.PIPE,
        check=False,
        timeout=timeout_s,
    )
    exited = time.monotonic()
    if child.returncode != 0 or not report_path.is_file():
        raise RuntimeError(
            f"driver failed (exit {child.returncode}):\n{child.stderr.decode(errors='replace')}"
        )
    report: dict[str, Any] = json.loads(report_path.read_text())
    if not report.get("ok"):
        raise RuntimeError(f"driver reported a wrong answer: {report}")
    report["stderr"] = child.stderr.decode(errors="replace")
    return Run(report, spawned, exited)


def importtime(
    interpreter: Path,
    driver: str,
    package_dir: Path,
    job: dict[str, Any],
    *,
    env: dict[str, str],
    workdir: Path,
) -> list[tuple[str, int, int, int]]:
    """`-X importtime` of a driver: (module, self µs, cumulative µs, depth), in import order."""
    result = run(
        interpreter,
        driver,
        package_dir,
        job,
        env=env,
        workdir=workdir,
        extra_flags=("-X", "importtime"),
    )
    rows: list[tuple[str, int, int, int]] = []
    for line in result.report["stderr"].splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        # "| " then two spaces per level of nesting, then the module's name.
        depth = (len(name) - 1 - len(name.lstrip(" "))) // 2
        rows.append((name.strip(), int(self_us), int(cumulative_us), depth))
    return rows
