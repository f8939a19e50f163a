"""Run events through `index.handler` the way FC does.

Bytes in; a fresh context per invocation (new request id, the role's credentials, the
function's timeout); the initializer once per instance; and a raised exception reported
as FC reports it, as a function error.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

import index
from cams_delete.config import VARIABLES
from cams_emulator import CamsEmulator, Credential
from cams_local.fc import (
    Credentials,
    FunctionMeta,
    Python310Context,
    Python312Context,
    credential_environment,
    new_request_id,
    runtime_environment,
)

Runtime = Literal["python3.10", "python3.12"]
RUNTIMES: tuple[Runtime, ...] = ("python3.10", "python3.12")

# The emulator accepts these keys and nothing else; they are not secrets, and the
# STS. prefix makes the emulator demand the token, as the real gateway does.
LOCAL_ROLE = Credentials(
    "STS.LocalLoopRoleKey0001",  # access key id
    "local-loop-role-secret-not-a-real-key",  # secret
    "local-loop-security-token-not-a-real-token",  # security token
)
_HERE = pathlib.Path(__file__).resolve().parent
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def drop_proxy_variables() -> None:
    """A proxy would capture even 127.0.0.1 traffic (the SDK's requests honours them)."""
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)


@contextlib.contextmanager
def scoped_environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) variables for the duration, then put everything back."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        _apply(values)
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def parse_env_pairs(pairs: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings (from --env) as a dict; ValueError names a malformed one."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--env {pair!r}: expected KEY=VALUE")
        parsed[name.strip()] = value
    return parsed


def function_configuration(
    defaults: Mapping[str, str], overrides: Mapping[str, str], *, inherit: bool
) -> dict[str, str | None]:
    """The function's variables: defaults, then (if `inherit`) the shell's, then overrides.

    Every variable the function reads is named, so one left out is unset rather than
    leaking in from the shell.
    """
    shell = {name: os.environ[name] for name in VARIABLES if inherit and name in os.environ}
    chosen: dict[str, str | None] = dict.fromkeys(VARIABLES)
    chosen.update({**defaults, **shell, **overrides})
    return chosen


@dataclass(frozen=True)
class FunctionError:
    """What FC reports when the handler raises (X-Fc-Error-Type: UnhandledInvocationError)."""

    error_type: str
    error_message: str
    stack_trace: list[str]

    @classmethod
    def from_exception(cls, error: BaseException) -> FunctionError:
        # The function's frames only, as in FC: this module stands in for the runtime.
        frames = [
            frame
            for frame in traceback.extract_tb(error.__traceback__)
            if pathlib.Path(frame.filename).parent != _HERE
        ]
        lines = traceback.format_list(frames)
        return cls(type(error).__name__, str(error), [line.rstrip() for line in lines])

    def to_document(self) -> dict[str, Any]:
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "stackTrace": self.stack_trace,
        }


@dataclass(frozen=True)
class Invocation:
    request_id: str
    result: dict[str, Any] | None
    error: FunctionError | None
    duration_s: float
    log_lines: list[str] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        """What the caller of the invocation sees: the result, or FC's error body."""
        if self.error is not None:
            return self.error.to_document()
        assert self.result is not None
        return self.result


class LogTap(io.TextIOBase):
    """Stands in for stdout during an invocation: keeps each line the function writes,
    passes it on to `sink` (if any) and to `on_line` (if any)."""

    def __init__(
        self, sink: TextIO | None = None, on_line: Callable[[str], None] | None = None
    ) -> None:
        self.lines: list[str] = []
        self._sink = sink
        self._on_line = on_line
        self._partial = ""
        self._lock = threading.Lock()  # batch threads log concurrently

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *complete, self._partial = (self._partial + text).split("\n")
            for line in complete:
                self.lines.append(line)
                if self._sink is not None:
                    self._sink.write(line + "\n")
                    self._sink.flush()
                if self._on_line is not None:
                    self._on_line(line)
        return len(text)


class FunctionRunner:
    """One local function instance: initialized once, then invoked any number of times."""

    def __init__(
        self,
        *,
        runtime: Runtime = "python3.10",
        credentials: Credentials = LOCAL_ROLE,
        function: FunctionMeta | None = None,
        region: str = "ap-southeast-1",
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}")
        self.runtime = runtime
        self.credentials = credentials
        self.function = function or FunctionMeta()
        self.region = region
        self._initialized = False
        self._init_lock = threading.Lock()

    def environment(self) -> dict[str, str]:
        """Variables FC sets for this runtime; python3.12 also gets the role's keys."""
        env = runtime_environment(self.function, self.region)
        if self.runtime == "python3.12":
            env.update(credential_environment(self.credentials))
        return env

    def context(self, request_id: str | None = None) -> Python310Context | Python312Context:
        request_id = request_id or new_request_id()
        if self.runtime == "python3.12":
            return Python312Context(request_id=request_id, function=self.function)
        return Python310Context(
            credentials=self.credentials, request_id=request_id, function=self.function
        )

    def invoke(
        self,
        event: bytes,
        *,
        request_id: str | None = None,
        log: LogTap | None = None,
    ) -> Invocation:
        """Call the handler once; `log` (if given) replaces stdout for the duration.

        Not thread-safe when `log` is given: stdout is the process's, as in FC where one
        instance runs one request at a time.
        """
        context = self.context(request_id)
        redirect = contextlib.redirect_stdout(log) if log is not None else contextlib.nullcontext()
        started = time.monotonic()
        result: dict[str, Any] | None = None
        error: FunctionError | None = None
        with redirect:
            try:
                self._initialize_once(context)
                result = index.handler(event, context)
            except Exception as raised:
                error = FunctionError.from_exception(raised)
        return Invocation(
            request_id=context.request_id,
            result=result,
            error=error,
            duration_s=time.monotonic() - started,
            log_lines=list(log.lines) if log is not None else [],
        )

    def initialize(self) -> None:
        """Run the initializer now (FC runs it before an instance's first invocation)."""
        self._initialize_once(self.context())

    def _initialize_once(self, context: Any) -> None:
        with self._init_lock:
            if self._initialized:
                return
            # A failing initializer fails the invocation; the next one tries again.
            index.initialize(context)
            self._initialized = True


class LocalCams:
    """The CAMS emulator with the local role's keys, and the function pointed at it."""

    def __init__(
        self,
        instances: list[str],
        credentials: Credentials = LOCAL_ROLE,
        port: int = 0,
    ) -> None:
        self.emulator = CamsEmulator(
            port=port,
            credentials=[
                Credential(
                    credentials.access_key_id,
                    credentials.access_key_secret,
                    credentials.security_token,
                )
            ],
            instances=instances,
        )

    def __enter__(self) -> CamsEmulator:
        return self.emulator.start()

    def __exit__(self, *exc_info: object) -> None:
        self.emulator.stop()


def endpoint_environment(endpoint: str) -> dict[str, str]:
    """Where the function sends DeleteInstance: a loopback emulator, over plain HTTP."""
    return {"CAMS_ENDPOINT": endpoint, "CAMS_PROTOCOL": "http"}
