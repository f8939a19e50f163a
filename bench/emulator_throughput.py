"""DeleteInstance calls per second from the real SDK to the CAMS emulator, over keep-alive.

    python bench/emulator_throughput.py [--processes 2] [--threads 2] [--duration 5]

The emulator runs as its own process (``python -m cams_emulator``), as in the local loop.
The SDK costs about four times the emulator's CPU per call, and one interpreter's threads
share one core, so the clients run as a few processes of a few threads each. Also reported:
the emulator's own CPU time per call, which bounds what it could serve alone.
Prints one summary line, then the result as JSON. Bounded in time; always exits 0.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET_PER_S = 1500
AK, SK = "bench-key", "bench-secret"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
WARM_UP_CALLS = 50


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per process (default 2)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured (default 5)")
    return parser.parse_args()


def without_proxies() -> dict[str, str]:
    # Even 127.0.0.1 would go through a proxy otherwise.
    return {k: v for k, v in os.environ.items() if k not in PROXY_VARS}


@contextmanager
def emulator_process() -> Iterator[tuple[str, int]]:
    """``python -m cams_emulator`` on a free port; yields its endpoint and pid."""
    env = without_proxies()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "cams_emulator", "--port", "0"]
    command += ["--access-key-id", AK, "--access-key-secret", SK]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline()  # "cams-emulator listening on 127.0.0.1:PORT"
        yield first_line.strip().rsplit(" ", 1)[-1], proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(endpoint: str, ids: list[str]) -> None:
    """Create the instances through the control API."""
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/cams-emulator-api/instances", body=json.dumps({"instances": ids}))
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"seeding failed: HTTP {response.status}")


def client_process(
    endpoint: str,
    id_lists: list[list[str]],
    duration: float,
    ready: Any,
    results: Any,
) -> None:
    """Threads of SDK clients deleting their own instances until the deadline."""
    for name in PROXY_VARS:
        os.environ.pop(name, None)
    from alibabacloud_cams20200606 import models
    from alibabacloud_cams20200606.client import Client
    from alibabacloud_tea_openapi.utils_models import Config

    config = Config(
        access_key_id=AK,
        access_key_secret=SK,
        endpoint=endpoint,
        protocol="http",
        region_id="ap-southeast-1",
    )
    outcomes: list[tuple[int, int, list[float]]] = []
    warmed = threading.Barrier(len(id_lists) + 1)
    go = threading.Event()
    deadline = [0.0]

    def client_loop(ids_list: list[str]) -> None:
        client = Client(config)
        ids = iter(ids_list)
        for _ in range(WARM_UP_CALLS):  # opens the keep-alive connection, fills caches
            client.delete_instance(models.DeleteInstanceRequest(instance_id=next(ids)))
        warmed.wait()
        go.wait()
        ok = not_ok = 0
        latencies: list[float] = []
        while (began := time.perf_counter()) < deadline[0]:
            try:
                request = models.DeleteInstanceRequest(instance_id=next(ids, "missing"))
                code = client.delete_instance(request).body.code
                ok += code == "OK"
                not_ok += code != "OK"
            except Exception:
                not_ok += 1
            latencies.append(time.perf_counter() - began)
        outcomes.append((ok, not_ok, latencies))

    workers = [threading.Thread(target=client_loop, args=(ids,)) for ids in id_lists]
    for worker in workers:
        worker.start()
    warmed.wait()
    ready.wait()  # every process warmed up: all start together
    deadline[0] = time.perf_counter() + duration
    go.set()
    for worker in workers:
        worker.join()
    results.put(outcomes)


def run_clients(
    endpoint: str, pid: int, processes: int, threads: int, duration: float
) -> dict[str, Any]:
    clients = processes * threads
    per_client = int(TARGET_PER_S * 3 * duration / clients) + WARM_UP_CALLS + 500
    id_lists = [[f"bench-{c}-{i}" for i in range(per_client)] for c in range(clients)]
    seed(endpoint, [i for ids in id_lists for i in ids])
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes + 1)
    results = context.Queue()
    procs = [
        context.Process(
            target=client_process,
            args=(endpoint, id_lists[p * threads : (p + 1) * threads], duration, ready, results),
        )
        for p in range(processes)
    ]
    for proc in procs:
        proc.start()
    ready.wait(timeout=120)
    cpu_before, began = cpu_seconds(pid), time.perf_counter()
    outcomes = [outcome for _ in procs for outcome in results.get(timeout=duration + 60)]
    elapsed, server_cpu = time.perf_counter() - began, cpu_seconds(pid) - cpu_before
    for proc in procs:
        proc.join(timeout=30)
    latencies = sorted(x for _, _, lats in outcomes for x in lats)
    calls = len(latencies)
    return {
        "calls": calls,
        "ok": sum(ok for ok, _, _ in outcomes),
        "not_ok": sum(not_ok for _, not_ok, _ in outcomes),
        "seconds": round(elapsed, 3),
        "calls_per_s": round(calls / elapsed, 1),
        "p50_ms": round(latencies[calls // 2] * 1000, 3) if calls else None,
        "p99_ms": round(latencies[int(calls * 0.99)] * 1000, 3) if calls else None,
        "emulator_cpu_ms_per_call": round(server_cpu / calls * 1000, 3) if calls else None,
    }


def main() -> int:
    args = parse_args()
    load_before = os.getloadavg()[0]  # other work on the machine takes CPU from the SDK
    with emulator_process() as (endpoint, pid):
        result = run_clients(endpoint, pid, args.processes, args.threads, args.duration)
    result.update(
        processes=args.processes,
        threads_per_process=args.threads,
        target_per_s=TARGET_PER_S,
        meets_target=result["calls_per_s"] >= TARGET_PER_S,
        cpus=os.cpu_count(),
        load_average_1m_before=round(load_before, 2),
    )
    print(
        f"emulator throughput: {result['calls_per_s']:.0f} DeleteInstance calls/s "
        f"({result['calls']} SDK calls from {args.processes}x{args.threads} client threads, "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"emulator CPU {result['emulator_cpu_ms_per_call']} ms/call, "
        f"load before {load_before:.2f}; "
        f"target {TARGET_PER_S}/s {'met' if result['meets_target'] else 'NOT met'})"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
