"""The profiles behind docs/performance.md: `python -m bench.profile WHAT`.

imports  `-X importtime` of one cold invocation of the handler and one of the bare SDK,
         under the target runtime with only the package on the path: the top-level
         imports, the slowest modules, and what the handler loads that the SDK does not.
stages   the handler's own time by stage under the target runtime, with the SDK's network
         call replaced by a canned answer (hot loops), and the whole handler right after
         a real SDK call.
first    the initializer's time, and the first invocation after it under cProfile, under
         the target runtime with only the package on the path.
https    over HTTPS (the emulator behind TLS), fresh processes in pairs: the initializer,
         the first invocation, one on a new connection and a warm one, as built and with the
         CA bundle loaded for every new connection, as the SDK alone does.
transport
         a warm bare SDK call's time by stage of its path (SDK, darabonba, requests,
         urllib3, http.client), and its client CPU, under the target runtime.
insitu   a warm invocation's steps, each timed, among bare SDK calls as the warm goal
         measures it (their code evicts the handler's from the CPU caches), under the
         target runtime: the median of each step, and of the handler without its SDK call.
warm     pyinstrument over warm handler invocations against the emulator, in this
         interpreter with handler/ on the path (pyinstrument is a dev dependency).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import measure, package
from bench.child import Credentials
from cams_emulator import CamsEmulator, Credential
from cams_local.runner import PROXY_VARIABLES


def _credential(credentials: Credentials) -> Credential:
    return Credential(
        credentials.access_key_id, credentials.access_key_secret, credentials.security_token
    )


@contextmanager
def _packaged_target() -> Iterator[measure.Target]:
    """The unpacked package and an emulator that knows the role's keys, for one profile."""
    credentials = Credentials()
    with (
        tempfile.TemporaryDirectory(prefix="cams-bench-") as tmp,
        CamsEmulator(credentials=[_credential(credentials)]) as emulator,
    ):
        yield measure.Target(package.prepare(Path(tmp)), emulator, credentials, Path(tmp))


def imports(top: int) -> None:
    with _packaged_target() as target:
        rows = {name: measure.importtime_rows(target, name) for name in ("handler", "bare")}
    for name, found in rows.items():
        print(f"{name}: {len(found)} modules imported")
        print("  top level (cumulative ms):")
        for module, _, cumulative, _ in sorted(
            (row for row in found if row[3] == 0), key=lambda row: -row[2]
        )[:6]:
            print(f"    {cumulative / 1000:8.1f}  {module}")
        print(f"  slowest {top} by self time (ms):")
        for module, self_us, _, _ in sorted(found, key=lambda row: -row[1])[:top]:
            print(f"    {self_us / 1000:8.1f}  {module}")
    bare = {row[0] for row in rows["bare"]}
    only = sorted((row for row in rows["handler"] if row[0] not in bare), key=lambda r: -r[1])
    total = sum(row[1] for row in only) / 1000
    print(f"only in the handler: {len(only)} modules, {total:.1f} ms self time")
    for module, self_us, _, _ in only:
        print(f"    {self_us / 1000:8.1f}  {module}")


def stages() -> None:
    with _packaged_target() as target:
        costs = measure.stages(target)
    print(f"the handler's own time, {target.package.runtime}, µs (best of 7 loops unless noted):")
    for name, micros in costs.items():
        print(f"  {micros:8.1f}  {name}")


def first(top: int) -> None:
    with _packaged_target() as target:
        report = measure.first_call(target, top)
    print(
        f"{target.package.runtime}: initialize {report['initialize_s'] * 1e3:.1f} ms, "
        f"first invocation {report['first_call_s'] * 1e3:.1f} ms (profiled)"
    )
    print(report["profile"])


def https(pairs: int) -> None:
    import certifi

    from cams_emulator.certificates import new_authority

    credentials = Credentials()
    with tempfile.TemporaryDirectory(prefix="cams-bench-") as tmp:
        workdir = Path(tmp)
        authority = new_authority("cams-delete-instance bench authority")
        bundle = authority.added_to(certifi.where(), workdir / "cacert.pem")
        with CamsEmulator(
            credentials=[_credential(credentials)], tls=authority.server_context(workdir)
        ) as emulator:
            target = measure.Target(package.prepare(workdir), emulator, credentials, workdir)
            target.env["CAMS_PROTOCOL"] = emulator.protocol
            medians = measure.https_calls(target, str(bundle), pairs)
    print(f"{target.package.runtime} over HTTPS, {pairs} pairs of fresh processes, medians (ms):")
    print(f"  {'':30} {'initialize':>10} {'first':>7} {'new conn':>8} {'warm':>6}")
    for name, values in medians.items():
        cells = " ".join(
            f"{values[key] * 1e3:{width}.1f}"
            for key, width in zip(measure.HTTPS_MEASURES, (10, 7, 8, 6), strict=True)
        )
        print(f"  {name:30} {cells}")


def warm(invocations: int) -> None:
    from pyinstrument import Profiler

    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)
    credentials = Credentials()
    ids = [f"profile-{n}" for n in range(invocations + 100)]
    with CamsEmulator(credentials=[_credential(credentials)], instances=ids) as emulator:
        os.environ["CAMS_ENDPOINT"] = emulator.endpoint
        os.environ["CAMS_PROTOCOL"] = "http"
        import index
        from cams_local.fc import Credentials as RoleKeys
        from cams_local.fc import Python310Context

        context = Python310Context(
            credentials=RoleKeys(
                credentials.access_key_id,
                credentials.access_key_secret,
                credentials.security_token,
            )
        )
        events = [b'{"InstanceId": "%s"}' % i.encode() for i in ids]
        # The log lines go to a real file, as FC's go to its log pipe.
        stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115
        try:
            index.initialize(context)
            for event in events[:100]:
                index.handler(event, context)
            profiler = Profiler(interval=0.0001)
            began = time.perf_counter()
            profiler.start()
            for event in events[100:]:
                index.handler(event, context)
            profiler.stop()
            elapsed = time.perf_counter() - began
        finally:
            sys.stdout.close()
            sys.stdout = stdout
    print(f"{invocations} warm invocations, {elapsed / invocations * 1e3:.3f} ms each (profiled)")
    print(profiler.output_text(unicode=False, color=False))


def transport(calls: int) -> None:
    with _packaged_target() as target:
        report = measure.transport(target, calls)
    print(
        f"{target.package.runtime}: a warm bare SDK call, {calls} calls: "
        f"{report['call_s'] * 1e6:.0f} µs each, {report['client_cpu_s'] * 1e6:.0f} µs of it "
        "the client's CPU"
    )
    print(f"  by stage, with a timer around each ({calls} more calls; µs per call, nested):")
    for label, seconds in report["stages_s"].items():
        print(f"  {seconds * 1e6:8.1f}  {label}")


def insitu(rounds: int) -> None:
    bare_per_round = len(measure.WARM_CONTENDERS) - 1  # as many other calls as the warm bench
    with _packaged_target() as target:
        report = measure.insitu(target, rounds, bare_per_round)
    bare, handler = report["bare_s"], report["handler_s"]
    print(
        f"{target.package.runtime}: {rounds} warm invocations, each among {bare_per_round} "
        f"bare SDK calls; medians, µs (the timers' own cost included)"
    )
    print(f"  {handler * 1e6:8.1f}  the handler ({handler / bare:.3f}x the bare call)")
    print(f"  {bare * 1e6:8.1f}  the bare SDK call")
    print(f"  {report['handler_without_call_s'] * 1e6:8.1f}  the handler without its SDK call")
    print("  by step:")
    for label, seconds in report["steps_s"].items():
        print(f"  {seconds * 1e6:8.1f}    {label}")
    print(f"  {report['between_steps_s'] * 1e6:8.1f}    between the steps (the path's own code)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument(
        "what",
        choices=("imports", "stages", "first", "https", "transport", "insitu", "warm"),
    )
    parser.add_argument(
        "--top", type=int, default=15, help="imports: modules listed; first: functions listed"
    )
    parser.add_argument("--invocations", type=int, default=3000, help="warm, insitu: invocations")
    parser.add_argument("--pairs", type=int, default=12, help="https: pairs of processes")
    parser.add_argument("--calls", type=int, default=3000, help="transport: calls per pass")
    args = parser.parse_args(argv)
    if args.what == "imports":
        imports(args.top)
    elif args.what == "stages":
        stages()
    elif args.what == "first":
        first(args.top)
    elif args.what == "https":
        https(args.pairs)
    elif args.what == "transport":
        transport(args.calls)
    elif args.what == "insitu":
        insitu(args.invocations)
    else:
        warm(args.invocations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
