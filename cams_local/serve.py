"""`make serve`: a local HTTP trigger on 127.0.0.1, backed by the CAMS emulator.

Each request becomes the FC 3.0 HTTP trigger event, goes through `index.handler` as bytes
with a fresh context, and the handler's {statusCode, headers, body} goes back as is.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import TextIO

from cams_emulator import CamsEmulator
from cams_local.events import load_manifest
from cams_local.fc import new_request_id
from cams_local.runner import (
    FunctionRunner,
    LocalCams,
    Runtime,
    drop_proxy_variables,
    endpoint_environment,
    function_configuration,
    scoped_environment,
)
from cams_local.trigger import HttpRequest, HttpResponse, build_event, response_from_result

HOST = "127.0.0.1"
# What the server reads of a body at most. Above the function's own limit (64 KiB), so
# the function still sees an oversized body and answers 413 itself.
MAX_READ_BYTES = 1024 * 1024
_LINE_LIMIT = 1024
_POLL_S = 0.05  # how soon serve_forever notices shutdown()
# Headers the server owns: it frames the response itself.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class BadRequestError(Exception):
    """The request cannot be framed (a bad Content-Length or chunk); FC's front end
    would refuse it before the function runs."""


class TriggerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, port: int, runner: FunctionRunner, *, log: TextIO | None = sys.stderr
    ) -> None:
        self.runner = runner
        self.log = log
        super().__init__((HOST, port), TriggerRequestHandler)


class TriggerRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as FC's front end offers
    disable_nagle_algorithm = True  # else ~40 ms per response on loopback (Nagle + delayed ACK)
    server: TriggerServer

    def serve_request(self) -> None:
        started = time.monotonic()
        try:
            body = self.read_body()
        except BadRequestError as error:
            self.close_connection = True
            self.send_error(400, str(error))
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            protocol=self.request_version,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        response = self.invoke(request)
        self.write(response)
        self.access_log(response.status, time.monotonic() - started)

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method goes to the function (`do_TRACE`, `do_PATCH`, ...), which answers
        # 405 itself; http.server would otherwise answer 501 before the function runs.
        if name.startswith("do_"):
            return self.serve_request
        raise AttributeError(name)

    def invoke(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id()
        event = build_event(request, request_id=request_id)
        invocation = self.server.runner.invoke(json.dumps(event).encode(), request_id=request_id)
        if invocation.error is not None:
            # A function error (the handler raised): FC answers with its error body.
            body = json.dumps(invocation.error.to_document()).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Fc-Request-Id": request_id,
                "X-Fc-Error-Type": "UnhandledInvocationError",
            }
            return HttpResponse(502, headers, body)
        assert invocation.result is not None
        try:
            response = response_from_result(invocation.result)
        except (UnicodeEncodeError, ValueError, TypeError) as error:
            # The handler returned something no HTTP response can carry (e.g. a lone
            # surrogate in the body). Say so plainly rather than drop the connection.
            self.log_message("the function's response cannot be sent: %s", error)
            body = json.dumps(
                {"errorMessage": f"the function's response cannot be sent: {error}"}
            ).encode()
            headers = {"Content-Type": "application/json", "X-Fc-Request-Id": request_id}
            return HttpResponse(502, headers, body)
        # FC's gateway names the invocation on every response; the function may not.
        response.headers["X-Fc-Request-Id"] = request_id
        return response

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked()
        declared = self.headers.get("Content-Length")
        if declared is None:
            return b""
        try:
            length = int(declared)
        except ValueError:
            raise BadRequestError("Content-Length is not a number") from None
        if length < 0:
            raise BadRequestError("Content-Length is negative")
        if length > MAX_READ_BYTES:
            self.close_connection = True  # the rest stays unread
        return self.rfile.read(min(length, MAX_READ_BYTES))

    def read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(_LINE_LIMIT)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequestError("a chunk size is not hexadecimal") from None
            if size == 0:
                while self.rfile.readline(_LINE_LIMIT).strip():
                    pass  # trailers
                return b"".join(chunks)
            if total + size > MAX_READ_BYTES:
                self.close_connection = True
                chunks.append(self.rfile.read(MAX_READ_BYTES - total + 1))
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(_LINE_LIMIT)
            total += size

    def write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in _FRAMING_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def access_log(self, status: int, duration_s: float) -> None:
        if self.server.log is not None:
            target = self.path if len(self.path) <= 120 else self.path[:119] + "…"
            print(
                f"{self.command} {target} -> {status} ({duration_s * 1000:.0f} ms)",
                file=self.server.log,
                flush=True,
            )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Replaced by access_log, which knows the duration."""

    def log_message(self, format: str, *args: object) -> None:
        if self.server.log is not None:
            print(f"serve: {format % args}", file=self.server.log, flush=True)


class LocalTrigger:
    """The emulator, the function configured for it, and the HTTP server in front."""

    def __init__(
        self,
        *,
        port: int = 0,
        seed: list[str],
        configuration: Mapping[str, str | None],
        runtime: Runtime = "python3.10",
        log: TextIO | None = sys.stderr,
    ) -> None:
        self.runner = FunctionRunner(runtime=runtime)
        self._port = port
        self._seed = seed
        self._configuration = configuration
        self._log = log
        self._stack = contextlib.ExitStack()
        self._server: TriggerServer | None = None
        self._thread: threading.Thread | None = None
        self.emulator: CamsEmulator | None = None

    def start(self) -> LocalTrigger:
        try:
            self.emulator = self._stack.enter_context(LocalCams(self._seed))
            self._stack.enter_context(
                scoped_environment(
                    {
                        **self._configuration,
                        **endpoint_environment(self.emulator.endpoint),
                        **self.runner.environment(),
                    }
                )
            )
            self.runner.initialize()  # as FC does when an instance starts
            self._server = TriggerServer(self._port, self.runner, log=self._log)
        except BaseException:
            self._stack.close()
            raise
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_S},
            name="cams-local-serve",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._stack.close()

    def __enter__(self) -> LocalTrigger:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_port if self._server is not None else self._port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def serve(
    port: int,
    *,
    overrides: Mapping[str, str],
    runtime: Runtime = "python3.10",
    out: TextIO = sys.stdout,
) -> int:
    """Run until SIGINT (Ctrl-C) or SIGTERM; both stop the server and the emulator."""
    drop_proxy_variables()
    manifest = load_manifest()
    seed = manifest.seed()
    configuration = function_configuration(manifest.environment, overrides, inherit=True)
    # A plain flag: a handler that set a threading.Event could deadlock on the lock the
    # interrupted main thread holds inside Event.wait.
    stopping: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    trigger = LocalTrigger(port=port, seed=seed, configuration=configuration, runtime=runtime)
    try:
        trigger.start()
    except OSError as error:
        print(f"serve: cannot listen on {HOST}:{port}: {error.strerror or error}", file=sys.stderr)
        return 1
    except Exception as error:  # the initializer refused the configuration
        print(
            f"serve: the function did not start: {type(error).__name__}: {error}", file=sys.stderr
        )
        return 2
    assert trigger.emulator is not None
    configured = {name: value for name, value in configuration.items() if value is not None}
    print(f"serve: the function's HTTP trigger on {trigger.url} (Ctrl-C stops)", file=out)
    print(
        f"serve: CAMS emulator on {trigger.emulator.endpoint}; function configuration: "
        + (", ".join(f"{k}={v}" for k, v in configured.items()) or "defaults"),
        file=out,
    )
    print(f"serve: instances: {' '.join(sorted(trigger.emulator.instances()))}", file=out)
    print(f"serve: try  curl -X DELETE {trigger.url}/instances/cams-7f3a9c01", file=out, flush=True)
    try:
        while not stopping:
            time.sleep(0.2)  # a signal ends the sleep early
    finally:
        trigger.stop()
    print("serve: stopped", file=out, flush=True)
    return 0
