"""Cold start: what the SDK imports but the function never uses is loaded on first use,
not at import, and loads for real, once, the moment anything does use it: modules
(aiohttp, apscheduler's scheduler), and the submodules of a package that only re-exports
their names (the models)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cams_delete import startup
from cams_emulator import CamsEmulator
from tests.conftest import ROLE, ROOT

# A module that records each time its body runs, a submodule, and an importer written
# the way darabonba is: names from it at import only in annotations, uses it later.
PROBE = """\
from pathlib import Path

from .client import ClientSession

with Path(__file__).with_name("loads").open("a") as loads:
    loads.write("loaded\\n")

VALUE = 42
"""
# A submodule the package imports itself, as aiohttp's __init__ imports aiohttp.client.
CLIENT = """\
from pathlib import Path

with Path(__file__).with_name("client_loads").open("a") as loads:
    loads.write("loaded\\n")


class ClientSession:
    pass
"""
IMPORTER = """\
import {name}
from {name} import ClientSession


def open_session(session: {name}.ClientSession) -> ClientSession:
    return session


def value():
    return {name}.VALUE
"""

# An importer written the way the credentials' ECS provider is: a class from it, only ever
# instantiated, and only when that provider is used.
CALLER = """\
from {name}.client import ClientSession


def new_session():
    return ClientSession()
"""


def count_lines(path: Path) -> int:
    """How many times a probe module's body ran: it writes a line each time."""
    return len(path.read_text().splitlines()) if path.exists() else 0


@contextmanager
def probe_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: str, files: dict[str, str]
) -> Iterator[tuple[str, Path]]:
    """A package of a fresh name on sys.path, its files formatted with that name; its
    modules leave sys.modules afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    package = tmp_path / name
    package.mkdir()
    for file, text in files.items():
        (package / file).write_text(text.format(name=name))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, package
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


@dataclass
class Probe:
    name: str
    importer: str
    directory: Path

    def loads(self, of: str = "loads") -> int:
        return count_lines(self.directory / of)


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    files = {"__init__.py": PROBE, "client.py": CLIENT, "sub.py": 'SUB = "sub"\n'}
    with probe_package(tmp_path, monkeypatch, "probe", files) as (name, package):
        (tmp_path / f"{name}_importer.py").write_text(IMPORTER.format(name=name))
        yield Probe(name, f"{name}_importer", package)


def import_deferred(probe: Probe) -> object:
    with startup.deferred_import(probe.name, stand_ins=("ClientSession",)):
        return importlib.import_module(probe.importer)


def test_an_import_that_only_names_the_module_does_not_load_it(probe: Probe):
    """GIVEN a module deferred while an importer that names it in annotations is imported
    WHEN the import is done
    THEN the module's body has not run, the names read are stand-ins, and the importer
    holds the deferred module, which no longer stands in sys.modules."""
    importer = import_deferred(probe)

    assert probe.loads() == 0
    assert isinstance(importer.__dict__[probe.name], startup.DeferredModule)
    assert probe.name not in sys.modules
    stand_in = importer.ClientSession  # type: ignore[attr-defined]
    assert stand_in.__module__ == probe.name
    assert stand_in.__qualname__ == "ClientSession"


def test_the_first_use_loads_the_real_module_once(probe: Probe):
    """GIVEN a deferred module
    WHEN the importer uses it, twice
    THEN the real module is loaded once, serves the value, and replaces the stand-in."""
    importer = import_deferred(probe)

    assert importer.value() == 42  # type: ignore[attr-defined]
    assert importer.value() == 42  # type: ignore[attr-defined]

    assert probe.loads() == 1
    real = sys.modules[probe.name]
    assert not isinstance(real, startup.DeferredModule)
    assert Path(real.__file__ or "").parent == probe.directory
    deferred = importer.__dict__[probe.name]
    assert deferred.ClientSession is real.ClientSession  # later reads are the real class


def test_a_class_only_instantiated_loads_the_real_module_when_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """GIVEN a submodule deferred while an importer that only instantiates one of its
    classes is imported
    WHEN the import is done, and then the importer makes an instance, twice
    THEN the import loads nothing, and each call returns an instance of the real class,
    which the first call loads once."""
    files = {"__init__.py": "", "client.py": CLIENT, "caller.py": CALLER}
    with probe_package(tmp_path, monkeypatch, "caller_probe", files) as (name, package):
        with startup.deferred_import(f"{name}.client", calls=("ClientSession",)):
            caller = importlib.import_module(f"{name}.caller")
        assert count_lines(package / "client_loads") == 0

        first, second = caller.new_session(), caller.new_session()

        real = sys.modules[f"{name}.client"]
        assert not isinstance(real, startup.DeferredModule)
        assert type(first) is real.ClientSession
        assert type(second) is real.ClientSession
        assert count_lines(package / "client_loads") == 1


def test_a_name_read_during_the_import_loads_the_real_module(probe: Probe):
    """GIVEN a module being deferred
    WHEN something reads a name that has no stand-in before the import is done
    THEN it gets the real value: an unexpected use costs time, never correctness."""
    with startup.deferred_import(probe.name, stand_ins=("ClientSession",)):
        value = sys.modules[probe.name].VALUE

    assert value == 42
    assert probe.loads() == 1


def test_import_system_probes_during_the_import_do_not_load_it(probe: Probe):
    """GIVEN a module being deferred
    WHEN `from module import name` looks for `__path__` (and others for `__spec__`)
    THEN those are missing while the import runs, found on the real module after it."""
    with startup.deferred_import(probe.name, stand_ins=("ClientSession",)):
        deferred = sys.modules[probe.name]
        assert not hasattr(deferred, "__path__")
        assert not hasattr(deferred, "__spec__")
        assert probe.loads() == 0

    assert deferred.__spec__ is not None
    assert deferred.__spec__.name == probe.name
    assert probe.loads() == 1


def test_a_submodule_imports_after_the_import(probe: Probe):
    """GIVEN a deferred module
    WHEN one of its submodules is imported
    THEN the package loads for real and the submodule with it."""
    import_deferred(probe)

    sub = importlib.import_module(f"{probe.name}.sub")

    assert sub.SUB == "sub"
    assert probe.loads() == 1


def test_a_submodule_the_package_imports_loads_once(probe: Probe):
    """GIVEN a deferred package whose __init__ imports one of its submodules
    WHEN that submodule is imported by name before anything used the package
    THEN the submodule's body runs once, and the package and the deferred module serve
    the same class."""
    importer = import_deferred(probe)

    client = importlib.import_module(f"{probe.name}.client")

    assert probe.loads("client_loads") == 1
    assert probe.loads() == 1
    assert client.ClientSession is sys.modules[probe.name].ClientSession
    assert client.ClientSession is importer.__dict__[probe.name].ClientSession


def test_a_module_already_imported_is_left_alone(probe: Probe):
    """GIVEN a module imported before
    WHEN an import defers it
    THEN the module in sys.modules is the same one, and its body ran once."""
    real = importlib.import_module(probe.name)

    import_deferred(probe)

    assert sys.modules[probe.name] is real
    assert probe.loads() == 1


def test_concurrent_first_uses_load_it_once(probe: Probe):
    """GIVEN a deferred module
    WHEN eight threads use it at the same moment
    THEN each gets the real value and the module's body runs once (and the module in
    sys.modules is the one they were served from)."""
    importer = import_deferred(probe)
    start = threading.Barrier(8)
    values: list[int] = []

    def use() -> None:
        start.wait()
        values.append(importer.value())  # type: ignore[attr-defined]

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert values == [42] * 8
    assert probe.loads() == 1
    assert importer.__dict__[probe.name].VALUE is sys.modules[probe.name].VALUE


# A package whose __init__ only re-exports, written the way the SDK's models package is;
# its submodules record each run of their bodies and read each other through the package.
LAZY_INIT = """\
# -*- coding: utf-8 -*-
# This file is auto-generated, don't edit it. Thanks.
from __future__ import annotations

from ._first import First
from ._second import Second, SecondPart

__all__ = [
    First,
    Second,
    SecondPart,
]
"""
LAZY_FIRST = """\
from pathlib import Path

import {name} as package

with Path(__file__).with_name("_first_loads").open("a") as loads:
    loads.write("loaded\\n")


class First:
    def second(self):
        return package.Second
"""
LAZY_SECOND = """\
from pathlib import Path

with Path(__file__).with_name("_second_loads").open("a") as loads:
    loads.write("loaded\\n")


class Second:
    pass


class SecondPart:
    pass
"""


@dataclass
class LazyProbe:
    name: str
    directory: Path

    def loads(self, module: str) -> int:
        return count_lines(self.directory / f"{module}_loads")


@pytest.fixture
def lazy_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LazyProbe]:
    # A submodule imports the package at its top, as the SDK's models do.
    files = {"__init__.py": LAZY_INIT, "_first.py": LAZY_FIRST, "_second.py": LAZY_SECOND}
    with probe_package(tmp_path, monkeypatch, "lazy_probe", files) as (name, package):
        yield LazyProbe(name, package)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("from ._a import A\nVALUE = 1\n", id="an assignment"),
        pytest.param("from ._a import A\nregister(A)\n", id="a call"),
        pytest.param("import os\nfrom ._a import A\n", id="an absolute import"),
        pytest.param("from ._a import A as B\n", id="a renaming import"),
        pytest.param("from ._a import (\n    A,\n)\n", id="a parenthesised import"),
        pytest.param("if True:\n    from ._a import A\n", id="a block"),
        pytest.param("from ._a import A\n__all__ = [\n    A,\n", id="an unclosed __all__"),
        pytest.param("from ._a import A\n__all__ = [\n    f(A),\n]\n", id="a call in __all__"),
        pytest.param("# nothing but a comment\n", id="no names"),
    ],
)
def test_an_init_that_does_anything_else_is_not_read_as_reexports(source: str):
    """GIVEN an __init__ with a line that is not a re-export, a comment or __all__
    WHEN it is read
    THEN it is not taken for re-exports: skipping it could skip what it does."""
    assert startup.reexported_names(source) is None


def test_reexports_are_read_name_by_name():
    """GIVEN an __init__ written the way the SDK's models package is
    WHEN it is read
    THEN every name maps to the submodule that defines it."""
    assert startup.reexported_names(LAZY_INIT) == {
        "First": "_first",
        "Second": "_second",
        "SecondPart": "_second",
    }


def test_a_lazy_package_imports_no_submodule_until_a_name_is_read(lazy_probe: LazyProbe):
    """GIVEN a package that only re-exports, imported lazily
    WHEN nothing is read from it
    THEN none of its submodules has run, and it stands in sys.modules as a package."""
    package = startup.import_lazily(lazy_probe.name)

    assert isinstance(package, startup.LazyPackage)
    assert sys.modules[lazy_probe.name] is package
    assert package.__path__ == [str(lazy_probe.directory)]
    assert (lazy_probe.loads("_first"), lazy_probe.loads("_second")) == (0, 0)


def test_reading_a_name_imports_its_submodule_once(lazy_probe: LazyProbe):
    """GIVEN a lazy package
    WHEN one name is imported from it twice
    THEN only that name's submodule runs, once, and the name is the submodule's class."""
    startup.import_lazily(lazy_probe.name)

    first = importlib.import_module(lazy_probe.name).First
    again = importlib.import_module(lazy_probe.name).First

    assert first is again is sys.modules[f"{lazy_probe.name}._first"].First
    assert (lazy_probe.loads("_first"), lazy_probe.loads("_second")) == (1, 0)


def test_a_submodule_reads_its_siblings_through_the_package(lazy_probe: LazyProbe):
    """GIVEN a lazy package whose submodule names a sibling's class through the package
    WHEN that class is used
    THEN the sibling is imported then, once, and serves the same class."""
    package = startup.import_lazily(lazy_probe.name)

    second = package.First().second()

    assert second is sys.modules[f"{lazy_probe.name}._second"].Second
    assert second is package.Second
    assert (lazy_probe.loads("_first"), lazy_probe.loads("_second")) == (1, 1)


def test_any_other_name_runs_the_real_init(lazy_probe: LazyProbe):
    """GIVEN a lazy package, one of whose names was read
    WHEN a name it does not re-export is read (__all__, or one it does not have)
    THEN its real __init__ runs, once: __all__ is what an ordinary import gives, each
    submodule ran once, and a missing name is missing."""
    package = startup.import_lazily(lazy_probe.name)
    first = package.First

    everything = package.__all__

    assert everything == [first, package.Second, package.SecondPart]
    assert not hasattr(package, "Third")
    assert (lazy_probe.loads("_first"), lazy_probe.loads("_second")) == (1, 1)


def test_a_read_while_the_real_init_runs_sees_the_names_bound_so_far(lazy_probe: LazyProbe):
    """GIVEN a lazy package whose submodule reads, while the package's real __init__ runs
    (it imports that submodule), a name the package does not re-export
    WHEN __all__ is read, which runs the real __init__
    THEN it completes: the read inside finds nothing bound yet, as in any import, rather
    than waiting for itself."""
    second = lazy_probe.directory / "_second.py"
    second.write_text(
        f"import {lazy_probe.name} as package\n\n"
        'SEEN = getattr(package, "__version__", "not yet")\n' + second.read_text()
    )
    package = startup.import_lazily(lazy_probe.name)
    done: list[object] = []
    reader = threading.Thread(target=lambda: done.append(package.__all__), daemon=True)

    reader.start()
    reader.join(timeout=10)

    assert done, "reading __all__ did not finish"
    assert sys.modules[f"{lazy_probe.name}._second"].SEEN == "not yet"


def test_an_init_that_fails_fails_again_on_the_next_read(lazy_probe: LazyProbe):
    """GIVEN a lazy package whose real __init__ raises once it has re-exported its names
    WHEN a name it does not re-export is read, twice
    THEN both reads raise the __init__'s error, not a missing attribute."""
    init = lazy_probe.directory / "__init__.py"
    init.write_text(init.read_text() + "__all__ = undefined_name\n")
    # Made by hand: import_lazily would import this __init__ as usual (it does more).
    spec = importlib.util.spec_from_file_location(
        lazy_probe.name, init, submodule_search_locations=[str(lazy_probe.directory)]
    )
    assert spec is not None
    package = startup.LazyPackage.from_spec(spec, startup.reexported_names(LAZY_INIT) or {})
    sys.modules[lazy_probe.name] = package

    for _ in range(2):
        with pytest.raises(NameError, match="undefined_name"):
            _ = package.Third


def test_a_package_that_does_more_is_imported_as_usual(lazy_probe: LazyProbe):
    """GIVEN a package whose __init__ does more than re-export
    WHEN it is imported lazily
    THEN it is an ordinary import: its __init__ and submodules run at once."""
    init = lazy_probe.directory / "__init__.py"
    init.write_text(init.read_text() + "READY = True\n")

    package = startup.import_lazily(lazy_probe.name)

    assert not isinstance(package, startup.LazyPackage)
    assert package.READY is True
    assert (lazy_probe.loads("_first"), lazy_probe.loads("_second")) == (1, 1)


def test_a_package_already_imported_is_left_alone(lazy_probe: LazyProbe):
    """GIVEN a package imported before
    WHEN it is imported lazily
    THEN the module in sys.modules is the same one, and its submodules ran once."""
    real = importlib.import_module(lazy_probe.name)

    assert startup.import_lazily(lazy_probe.name) is real
    assert (lazy_probe.loads("_first"), lazy_probe.loads("_second")) == (1, 1)


def test_concurrent_first_reads_import_a_submodule_once(lazy_probe: LazyProbe):
    """GIVEN a lazy package
    WHEN eight threads read the same name at the same moment, and eight others __all__
    THEN every thread gets the same class and each submodule runs once."""
    package = startup.import_lazily(lazy_probe.name)
    start = threading.Barrier(16)
    seconds: list[object] = []
    everything: list[object] = []

    def read_second() -> None:
        start.wait()
        seconds.append(package.Second)

    def read_all() -> None:
        start.wait()
        everything.append(package.__all__)

    threads = [threading.Thread(target=read_second) for _ in range(8)]
    threads += [threading.Thread(target=read_all) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seconds == [sys.modules[f"{lazy_probe.name}._second"].Second] * 8
    assert len(everything) == 8
    assert all(value == everything[0] for value in everything)
    assert (lazy_probe.loads("_first"), lazy_probe.loads("_second")) == (1, 1)


# The function's own import in a fresh interpreter: the test process may have loaded
# aiohttp already, and then nothing is deferred.
SDK_DRIVER = textwrap.dedent(
    """
    import asyncio, json, sys

    HANDLER, ENDPOINT, OUT, KEY_ID, SECRET, TOKEN = sys.argv[1:7]
    sys.path.insert(0, HANDLER)
    from cams_delete import cams

    def models():
        prefix = "alibabacloud_cams20200606.models."
        return sorted(name[len(prefix):] for name in sys.modules if name.startswith(prefix))

    sdk = cams.load_sdk()
    report = {"after_import": "aiohttp.connector" in sys.modules}
    report["scheduler_after_import"] = "apscheduler" in sys.modules
    # What only RSA signing, websockets and the credential files' async reads use.
    unused = ("cryptography.hazmat.bindings._rust", "websocket", "aiofiles")
    report["unused_after_import"] = [name for name in unused if name in sys.modules]
    package = sys.modules["alibabacloud_cams20200606.models"]
    report["models_after_import"] = [type(package).__name__, models()]
    client = sdk.client(sdk.config(
        access_key_id=KEY_ID, access_key_secret=SECRET, security_token=TOKEN,
        endpoint=ENDPOINT, protocol="http", region_id="ap-southeast-1",
    ))
    runtime = sdk.runtime_options(autoretry=False)
    # The function's own call: call_api with the generated method's parameters.
    sync = client.call_api(
        sdk.delete_instance, sdk.open_api_request(query={"InstanceId": "i-sync"}), runtime
    )
    report["sync"] = [sync["body"]["Code"], "aiohttp.connector" in sys.modules]
    report["scheduler_after_call"] = "apscheduler" in sys.modules
    report["unused_after_call"] = [name for name in unused if name in sys.modules]
    # Each, when used, is the real thing. A key pair's signature verifies:
    from alibabacloud_tea_openapi import client as openapi_client, utils as openapi_utils
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signature = openapi_utils.rsa_sign(b"signed text", pem)
    key.public_key().verify(signature, b"signed text", padding.PKCS1v15(), hashes.SHA256())
    report["rsa_signature_bytes"] = len(signature)
    # the websocket settings and protocols are read from the real modules,
    from darabonba.runtime import RuntimeOptions
    report["websocket"] = [
        openapi_client.get_web_socket_ping_interval(RuntimeOptions(web_socket_ping_interval=7)),
        openapi_client.websocket_utils.SubProtocolAWAP,
        type(sys.modules["darabonba.websocket"]).__name__,
    ]
    # and a provider reads its token file with the real aiofiles.
    from alibabacloud_credentials.provider import oidc
    token_file = OUT + ".token"
    with open(token_file, "w") as token:
        token.write("oidc-token")
    report["aiofiles"] = [
        asyncio.run(oidc._get_token_async(token_file)),
        oidc.aiofiles.open.__module__,
    ]
    # The ECS provider makes its scheduler when used: a real one, loaded then.
    from alibabacloud_credentials.provider import ecs_ram_role
    scheduler = ecs_ram_role.BackgroundScheduler()
    report["scheduler"] = [type(scheduler).__module__, type(scheduler).__name__]
    report["models_after_call"] = models()
    # What the generated method hands to call_api, for the same instance.
    handed = []
    forward = client.call_api

    def recording(params, request, runtime):
        handed.append([params.to_map(), request.to_map()])
        return forward(params, request, runtime)

    client.call_api = recording
    from alibabacloud_cams20200606.models import DeleteInstanceRequest

    generated = client.delete_instance_with_options(
        DeleteInstanceRequest(instance_id="i-generated"), runtime
    )
    client.call_api = forward
    own = [sdk.delete_instance.to_map(), {"query": {"InstanceId": "i-generated"}}]
    report["generated"] = [generated.body.code, handed == [own]]
    call = client.delete_instance_with_options_async(
        DeleteInstanceRequest(instance_id="i-async"), runtime
    )
    answer = asyncio.run(call)
    report["async"] = [answer.body.code, "aiohttp.connector" in sys.modules]
    with open(OUT, "w") as out:
        json.dump(report, out)
    """
)


def test_the_sdk_loads_what_a_call_needs_when_it_needs_it(emulator: CamsEmulator, tmp_path: Path):
    """GIVEN a fresh interpreter that imports the SDK the way the function does
    WHEN it deletes one instance with the sync call, then one with the async call
    THEN aiohttp is not loaded by the import or the sync call, and the async call loads
    it and works (the stand-ins do not leak into the SDK's async transport); of the models
    package's 576 modules, neither the import nor the function's call loads any (a new SDK
    whose models __init__ does more fails here); apscheduler is not loaded by the import
    or the call, and the credentials' ECS provider, when used, makes a real scheduler;
    cryptography (RSA signing), websocket-client and aiofiles are not loaded by the import
    or the call, and each works when used: a key pair's signature verifies, the websocket
    settings are read, a provider reads its token file;
    and the function's call_api parameters are those the generated
    delete_instance_with_options hands over."""
    emulator.add_instances("i-sync", "i-generated", "i-async")
    out = tmp_path / "report.json"
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    keys = [ROLE.access_key_id, ROLE.access_key_secret, ROLE.security_token or ""]
    arguments = [str(ROOT / "handler"), emulator.endpoint, str(out), *keys]

    child = subprocess.run(
        [sys.executable, "-I", "-c", SDK_DRIVER, *arguments],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert child.returncode == 0, child.stderr
    report = json.loads(out.read_text())
    assert report == {
        "after_import": False,
        "scheduler_after_import": False,
        "unused_after_import": [],
        "models_after_import": ["LazyPackage", []],
        "sync": ["OK", False],
        "scheduler_after_call": False,
        "unused_after_call": [],
        "rsa_signature_bytes": 256,
        "websocket": [7, "awap", "module"],
        "aiofiles": ["oidc-token", "aiofiles.threadpool"],
        "scheduler": ["apscheduler.schedulers.background", "BackgroundScheduler"],
        "models_after_call": [],
        "generated": ["OK", True],
        "async": ["OK", True],
    }
    assert emulator.instances() == set()
