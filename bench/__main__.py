"""`python -m bench` (`make bench`): cold start, warm overhead, memory and batch scaling of
the function, side by side with the bare SDK, in one run. See docs/performance.md."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import goals, measure, package
from bench.child import Credentials
from cams_emulator import CamsEmulator, Credential
from cams_local.runner import PROXY_VARIABLES

RESULTS = package.REPO / "bench" / "results"
PARTS = ("profile", "cold", "warm", "batch")


def _parts(value: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(PARTS)}")
    return parts


def _variable(value: str) -> tuple[str, str]:
    name, sep, setting = value.partition("=")
    if not sep or not name or name in PROXY_VARIABLES:
        raise argparse.ArgumentTypeError("NAME=VALUE, and no proxy variables")
    return name, setting


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--runtime",
        choices=("python3.10", "python3.12"),
        default=package.DEFAULT_RUNTIME,
        help="FC runtime to measure (default %(default)s, which uses dist/function.zip)",
    )
    parser.add_argument("--cold-samples", type=int, default=15, help="per variant (default 15)")
    parser.add_argument(
        "--warm-iterations", type=int, default=2000, help="interleaved rounds (default 2000)"
    )
    parser.add_argument("--warm-warmup", type=int, default=200, help="rounds not counted")
    parser.add_argument("--batch-runs", type=int, default=7, help="batch events (default 7)")
    parser.add_argument(
        "--only",
        type=_parts,
        default=PARTS,
        metavar="PART[,PART]",
        help=f"measure only these ({', '.join(PARTS)}); goals of the others are not checked",
    )
    parser.add_argument(
        "--env",
        action="append",
        type=_variable,
        default=[],
        metavar="NAME=VALUE",
        help="a function setting for the measured processes, e.g. LOG_LEVEL=ERROR (repeatable)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the package first")
    parser.add_argument(
        "--emulator-throughput",
        action="store_true",
        help="also run bench/emulator_throughput.py (the emulator's own benchmark)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="JSON results file (default bench/results/latest.json, or latest-PARTS.json "
        "for --only, so that a partial run leaves the last full run's results alone)",
    )
    args = parser.parse_args(argv)
    for name in ("cold_samples", "warm_iterations", "batch_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.output is None:
        args.output = default_output(args.only)
    return args


def default_output(only: tuple[str, ...]) -> Path:
    """Where a run's JSON goes unless told: latest.json is the last run of every part."""
    if set(only) == set(PARTS):
        return RESULTS / "latest.json"
    return RESULTS / f"latest-{'-'.join(part for part in PARTS if part in only)}.json"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    credentials = Credentials()
    credential = Credential(
        credentials.access_key_id,
        credentials.access_key_secret,
        credentials.security_token,
        allowed_actions=frozenset({"cams:DeleteInstance"}),  # what the RAM policy grants
    )
    with (
        tempfile.TemporaryDirectory(prefix="cams-bench-") as tmp,
        CamsEmulator(credentials=[credential]) as emulator,
    ):
        workdir = Path(tmp)
        pkg = package.prepare(workdir, args.runtime, rebuild=args.rebuild)
        target = measure.Target(
            pkg,
            emulator,
            credentials,
            workdir,
            context_credentials=args.runtime == "python3.10",
        )
        target.env.update(dict(args.env))
        only = args.only
        profile = measure.import_profile(target) if "profile" in only else None
        cold = measure.cold(target, args.cold_samples) if "cold" in only else None
        warm = (
            measure.warm(target, args.warm_iterations, args.warm_warmup) if "warm" in only else None
        )
        batch = measure.batch(target, args.batch_runs) if "batch" in only else None
    throughput = run_emulator_throughput() if args.emulator_throughput else None

    rows = goals.evaluate(cold, warm, batch)
    results: dict[str, Any] = {
        "generated_at": started.isoformat(timespec="seconds"),
        "runtime": args.runtime,
        "interpreter": str(pkg.interpreter),
        "interpreter_version": interpreter_version(pkg.interpreter),
        "bench_python": platform.python_version(),
        "package": {
            "zip": str(pkg.zip_path.relative_to(package.REPO))
            if pkg.zip_path.is_relative_to(package.REPO)
            else pkg.zip_path.name,
            "sha256": pkg.sha256,
            "rebuilt": pkg.built,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "settings": {
            "cold_samples": args.cold_samples,
            "warm_iterations": args.warm_iterations,
            "warm_warmup": args.warm_warmup,
            "batch_runs": args.batch_runs,
            "only": list(args.only),
            "env": dict(args.env),
        },
        "goals": [row.to_json() for row in rows],
        "passed": all(row.passed for row in rows),
        "cold": cold,
        "warm": warm,
        "batch": batch,
        "import_profile": profile,
        "emulator_throughput": throughput,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")

    print(goals.report(results, rows))
    print(f"JSON: {display_path(args.output)}")
    skipped = [part for part in PARTS if part not in args.only]
    if skipped:
        print(f"bench: not measured (--only): {', '.join(skipped)}")
    missed = [row.name for row in rows if not row.passed]
    if missed:
        print(f"bench: GOALS MISSED: {'; '.join(missed)}")
        return 1
    print("bench: all measured goals met" if skipped else "bench: all goals met")
    return 0


def interpreter_version(interpreter: Path) -> str:
    probe = subprocess.run(
        [str(interpreter), "-I", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip()


def run_emulator_throughput() -> dict[str, Any] | None:
    """The emulator engineer's benchmark, as is; its last line is its JSON result."""
    result = subprocess.run(
        [sys.executable, str(package.REPO / "bench" / "emulator_throughput.py")],
        capture_output=True,
        text=True,
        check=False,
        cwd=package.REPO,
    )
    print(result.stdout.strip().splitlines()[0] if result.stdout.strip() else result.stderr)
    try:
        parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None
    return parsed


def display_path(path: Path) -> str:
    resolved = path.resolve()
    return (
        str(resolved.relative_to(package.REPO))
        if resolved.is_relative_to(package.REPO)
        else str(path)
    )


if __name__ == "__main__":
    sys.exit(main())
