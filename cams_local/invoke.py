"""`python -m cams_local invoke --event-file F`: one event through the handler, the result
as JSON on stdout (and nothing else there, so it pipes into jq).

The function's log lines go to stderr. A batch of more than a handful of items shows a
progress line on stderr, counted from the function's own canonical `deletion` lines.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import sys
import threading
import time
from collections.abc import Mapping
from typing import Literal, TextIO

from cams_delete import extract, sources
from cams_delete.config import ConfigError, Settings, current_settings
from cams_delete.deleter import decide_without_cams
from cams_delete.results import DeletionResult
from cams_local.events import instance_ids, load_manifest
from cams_local.fc import FunctionMeta
from cams_local.runner import (
    FunctionRunner,
    LocalCams,
    LogTap,
    Runtime,
    drop_proxy_variables,
    endpoint_environment,
    function_configuration,
    scoped_environment,
)

PROGRESS_THRESHOLD = 5  # a batch larger than this gets a progress line
ProgressMode = Literal["auto", "always", "never"]
_BAR_WIDTH = 30
_REDRAW_S = 0.1


def settlements_expected(event: bytes, settings: Settings) -> int | None:
    """How many `deletion` lines the function will log for this batch, or None when it is
    not a batch it will process: one per item decided without CAMS (invalid, protected,
    dry run) and one per distinct instance it sends to CAMS. Uses the function's own
    extraction and decision code."""
    batch = sources.recognise(event)
    if not isinstance(batch, sources.EventBatch) or len(batch.elements) > settings.max_batch_size:
        return None
    without_cams = 0
    distinct: set[str] = set()
    for item in extract.from_batch(batch):
        decided = decide_without_cams(
            item, protected=settings.protected_instance_ids, dry_run=settings.dry_run
        )
        if isinstance(decided, DeletionResult):
            without_cams += 1
        else:
            distinct.add(decided)
    return without_cams + len(distinct)


class Display:
    """stderr during the invocation: the function's log lines, and a progress line under
    them, redrawn in place with a carriage return."""

    def __init__(self, stream: TextIO, *, show_logs: bool, total: int | None) -> None:
        self.stream = stream
        self.show_logs = show_logs
        self.total = total
        self.done = 0
        self._drawn = ""
        self._last_draw = 0.0
        self._lock = threading.Lock()

    def on_line(self, line: str) -> None:
        with self._lock:
            if self.show_logs:
                self._erase()
                self.stream.write(line + "\n")
            if self.total is not None and '"event":"deletion"' in line:
                self.done += 1
            self._draw(force=self.show_logs)

    def finish(self) -> None:
        with self._lock:
            self._draw(force=True)
            if self._drawn:
                self.stream.write("\n")
                self._drawn = ""
            self.stream.flush()

    def _draw(self, *, force: bool) -> None:
        now = time.monotonic()
        if self.total is None or (not force and now - self._last_draw < _REDRAW_S):
            return
        filled = _BAR_WIDTH * self.done // max(1, self.total)
        text = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {self.done}/{self.total} settled"
        self.stream.write("\r" + text.ljust(len(self._drawn)))
        self.stream.flush()
        self._drawn = text
        self._last_draw = now

    def _erase(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * len(self._drawn) + "\r")
            self._drawn = ""


def invoke(
    event_file: pathlib.Path,
    *,
    overrides: Mapping[str, str],
    endpoint: str | None = None,
    runtime: Runtime = "python3.10",
    timeout_s: int = 30,
    quiet: bool = False,
    progress: ProgressMode = "auto",
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """0 when the invocation returned (whatever its result says), 1 on a function error,
    2 when the event file cannot be read."""
    drop_proxy_variables()
    try:
        event = event_file.read_bytes()
    except OSError as error:
        print(f"invoke: cannot read {event_file}: {error.strerror or error}", file=err)
        return 2
    configuration = function_configuration(load_manifest().environment, overrides, inherit=True)
    runner = FunctionRunner(runtime=runtime, function=FunctionMeta(timeout=timeout_s))
    with contextlib.ExitStack() as stack:
        if endpoint is None:
            seed = instance_ids(event)
            endpoint = stack.enter_context(LocalCams(seed)).endpoint
            if not quiet:
                print(f"invoke: CAMS emulator on {endpoint}, {_listing(seed)}", file=err)
        stack.enter_context(
            scoped_environment(
                {**configuration, **endpoint_environment(endpoint), **runner.environment()}
            )
        )
        display = Display(err, show_logs=not quiet, total=_progress_total(event, progress, err))
        invocation = runner.invoke(event, log=LogTap(on_line=display.on_line))
        display.finish()
    print(json.dumps(invocation.document, indent=2, ensure_ascii=False), file=out, flush=True)
    return 1 if invocation.error is not None else 0


def _listing(ids: list[str], shown: int = 6) -> str:
    if len(ids) <= shown:
        return f"instances: {' '.join(ids) or '(none)'}"
    return f"{len(ids)} instances: {' '.join(ids[:shown])} …"


def _progress_total(event: bytes, mode: ProgressMode, err: TextIO) -> int | None:
    if mode == "never" or (mode == "auto" and not err.isatty()):
        return None
    try:
        total = settlements_expected(event, current_settings())
    except ConfigError:
        return None  # the function reports the configuration error itself
    return total if total is not None and total > PROGRESS_THRESHOLD else None
