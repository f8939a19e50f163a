"""The four measurements: cold start, warm overhead, memory (from the cold runs), batch.

Each runs the package under the target runtime's interpreter in child processes; the
CAMS emulator serves them from this process, on loopback.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import child, drivers, stats
from bench.package import Package
from cams_emulator import CamsEmulator, Fault

# name -> (driver, which unpacked copy)
COLD_VARIANTS = ("no_bytecode", "handler", "bare")
BATCH_SIZE = 100
BATCH_LATENCY_S = 0.020
_profile_runs = itertools.count(1)


@dataclass
class Target:
    package: Package
    emulator: CamsEmulator
    credentials: child.Credentials
    workdir: Path
    context_credentials: bool = True  # python3.10: keys on the context
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = child.environment(
            self.emulator.endpoint,
            self.credentials,
            context_credentials=self.context_credentials,
        )

    def job(self, **fields: Any) -> dict[str, Any]:
        return {
            "endpoint": self.emulator.endpoint,
            "access_key_id": self.credentials.access_key_id,
            "access_key_secret": self.credentials.access_key_secret,
            "security_token": self.credentials.security_token,
            "context_credentials": self.context_credentials,
            **fields,
        }

    def run(self, driver: str, package_dir: Path, job: dict[str, Any]) -> child.Run:
        return child.run(
            self.package.interpreter,
            driver,
            package_dir,
            job,
            env=self.env,
            workdir=self.workdir,
        )


def _progress(line: str, *, done: bool = False) -> None:
    """One updating line on a terminal; nothing in between when stderr is a log."""
    if sys.stderr.isatty():
        print("\r\033[K" + line, end="\n" if done else "", file=sys.stderr, flush=True)


def _cold_variant(target: Target, name: str) -> tuple[str, Path]:
    if name == "no_bytecode":
        return drivers.COLD_HANDLER, target.package.without_bytecode
    if name == "handler":
        return drivers.COLD_HANDLER, target.package.with_bytecode
    return drivers.COLD_BARE, target.package.with_bytecode


def _cold_sample(target: Target, name: str, instance_id: str) -> dict[str, float]:
    driver, package_dir = _cold_variant(target, name)
    target.emulator.add_instances(instance_id)
    result = target.run(driver, package_dir, target.job(instance_id=instance_id))
    report = result.report
    return {
        "served_s": result.since_spawn("t_served"),
        "wall_s": result.wall_s,
        "startup_s": result.since_spawn("t_start"),
        "import_s": report["t_imported"] - report["t_start"],
        "init_s": report["t_initialized"] - report["t_imported"],
        "invoke_s": report["t_served"] - report["t_initialized"],
        "maxrss_kib": float(report["maxrss_kib"]),
        "modules": float(report["modules"]),
    }


def cold(target: Target, samples: int) -> dict[str, Any]:
    """Fresh processes, interleaved (a, handler, bare), the order rotated every round."""
    print(
        f"bench: cold start, {samples} rounds of {len(COLD_VARIANTS)} fresh processes",
        file=sys.stderr,
    )
    for name in COLD_VARIANTS:  # page cache and emulator warm; not counted
        _cold_sample(target, name, f"cold-warmup-{name}")
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in COLD_VARIANTS}
    for round_number in range(samples):
        shift = round_number % len(COLD_VARIANTS)
        order = COLD_VARIANTS[shift:] + COLD_VARIANTS[:shift]
        for name in order:
            runs[name].append(_cold_sample(target, name, f"cold-{name}-{round_number}"))
        _progress(f"bench: cold start, round {round_number + 1}/{samples}")
    _progress("", done=True)
    target.emulator.clear_journal()
    return {
        name: {
            "samples": samples_,
            **{
                metric: stats.summary([sample[metric] for sample in samples_])
                for metric in samples_[0]
            },
        }
        for name, samples_ in runs.items()
    }


# The warm contenders (drivers.WARM): the goal compares the first two; the references
# show what the same call costs with only the function's contract around it.
WARM_CONTENDERS = ("handler", "bare", "answer", "answer_and_lines", "answer_and_function_lines")


def warm(target: Target, iterations: int, warmup: int) -> dict[str, Any]:
    """One process; after `warmup` rounds, `iterations` rounds of one call per contender."""
    total = warmup + iterations
    # The driver names its instances the same way (the job travels on a command line).
    target.emulator.add_instances(
        *(f"warm-{name}-{n}" for name in WARM_CONTENDERS for n in range(total))
    )
    print(
        f"bench: warm, {iterations} interleaved rounds of {len(WARM_CONTENDERS)} calls",
        file=sys.stderr,
    )
    result = target.run(
        drivers.WARM,
        target.package.with_bytecode,
        target.job(contenders=WARM_CONTENDERS, total=total, warmup=warmup),
    )
    target.emulator.clear_journal()
    seconds: dict[str, list[float]] = result.report["seconds"]
    return {
        **{name: stats.summary(seconds[name]) for name in WARM_CONTENDERS},
        "overhead_median_s": stats.median(seconds["handler"]) - stats.median(seconds["bare"]),
        "maxrss_kib": result.report["maxrss_kib"],
    }


def batch(target: Target, runs: int) -> dict[str, Any]:
    """`runs` events of 100 fresh instances, each DeleteInstance held 20 ms."""
    batches = [[f"batch-{r}-{n}" for n in range(BATCH_SIZE)] for r in range(runs)]
    target.emulator.add_instances("batch-warmup", *(i for ids in batches for i in ids))
    fault_id = target.emulator.add_fault(Fault("latency", delay_s=BATCH_LATENCY_S, times=None))
    print(f"bench: batch, {runs} x {BATCH_SIZE} instances", file=sys.stderr)
    try:
        result = target.run(
            drivers.BATCH,
            target.package.with_bytecode,
            target.job(batches=batches, warmup_id="batch-warmup"),
        )
    finally:
        target.emulator.remove_fault(fault_id)
    calls = [c for c in target.emulator.calls("DeleteInstance") if c.instance_id != "batch-warmup"]
    target.emulator.clear_journal()
    wall_s: list[float] = result.report["wall_s"]
    return {
        "size": BATCH_SIZE,
        "latency_s": BATCH_LATENCY_S,
        "wall": stats.summary(wall_s),
        "calls": len(calls),
        "maxrss_kib": result.report["maxrss_kib"],
    }


def importtime_rows(target: Target, name: str) -> list[tuple[str, int, int, int]]:
    """`-X importtime` of one cold run of a variant: (module, self µs, cumulative µs, depth)."""
    driver, package_dir = _cold_variant(target, name)
    instance_id = f"profile-{name}-{next(_profile_runs)}"
    target.emulator.add_instances(instance_id)
    return child.importtime(
        target.package.interpreter,
        driver,
        package_dir,
        target.job(instance_id=instance_id),
        env=target.env,
        workdir=target.workdir,
    )


def import_profile(target: Target) -> dict[str, Any]:
    """`-X importtime` of one cold handler run and one bare SDK run: what only the handler
    imports, and what it costs (importtime's own overhead inflates absolute numbers)."""
    rows = {name: importtime_rows(target, name) for name in ("handler", "bare")}
    bare_modules = {module for module, *_ in rows["bare"]}
    only_handler = [row for row in rows["handler"] if row[0] not in bare_modules]
    top_level = [row for row in rows["handler"] if row[3] == 0]
    return {
        "handler_modules": len(rows["handler"]),
        "bare_modules": len(rows["bare"]),
        "handler_only_modules": len(only_handler),
        "handler_only_self_ms": sum(row[1] for row in only_handler) / 1000,
        "handler_only_top": [
            {"module": m, "self_ms": s / 1000}
            for m, s, _, _ in sorted(only_handler, key=lambda row: -row[1])[:15]
        ],
        "handler_top_level": [
            {"module": m, "cumulative_ms": c / 1000}
            for m, _, c, _ in sorted(top_level, key=lambda row: -row[2])[:8]
        ],
    }


def stages(target: Target, calls: int = 1000) -> dict[str, float]:
    """The handler's own cost by stage, SDK call stubbed (drivers.STAGES), in µs."""
    ids = [f"stages-{next(_profile_runs)}-{n}" for n in range(calls)]
    target.emulator.add_instances(*ids)
    result = target.run(drivers.STAGES, target.package.with_bytecode, target.job(instance_ids=ids))
    target.emulator.clear_journal()
    costs: dict[str, float] = result.report["stages_us"]
    return costs


def first_call(target: Target, top: int) -> dict[str, Any]:
    """The initializer's time, and the first invocation's under cProfile (drivers.FIRST_CALL)."""
    instance_id = f"first-call-{next(_profile_runs)}"
    target.emulator.add_instances(instance_id)
    job = target.job(instance_id=instance_id, top=top)
    result = target.run(drivers.FIRST_CALL, target.package.with_bytecode, job)
    report: dict[str, Any] = result.report
    return report


def transport(target: Target, calls: int, warmup: int = 200) -> dict[str, Any]:
    """A warm bare SDK call's time by stage of its path, and its client CPU
    (drivers.TRANSPORT): means per call, in seconds."""
    prefix = f"transport-{next(_profile_runs)}"
    # The driver names its instances the same way, for its warm-up and its two passes.
    target.emulator.add_instances(*(f"{prefix}-{n}" for n in range(warmup + 2 * calls)))
    job = target.job(id_prefix=prefix, calls=calls, warmup=warmup)
    result = target.run(drivers.TRANSPORT, target.package.with_bytecode, job)
    target.emulator.clear_journal()
    report: dict[str, Any] = result.report
    return report


def insitu(target: Target, rounds: int, bare_per_round: int, warmup: int = 200) -> dict[str, Any]:
    """A warm invocation's steps timed among bare SDK calls (drivers.INSITU): medians, in
    seconds."""
    total = warmup + rounds
    # The driver names its instances the same way.
    target.emulator.add_instances(
        *(f"insitu-handler-{n}" for n in range(total)),
        *(f"insitu-bare-{n}-{k}" for n in range(total) for k in range(bare_per_round + 1)),
    )
    job = target.job(rounds=rounds, warmup=warmup, bare_per_round=bare_per_round)
    result = target.run(drivers.INSITU, target.package.with_bytecode, job)
    target.emulator.clear_journal()
    report: dict[str, Any] = result.report
    return report


HTTPS_VARIANTS = ("as built", "bundle loaded per connection")
HTTPS_MEASURES = ("initialize_s", "first_s", "new_connection_s", "warm_s")


def https_calls(target: Target, bundle: str, pairs: int) -> dict[str, dict[str, float]]:
    """drivers.HTTPS_CALLS in `pairs` pairs of fresh processes, the two variants alternating
    (the emulator speaks HTTPS, and `bundle` holds its authority): medians, in seconds."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in HTTPS_VARIANTS}
    for n in range(pairs):
        order = HTTPS_VARIANTS if n % 2 == 0 else HTTPS_VARIANTS[::-1]
        for name in order:
            tag = f"https-{next(_profile_runs)}"
            first_id = f"{tag}-first"
            reconnect_ids = [f"{tag}-new-{k}" for k in range(10)]
            warm_ids = [f"{tag}-warm-{k}" for k in range(50)]
            target.emulator.add_instances(first_id, *reconnect_ids, *warm_ids)
            job = target.job(
                bundle=bundle,
                reload_bundle=name != HTTPS_VARIANTS[0],
                first_id=first_id,
                reconnect_ids=reconnect_ids,
                warm_ids=warm_ids,
            )
            result = target.run(drivers.HTTPS_CALLS, target.package.with_bytecode, job)
            samples[name].append(result.report)
    target.emulator.clear_journal()
    return {
        name: {key: stats.median([row[key] for row in rows]) for key in HTTPS_MEASURES}
        for name, rows in samples.items()
    }
