"""The HTTP layer: a threading server whose handler reads requests leanly and answers once."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cams_emulator.responses import JSON_TYPE, Reply, json_bytes
from cams_emulator.wire import BadRequestError, HttpRequest, read_request, render_response

log = logging.getLogger("cams_emulator")

Dispatch = Callable[[HttpRequest], Reply]


class EmulatorHTTPServer(ThreadingHTTPServer):
    """One daemon thread per connection; keep-alive connections reuse theirs."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmark clients open their connections all at once

    def __init__(
        self, address: tuple[str, int], dispatch: Dispatch, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.dispatch = dispatch
        self.tls = tls
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._closing = False
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # Accepted sockets inherit TCP_NODELAY on Linux; the handler sets it again anyway.
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Skip HTTPServer.server_bind: its getfqdn() can stall on a reverse DNS lookup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        if self.tls is not None:
            # The handshake runs on the connection's own thread (see _Handler.setup), so a
            # slow or failing client does not hold up accepting the others.
            connection = self.tls.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            if self._closing:  # accepted just before stop(): close it too
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                return
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake every handler thread blocked on an idle keep-alive connection."""
        with self._connections_lock:
            self._closing = True
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: see the delayed-ACK trap in the docs
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)
        self.handshake_failed = False
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (OSError, ValueError):  # the client refused the certificate, or left
                self.handshake_failed = True

    def handle(self) -> None:
        if not self.handshake_failed:
            super().handle()

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.untrack(self.connection)

    def handle_one_request(self) -> None:
        self.close_connection = True
        try:
            request = read_request(self.rfile)
        except BadRequestError as exc:
            self._write(Reply(400, json_bytes({"error": str(exc)})), keep_alive=False)
            return
        except (OSError, ValueError):  # reset by peer, or rfile closed by stop()
            return
        if request is None:
            return
        try:
            reply = self.server.dispatch(request)
        except Exception:
            log.exception("cams emulator: unhandled error")  # for the developer, not the client
            reply = Reply(
                500,
                json_bytes({"Code": "InternalError", "Message": "The emulator failed."}),
            )
        if reply.abort == "reset":
            self._reset()
            return
        if reply.abort == "close":
            return
        self.close_connection = not request.keep_alive
        self._write(reply, keep_alive=request.keep_alive)

    def _write(self, reply: Reply, *, keep_alive: bool) -> None:
        headers = reply.headers
        if reply.request_id:
            headers = (("x-acs-request-id", reply.request_id), *headers)
        data = render_response(
            reply.status,
            reply.body,
            content_type=reply.content_type or JSON_TYPE,
            headers=headers,
            keep_alive=keep_alive,
        )
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 turns close() into a TCP RST."""
        connection = self.connection
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # drop the makefile reference so close() really closes
            connection.close()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: per-request logging costs more than the request."""
