"""CamsEmulator: the in-process handle on a running emulator."""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterable, Sequence
from types import TracebackType

from cams_emulator.actions import InstanceActions
from cams_emulator.auth import Authenticator
from cams_emulator.control import handle_control, is_control_path
from cams_emulator.faults import FaultBook
from cams_emulator.gateway import Gateway
from cams_emulator.models import Credential, Fault, JournalEntry
from cams_emulator.responses import Reply
from cams_emulator.server import EmulatorHTTPServer
from cams_emulator.state import InstanceStore, Journal
from cams_emulator.wire import HttpRequest

_POLL_S = 0.05  # how soon serve_forever notices stop()


def require_loopback(host: str) -> None:
    """Refuse to listen beyond this machine: the emulator accepts keys anyone can guess."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the emulator listens on loopback addresses only, not {host!r}")


class CamsEmulator:
    """A stateful CAMS OpenAPI endpoint on loopback, for the unmodified SDK.

    ``with CamsEmulator(credentials=[...], instances=["123"]) as emu:`` then point the SDK's
    ``Config(endpoint=emu.endpoint, protocol=emu.protocol)`` at it (``http`` unless it was
    given a server-side ``tls`` context).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        credentials: Iterable[Credential] = (),
        instances: Iterable[str] = (),
        max_clock_skew_s: float = 900,
        ok_success_flag: bool = True,
        journal_limit: int = 100_000,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        require_loopback(host)
        self.host = host
        # A server-side context: the emulator then speaks HTTPS, as CAMS does.
        self._tls = tls
        self._requested_port = port
        self._stopping = threading.Event()
        self._store = InstanceStore(instances)
        self._faults = FaultBook()
        self._journal = Journal(journal_limit)
        self._auth = Authenticator(credentials, max_clock_skew_s=max_clock_skew_s)
        self._gateway = Gateway(
            authenticator=self._auth,
            actions=InstanceActions(self._store, ok_success_flag=ok_success_flag),
            faults=self._faults,
            journal=self._journal,
            stopping=self._stopping,
        )
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> CamsEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already started")
        self._stopping.clear()
        self._server = EmulatorHTTPServer(
            (self.host, self._requested_port), self._dispatch, tls=self._tls
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_S},
            name=f"cams-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests held by faults are let go, open connections closed."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> CamsEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_port if self._server is not None else self._requested_port

    @property
    def endpoint(self) -> str:
        """``host:port``, what the SDK's ``Config.endpoint`` takes."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def protocol(self) -> str:
        """What the SDK's ``Config.protocol`` takes for this emulator."""
        return "https" if self._tls is not None else "http"

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.endpoint}"

    # -- state ---------------------------------------------------------------------------

    def add_instances(self, *ids: str) -> None:
        self._store.add_ids(ids)

    def instances(self) -> set[str]:
        return self._store.ids()

    def replace_instances(self, ids: Sequence[str]) -> None:
        self._store.replace_all(ids)

    def reset(self, instances: Sequence[str] = ()) -> None:
        """Clear instances (then seed ``instances``), faults, journal and seen nonces."""
        self._store.replace_all(instances)
        self._faults.clear()
        self._journal.clear()
        self._auth.forget_nonces()

    def add_credential(self, credential: Credential) -> None:
        self._auth.add(credential)

    def credentials(self) -> list[Credential]:
        return self._auth.credentials()

    # -- faults --------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> str:
        return self._faults.add(fault)

    def remove_fault(self, fault_id: str) -> bool:
        return self._faults.remove(fault_id)

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[dict[str, object]]:
        return self._faults.listing()

    # -- journal -------------------------------------------------------------------------

    def journal(self) -> list[JournalEntry]:
        return self._journal.entries()

    def calls(self, action: str = "DeleteInstance") -> list[JournalEntry]:
        return self._journal.entries(action)

    def clear_journal(self) -> None:
        self._journal.clear()

    # -- HTTP ----------------------------------------------------------------------------

    def _dispatch(self, request: HttpRequest) -> Reply:
        if is_control_path(request.path):
            return handle_control(self, request)
        return self._gateway.handle(request)
