"""`make demo`: every sample event through the handler, against the emulator, checked.

The script is events/expectations.json: the function's configuration, then the runs in
order, each with what it must produce. The demo exits non-zero if any run differs.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import jsonschema

from cams_delete import sources
from cams_emulator import CamsEmulator
from cams_local import table
from cams_local.events import EVENTS_DIR, ROOT, Manifest, Run, load_manifest
from cams_local.runner import (
    FunctionRunner,
    Invocation,
    LocalCams,
    LogTap,
    Runtime,
    drop_proxy_variables,
    endpoint_environment,
    function_configuration,
    scoped_environment,
)

RESULT_SCHEMA = json.loads((ROOT / "schemas" / "result.schema.json").read_text(encoding="utf-8"))
COLUMNS = ("InstanceId", "Outcome", "Code", "Attempts", "Retryable", "Message")
MIN_MESSAGE_WIDTH = 30


@dataclass(frozen=True)
class Response:
    """What one run answered, read the same way for every kind of event."""

    status: int | None  # HTTP events only
    headers: dict[str, str]
    document: dict[str, Any] | None

    @property
    def items(self) -> list[dict[str, Any]]:
        if self.document is None:
            return []
        results = self.document.get("Results")
        return results if isinstance(results, list) else [self.document]


def response_of(invocation: Invocation, is_http: bool) -> Response:
    result = invocation.result
    if result is None:
        return Response(None, {}, None)
    if is_http:
        return Response(result["statusCode"], result.get("headers", {}), json.loads(result["body"]))
    return Response(None, {}, result)


def differences(run: Run, invocation: Invocation, response: Response, cams_calls: int) -> list[str]:
    """How the run differs from what the manifest says it does; empty when it matches."""
    expect = run.expect
    found: list[str] = []
    if invocation.error is not None and expect.error != invocation.error.error_type:
        found.append(f"raised {invocation.error.error_type}: {invocation.error.error_message}")
    if expect.error is not None and invocation.error is None:
        found.append(f"expected the function to raise {expect.error}; it returned")
    if expect.status is not None and response.status != expect.status:
        found.append(f"HTTP status: expected {expect.status}, got {response.status}")
    for name, wanted in (
        ("Outcome", expect.outcomes),
        ("Code", expect.codes),
        ("Attempts", expect.attempts),
    ):
        got = [item.get(name) for item in response.items]
        if wanted is not None and got != wanted:
            found.append(f"{name}: expected {wanted}, got {got}")
    if expect.cams_calls is not None and cams_calls != expect.cams_calls:
        found.append(f"CAMS calls: expected {expect.cams_calls}, got {cams_calls}")
    if response.document is not None:
        problem = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(RESULT_SCHEMA).iter_errors(response.document)
        )
        if problem is not None:
            found.append(f"result does not match schemas/result.schema.json: {problem.message}")
    return found


def summarize_log(lines: Sequence[str]) -> str:
    """The function's JSON log lines, condensed to their events and outcomes."""
    labels: Counter[str] = Counter()
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            labels["(not JSON)"] += 1
            continue
        detail = entry.get("outcome") or entry.get("status") or entry.get("code")
        labels[f"{entry.get('event')}({detail})" if detail else str(entry.get("event"))] += 1
    return ", ".join(label + (f" x{n}" if n > 1 else "") for label, n in labels.items()) or "-"


def rows_from_log(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Results as the log's canonical `deletion` lines tell them (when the function raised)."""
    rows = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "deletion":
            rows.append(
                {
                    "InstanceId": entry.get("instance_id"),
                    "Outcome": entry.get("outcome"),
                    "Code": entry.get("code"),
                    "Attempts": entry.get("attempts"),
                    "Retryable": entry.get("retryable"),
                    "Message": entry.get("message"),
                }
            )
    return rows


def render_results(items: Sequence[dict[str, Any]], width: int) -> str:
    rows = [[item.get(column) for column in COLUMNS] for item in items]
    fixed = table.render(COLUMNS[:-1], [row[:-1] for row in rows], indent="")
    used = max(len(line) for line in fixed.splitlines()) + 4
    message_width = max(MIN_MESSAGE_WIDTH, width - used)
    return table.render(COLUMNS, rows, wrap={"Message": message_width})


@dataclass(frozen=True)
class RunReport:
    """One run of the story: what was sent, what came back, and how it differs."""

    number: int
    total: int
    run: Run
    invocation: Invocation
    response: Response
    cams_calls: int
    differences: list[str]


def render_run(report: RunReport, width: int) -> str:
    run, invocation, response = report.run, report.invocation, report.response
    fault = f"  (fault: {run.fault.kind} {_times(run.fault.times)})" if run.fault else ""
    env = "".join(f"  {name}={value}" for name, value in run.env.items())
    lines = [f"[{report.number:2}/{report.total}] {run.event}{fault}{env}", f"        {run.story}"]
    facts = [f"{invocation.duration_s * 1000:.0f} ms", f"CAMS calls: {report.cams_calls}"]
    if response.status is not None:
        allow = response.headers.get("Allow")
        facts.insert(0, f"HTTP {response.status}" + (f" (Allow: {allow})" if allow else ""))
    document = response.document
    if document is not None and isinstance(document.get("Results"), list):
        counts = ", ".join(f"{k} {v}" for k, v in document["Counts"].items() if v)
        facts.insert(0, f"batch of {document['Total']}: {document['Code']}, {counts}")
    lines.append("        " + " · ".join(facts))
    lines.append(f"        log: {summarize_log(invocation.log_lines)}")
    items = response.items
    if invocation.error is not None:
        error = invocation.error
        lines.append(f"        function error: {error.error_type}: {error.error_message}")
        items = rows_from_log(invocation.log_lines)
        if items:
            lines.append("        the function's log tells what happened:")
    if items:
        lines.append(render_results(items, width))
    if report.differences:
        lines.extend(f"  ✗ {difference}" for difference in report.differences)
    else:
        lines.append("  ✓ as documented")
    return "\n".join(lines)


def _times(times: int | None) -> str:
    return "until cleared" if times is None else "once" if times == 1 else f"{times} times"


def render_instances(label: str, ids: set[str], width: int) -> str:
    listing = " ".join(sorted(ids)) or "(none)"
    wrapped = textwrap.fill(
        listing, width=max(40, width), initial_indent="  ", subsequent_indent="  "
    )
    return f"{label} ({len(ids)}):\n{wrapped}"


def run_demo(
    out: TextIO,
    *,
    runtime: Runtime = "python3.10",
    log_file: TextIO | None = None,
    manifest: Manifest | None = None,
    width: int | None = None,
) -> int:
    """Run the story; 0 when every run did what the manifest says, 1 otherwise."""
    drop_proxy_variables()
    manifest = manifest or load_manifest()
    width = width or shutil.get_terminal_size((100, 24)).columns
    runner = FunctionRunner(runtime=runtime)
    failures: list[str] = []
    with LocalCams(manifest.seed()) as emulator:
        # The demo's configuration is the manifest's only: nothing leaks in from the shell.
        configuration = function_configuration(manifest.environment, {}, inherit=False)
        environment = {
            **configuration,
            **endpoint_environment(emulator.endpoint),
            **runner.environment(),
        }
        story = Story(emulator, runner, log_file)
        with scoped_environment(environment):
            print(render_header(emulator, runner, manifest, width), file=out)
            for number, run in enumerate(manifest.runs, 1):
                report = story.play(run, number, len(manifest.runs))
                print(render_run(report, width) + "\n", file=out)
                failures.extend(f"{run.event} (run {number}): {d}" for d in report.differences)
        print(render_instances("CAMS instances after", emulator.instances(), width), file=out)
    print(file=out)
    if log_file is not None:
        print(f"The function's log lines were written to {log_file.name}.", file=out)
    if failures:
        print(f"demo: {len(failures)} difference(s) from events/expectations.json:", file=out)
        for failure in failures:
            print(f"  - {failure}", file=out)
        return 1
    print(f"demo: {len(manifest.runs)} samples, all as documented", file=out)
    return 0


def render_header(
    emulator: CamsEmulator, runner: FunctionRunner, manifest: Manifest, width: int
) -> str:
    credentials = "context.credentials" if runner.runtime == "python3.10" else "ALIBABA_CLOUD_*"
    configured = ", ".join(f"{k}={v}" for k, v in manifest.environment.items()) or "defaults"
    before = render_instances("CAMS instances before", emulator.instances(), width)
    return (
        f"CAMS emulator on {emulator.endpoint}; events from {EVENTS_DIR.name}/\n"
        f"Function: index.handler, {runner.runtime} context (keys in {credentials}), "
        f"timeout {runner.function.timeout} s; {configured}\n\n{before}\n"
    )


class Story:
    """Plays runs against one emulator and one function instance, in order."""

    def __init__(
        self, emulator: CamsEmulator, runner: FunctionRunner, log_file: TextIO | None
    ) -> None:
        self.emulator = emulator
        self.runner = runner
        self.log_file = log_file

    def play(self, run: Run, number: int, total: int) -> RunReport:
        data = run.path.read_bytes()
        is_http = isinstance(sources.recognise(data), sources.HttpTriggerEvent)
        self.emulator.clear_journal()
        if run.fault is not None:
            self.emulator.add_fault(run.fault)
        with scoped_environment(run.env):
            invocation = self.runner.invoke(data, log=LogTap(sink=self.log_file))
        cams_calls = len(self.emulator.calls())
        self.emulator.clear_faults()  # an unspent fault must not reach the next run
        response = response_of(invocation, is_http)
        found = differences(run, invocation, response, cams_calls)
        return RunReport(number, total, run, invocation, response, cams_calls, found)
