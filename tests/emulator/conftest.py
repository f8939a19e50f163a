"""Fixtures: an emulator per test on a free port, and the real SDK (sync or async) aimed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cams_emulator import CamsEmulator
from tests.emulator.support import PROXY_VARS, SEEDED, Sdk, credentials, make_client


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK sends even 127.0.0.1 through a proxy when these are set.
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emulator() -> Iterator[CamsEmulator]:
    """A started emulator on a free port: three instances, three keys (see support.py)."""
    with CamsEmulator(credentials=credentials(), instances=SEEDED) as emu:
        yield emu


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sdk(emulator: CamsEmulator, mode: str) -> Sdk:
    return Sdk(make_client(emulator), mode)


@pytest.fixture
def sdk_as(emulator: CamsEmulator, mode: str) -> Callable[..., Sdk]:
    """``sdk_as(ak, sk, token=None)``: the SDK with other keys, same mode."""

    def build(ak: str, sk: str, token: str | None = None) -> Sdk:
        return Sdk(make_client(emulator, ak, sk, token), mode)

    return build
