"""The performance goals, checked against one run's measurements, and the table that shows them.

Every comparison is between medians measured side by side in the same run. "MB" is
10^6 bytes (the peak, VmHWM, is in KiB), the stricter reading of the goals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COLD_VS_NO_BYTECODE = 0.45
COLD_VS_BARE = 1.08
WARM_VS_BARE = 1.06
MAX_RSS_MB = 70.0
MAX_RSS_ABOVE_BARE_MB = 6.0
BATCH_MAX_S = 0.5


@dataclass(frozen=True)
class Row:
    name: str
    measured: str  # the function's value
    baseline: str  # what it is compared with
    value: float  # the ratio or quantity the goal bounds
    unit: str  # "x" for ratios
    limit: float

    @property
    def passed(self) -> bool:
        return self.value <= self.limit

    def shown(self, number: float) -> str:
        return (
            f"{number:.3f}x"
            if self.unit == "x"
            else f"{number:.{2 if self.unit == 's' else 1}f} {self.unit}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": self.measured,
            "baseline": self.baseline,
            "value": round(self.value, 4),
            "unit": self.unit,
            "limit": self.limit,
            "passed": self.passed,
        }


def _mb(kib: float) -> float:
    return kib * 1024 / 1e6


def evaluate(
    cold: dict[str, Any] | None, warm: dict[str, Any] | None, batch: dict[str, Any] | None
) -> list[Row]:
    """The goals that this run measured (all of them unless --only left some out)."""
    rows: list[Row] = []
    if cold is not None:
        served = {name: cold[name]["served_s"]["median"] for name in cold}
        rss = {name: _mb(cold[name]["maxrss_kib"]["median"]) for name in cold}
        rss_max = _mb(cold["handler"]["maxrss_kib"]["max"])
        rows += [
            Row(
                "cold start vs (a) no bytecode",
                f"{served['handler']:.3f} s",
                f"{served['no_bytecode']:.3f} s",
                served["handler"] / served["no_bytecode"],
                "x",
                COLD_VS_NO_BYTECODE,
            ),
            Row(
                "cold start vs (b) bare SDK",
                f"{served['handler']:.3f} s",
                f"{served['bare']:.3f} s",
                served["handler"] / served["bare"],
                "x",
                COLD_VS_BARE,
            ),
        ]
    if warm is not None:
        warm_h, warm_b = warm["handler"]["median"], warm["bare"]["median"]
        rows.append(
            Row(
                "warm invocation vs bare SDK",
                f"{warm_h * 1e3:.3f} ms",
                f"{warm_b * 1e3:.3f} ms",
                warm_h / warm_b,
                "x",
                WARM_VS_BARE,
            )
        )
    if cold is not None:
        rows += [
            Row(
                "peak RSS, cold invocation (max)",
                f"{rss_max:.1f} MB",
                "-",
                rss_max,
                "MB",
                MAX_RSS_MB,
            ),
            Row(
                "peak RSS above bare SDK",
                f"{rss['handler']:.1f} MB",
                f"{rss['bare']:.1f} MB",
                rss["handler"] - rss["bare"],
                "MB",
                MAX_RSS_ABOVE_BARE_MB,
            ),
        ]
    if batch is not None:
        rows.append(
            Row(
                f"batch {batch['size']} x {batch['latency_s'] * 1e3:.0f} ms latency",
                f"{batch['wall']['median']:.3f} s",
                "-",
                batch["wall"]["median"],
                "s",
                BATCH_MAX_S,
            )
        )
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * width for width in widths)

    def fmt(row: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [fmt(header), line, *(fmt(row) for row in rows)]


def report(results: dict[str, Any], rows: list[Row]) -> str:
    out = [
        f"cams-delete-instance bench: {results['runtime']} ({results['interpreter_version']}), "
        f"package {results['package']['sha256'][:12]}, {results['machine']['cpus']} CPUs, "
        f"load {results['machine']['loadavg_before'][0]:.2f}"
        + "".join(f", {k}={v}" for k, v in results["settings"]["env"].items()),
        "",
        *_table(
            ["goal", "function", "baseline", "value", "limit", "result"],
            [
                [
                    row.name,
                    row.measured,
                    row.baseline,
                    row.shown(row.value),
                    "<= " + row.shown(row.limit),
                    "PASS" if row.passed else "FAIL",
                ]
                for row in rows
            ],
        ),
        "",
    ]
    cold = results["cold"]
    if cold is not None:
        out += _cold_details(results["settings"]["cold_samples"], cold)
    warm = results["warm"]
    if warm is not None:
        out.append(
            f"warm, {warm['handler']['n']} interleaved rounds in one process: handler median "
            f"{warm['handler']['median'] * 1e3:.3f} ms (p90 {warm['handler']['p90'] * 1e3:.3f}), "
            f"bare SDK {warm['bare']['median'] * 1e3:.3f} ms "
            f"(p90 {warm['bare']['p90'] * 1e3:.3f}); "
            f"overhead {warm['overhead_median_s'] * 1e6:.0f} µs"
        )
        bare = warm["bare"]["median"]
        out.append(
            "  references (not the function), same rounds, median vs bare SDK: the call made "
            f"from the event, answer mapped {warm['answer']['median'] / bare:.3f}x; "
            "plus the two required log lines, by hand "
            f"{warm['answer_and_lines']['median'] / bare:.3f}x, through the function's logger "
            f"{warm['answer_and_function_lines']['median'] / bare:.3f}x"
        )
    batch = results["batch"]
    if batch is not None:
        ideal = -(-batch["size"] // 8) * batch["latency_s"]
        out.append(
            f"batch, {batch['wall']['n']} runs: median {batch['wall']['median']:.3f} s, "
            f"p90 {batch['wall']['p90']:.3f} s (8 workers x {batch['latency_s'] * 1e3:.0f} ms: "
            f"{ideal:.2f} s at best)"
        )
    profile = results["import_profile"]
    if profile is not None:
        top = ", ".join(
            f"{entry['module']} {entry['self_ms']:.1f}" for entry in profile["handler_only_top"][:6]
        )
        out.append(
            f"imports (-X importtime, one run): handler {profile['handler_modules']} modules, "
            f"bare SDK {profile['bare_modules']}; {profile['handler_only_modules']} only in the "
            f"handler, {profile['handler_only_self_ms']:.1f} ms self time ({top} ms)"
        )
    out.append("")
    return "\n".join(out)


_VARIANT_NAMES = {
    "no_bytecode": "(a) handler, no bytecode",
    "handler": "handler",
    "bare": "(b) bare SDK",
}


def _cold_details(samples: int, cold: dict[str, Any]) -> list[str]:
    header = ["variant", "startup", "import", "init", "1st call", "served", "p90", "exit"]
    rows = [
        [
            _VARIANT_NAMES[name],
            *(
                f"{cold[name][metric][stat]:.3f}"
                for metric, stat in (
                    ("startup_s", "median"),
                    ("import_s", "median"),
                    ("init_s", "median"),
                    ("invoke_s", "median"),
                    ("served_s", "median"),
                    ("served_s", "p90"),
                    ("wall_s", "median"),
                )
            ),
            f"{_mb(cold[name]['maxrss_kib']['median']):.1f}",
            f"{cold[name]['modules']['median']:.0f}",
        ]
        for name in _VARIANT_NAMES
    ]
    wall = {name: cold[name]["wall_s"]["median"] for name in _VARIANT_NAMES}
    return [
        f"cold start, medians of {samples} fresh processes each (seconds from spawn; RSS in MB):",
        *_table([*header, "RSS", "modules"], rows),
        f"  whole-process wall time (spawn to exit), handler / (a): "
        f"{wall['handler'] / wall['no_bytecode']:.3f}x, handler / (b): "
        f"{wall['handler'] / wall['bare']:.3f}x",
        "",
    ]
