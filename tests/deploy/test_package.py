"""The deployment package, built once for python3.10 as `make package` builds it.

It must be what FC can run and nothing else: handler/ at the root, the pinned dependencies
resolved for 3.10 (async_timeout included), unchecked-hash bytecode for every module, nothing
of this machine. The last test unpacks it and serves an event from it under python3.10 run
with -I -S and only the package on sys.path, against the CAMS emulator.

The target interpreter is required: these tests fail (never skip) without it, as CI has it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import certifi
import pytest

from cams_emulator import CamsEmulator, Credential
from cams_emulator.certificates import new_authority
from cams_local.runner import PROXY_VARIABLES
from tools import build_package

REPO = Path(__file__).resolve().parents[2]
RUNTIME = "python3.10"
TAG = "cpython-310"


@dataclass(frozen=True)
class Built:
    zip_path: Path
    interpreter: Path
    stdout: str
    names: list[str]

    def read(self, name: str) -> bytes:
        with zipfile.ZipFile(self.zip_path) as archive:
            return archive.read(name)


@pytest.fixture(scope="module")
def target_python() -> Path:
    try:
        return build_package.find_interpreter(RUNTIME)
    except build_package.BuildError as error:
        pytest.fail(f"the package tests need the target interpreter: {error}")


# The suite talks to loopback only: uv installs the package's dependencies from its cache,
# which `make fetch` (a step of `make test`) fills, and fails rather than download.
OFFLINE = {**os.environ, "UV_OFFLINE": "1"}
NOT_FETCHED = "if uv says a dependency is not in its cache, run `make fetch`"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, target_python: Path) -> Built:
    out = tmp_path_factory.mktemp("package") / "function.zip"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "build_package.py"),
            "--runtime",
            RUNTIME,
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env=OFFLINE,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"build failed ({NOT_FETCHED}):\n{result.stdout}\n{result.stderr}"
    )
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    return Built(out, target_python, result.stdout, names)


@pytest.fixture(scope="module")
def target_magic(target_python: Path) -> bytes:
    probe = subprocess.run(
        [str(target_python), "-I", "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bytes.fromhex(probe.stdout.strip())


def test_summary_and_size(built: Built) -> None:
    size = built.zip_path.stat().st_size
    assert size <= 16_000_000, f"{size:,} bytes zipped"
    assert f"{size:,} bytes" in built.stdout
    assert "files" in built.stdout


def test_handler_at_the_root(built: Built) -> None:
    names = set(built.names)
    assert "index.py" in names
    assert "cams_delete/__init__.py" in names
    handler_files = {
        p.relative_to(REPO / "handler").as_posix()
        for p in (REPO / "handler").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert handler_files <= names, sorted(handler_files - names)
    assert not [n for n in names if n.startswith("handler/")]


def test_dependencies_resolved_for_the_target_python(built: Built) -> None:
    names = set(built.names)
    # async-timeout ; python_full_version < '3.11': evaluated for 3.10, not for the builder.
    assert "async_timeout/__init__.py" in names
    assert any(re.fullmatch(r"async_timeout-[\d.]+\.dist-info/METADATA", n) for n in names)
    for module in ("alibabacloud_cams20200606/client.py", "structlog/__init__.py"):
        assert module in names
    # Compiled extensions are the target's: CPython 3.10 (or abi3) for linux x86_64.
    extensions = [n for n in names if n.endswith(".so")]
    assert extensions
    for name in extensions:
        assert re.search(r"\.(cpython-310-x86_64-linux-gnu|abi3)\.so$", name), name
    # apscheduler reads its own metadata at import: dist-info must stay.
    assert any(n.startswith("apscheduler-") and n.endswith(".dist-info/METADATA") for n in names)


def test_every_module_has_unchecked_hash_bytecode_for_the_target(
    built: Built, target_magic: bytes
) -> None:
    names = set(built.names)
    sources = [n for n in names if n.endswith(".py")]
    assert len(sources) > 500
    missing = []
    with zipfile.ZipFile(built.zip_path) as archive:
        for source in sources:
            folder, _, file = source.rpartition("/")
            pyc = f"{folder + '/' if folder else ''}__pycache__/{file[:-3]}.{TAG}.pyc"
            if pyc not in names:
                missing.append(source)
                continue
            header = archive.read(pyc)[:16]
            assert header[:4] == target_magic, f"{pyc}: not bytecode of the target Python"
            flags = int.from_bytes(header[4:8], "little")
            assert flags == 0b01, f"{pyc}: flags {flags:#04b}, want unchecked-hash (0b01)"
    assert not missing, f"no bytecode for {missing[:10]}"
    others = [n for n in names if n.endswith(".pyc") and f".{TAG}." not in n]
    assert not others, f"bytecode for another Python: {others[:10]}"


def test_nothing_of_the_build_machine(built: Built) -> None:
    names = built.names
    for pattern in (
        r"(^|/)tests?/",
        r"^cams_emulator/",
        r"^cams_local/",
        r"^(_)?pytest",
        r"^bin/",
        r"(^|/)\.venv",
        r"(^|/)\.(mypy|ruff|pytest)_cache/",
        r"^(tests|bench|tools|docs|events|dist)/",
        r"\.pth$",
        r"^\.lock$",
    ):
        found = [n for n in names if re.search(pattern, n)]
        assert not found, f"{pattern}: {found[:10]}"
    forbidden = {
        str(REPO).encode(),
        str(built.zip_path.parent).encode(),
        b"fc-package-",  # the staging directory's prefix
        str(Path(sys.prefix)).encode(),
        str(built.interpreter.parent.parent).encode(),
    }
    with zipfile.ZipFile(built.zip_path) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            leaked = [p.decode() for p in forbidden if p in data]
            assert not leaked, f"{info.filename} contains {leaked}"


def test_the_zip_is_deterministic(built: Built) -> None:
    with zipfile.ZipFile(built.zip_path) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {(i.external_attr >> 16) & 0o7777 for i in infos} <= {0o644, 0o755}
    assert not [i.filename for i in infos if i.is_dir()]


def test_compiling_the_same_sources_twice_gives_the_same_bytecode(
    built: Built, tmp_path: Path
) -> None:
    """GIVEN the package's sources, staged twice
    WHEN the build compiles each stage
    THEN every .pyc is the same, byte for byte: a rebuilt commit has the same SHA-256."""
    with zipfile.ZipFile(built.zip_path) as archive:
        sources = [name for name in archive.namelist() if name.endswith(".py")]
        stages = [tmp_path / "1", tmp_path / "2"]
        for stage in stages:
            archive.extractall(stage, sources)
    for stage in stages:
        build_package.compile_bytecode(built.interpreter, stage)

    first, second = ({p.relative_to(s): p.read_bytes() for p in s.rglob("*.pyc")} for s in stages)
    assert len(first) == len(sources)
    assert [name for name in first if first[name] != second.get(name)] == []


def test_writing_the_same_tree_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    (stage / "pkg").mkdir(parents=True)
    (stage / "pkg" / "b.py").write_text("B = 2\n")
    (stage / "a.py").write_text("A = 1\n")
    (stage / "run.sh").write_text("#!/bin/sh\n")
    (stage / "run.sh").chmod(0o775)
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    build_package.write_zip(stage, first)
    os.utime(stage / "a.py", (0, 0))
    build_package.write_zip(stage, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        modes = {i.filename: (i.external_attr >> 16) & 0o7777 for i in archive.infolist()}
    assert modes == {"a.py": 0o644, "pkg/b.py": 0o644, "run.sh": 0o755}


def test_only_the_handlers_python_sources_are_copied(tmp_path: Path) -> None:
    """GIVEN a handler/ working tree that also holds a local .env, an editor's backup, a
    hidden folder and a cache
    WHEN it is copied into the package
    THEN only its Python sources are, in their folders."""
    handler, stage = tmp_path / "handler", tmp_path / "stage"
    (handler / "pkg" / "__pycache__").mkdir(parents=True)
    (handler / ".idea").mkdir()
    stage.mkdir()
    for name in ("index.py", "pkg/__init__.py", "pkg/work.py"):
        (handler / name).write_text("X = 1\n")
    for name in (".env", "index.py~", "pkg/work.py.orig", "pkg/__pycache__/work.pyc", ".idea/x.py"):
        (handler / name).write_text("ALIBABA_CLOUD_ACCESS_KEY_SECRET=local\n")

    build_package.copy_handler(handler, stage)

    copied = sorted(str(path.relative_to(stage)) for path in stage.rglob("*") if path.is_file())
    assert copied == ["index.py", "pkg/__init__.py", "pkg/work.py"]


def test_wheel_tags_are_checked() -> None:
    fits = build_package._tag_fits
    assert fits("cp310-cp310-manylinux_2_17_x86_64", 3, 10)
    assert fits("cp310-cp310-manylinux2014_x86_64", 3, 10)
    assert fits("cp39-abi3-manylinux_2_28_x86_64", 3, 10)
    assert not fits("cp311-cp311-manylinux_2_17_x86_64", 3, 10)
    assert not fits("cp310-cp310-linux_x86_64", 3, 10), "built on this machine, not portable"
    assert not fits("cp310-cp310-manylinux_2_34_x86_64", 3, 10), "newer glibc than Debian 10"
    assert not fits("cp310-cp310-manylinux_2_17_aarch64", 3, 10)
    assert not fits("cp312-abi3-manylinux_2_17_x86_64", 3, 10)


def test_a_missing_interpreter_fails_clearly() -> None:
    with pytest.raises(build_package.BuildError, match=r"no CPython 3\.10"):
        build_package.find_interpreter(RUNTIME, "/nonexistent/python3.10")
    with pytest.raises(build_package.BuildError, match="unknown runtime"):
        build_package.find_interpreter("python2.7")


# --- serving an event from the package -----------------------------------------------------

DRIVER = textwrap.dedent(
    """
    import json, sys, sysconfig

    PKG, OUT, KEYS = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.path.insert(0, PKG)
    import index


    class Namespace:
        def __init__(self, **fields):
            self.__dict__.update(fields)


    # python3.10's context carries the role's keys; python3.12's environment does.
    context = Namespace(
        request_id="req-package-1",
        credentials=Namespace(
            access_key_id="STS.package-ak",
            access_key_secret="package-sk",
            security_token="package-token",
        ) if KEYS == "context" else None,
        function=Namespace(
            name="cams-delete-instance", handler="index.handler", memory=128, timeout=30
        ),
        service=Namespace(log_project="", log_store="", qualifier="LATEST", version_id=""),
        region="ap-southeast-1",
        account_id="1234567890123456",
    )
    index.initialize(context)
    import ssl
    ssl_contexts = []
    create_default_context = ssl.create_default_context
    ssl.create_default_context = (
        lambda *a, **k: ssl_contexts.append(1) or create_default_context(*a, **k)
    )
    result = index.handler(b'{"InstanceId": "i-pkg-1"}', context)
    aiohttp_loaded = "aiohttp.connector" in sys.modules
    scheduler_loaded = "apscheduler" in sys.modules
    unused = ("cryptography.hazmat.bindings._rust", "websocket", "aiofiles")
    unused_loaded = [name for name in unused if name in sys.modules]
    models = sorted(m for m in sys.modules if m.startswith("alibabacloud_cams20200606.models."))
    files = sorted(
        {m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)}
    )
    paths = sysconfig.get_paths()
    with open(OUT, "w") as out:
        json.dump(
            {
                "result": result,
                "aiohttp_loaded": aiohttp_loaded,
                "scheduler_loaded": scheduler_loaded,
                "unused_loaded": unused_loaded,
                "ssl_contexts_in_first_invocation": len(ssl_contexts),
                "models": models,
                "files": files,
                "stdlib": [paths["stdlib"], paths["platstdlib"]],
                "flags": [sys.flags.isolated, sys.flags.no_site],
                "version": list(sys.version_info[:2]),
            },
            out,
        )
    """
)


@pytest.fixture
def unpacked(built: Built, tmp_path: Path) -> Path:
    target = tmp_path / "code"
    with zipfile.ZipFile(built.zip_path) as archive:
        archive.extractall(target)
    return target


@pytest.fixture
def emulator() -> Iterator[CamsEmulator]:
    credential = Credential(
        "STS.package-ak",
        "package-sk",
        "package-token",
        allowed_actions=frozenset({"cams:DeleteInstance"}),  # what the RAM policy grants
    )
    with CamsEmulator(credentials=[credential], instances=["i-pkg-1", "i-pkg-2"]) as emu:
        yield emu


def test_the_package_serves_an_event_under_the_target_runtime(
    built: Built, unpacked: Path, emulator: CamsEmulator, tmp_path: Path
) -> None:
    out = tmp_path / "result.json"
    env = {
        "CAMS_ENDPOINT": emulator.endpoint,
        "CAMS_PROTOCOL": "http",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }
    assert not set(env) & set(PROXY_VARIABLES)
    child = subprocess.run(
        [
            str(built.interpreter),
            "-I",
            "-S",
            "-B",
            "-c",
            DRIVER,
            str(unpacked),
            str(out),
            "context",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert child.returncode == 0, f"stdout:\n{child.stdout}\nstderr:\n{child.stderr}"
    report = json.loads(out.read_text())
    assert report["version"] == [3, 10]
    assert report["flags"] == [1, 1]
    # The SDK's async transport, never used by the function, is not loaded (cold start).
    assert report["aiohttp_loaded"] is False
    # Nor the scheduler that refreshes an ECS instance's role keys, which it never uses.
    assert report["scheduler_loaded"] is False
    # Nor RSA signing's cryptography, websocket-client, or the credential files' aiofiles.
    assert report["unused_loaded"] == []
    # Nor are the SDK's typed models, one module per request and response of every CAMS
    # API: the function's call reads the answer as the dict it arrives as.
    assert report["models"] == []
    # The initializer built the transport adapter whose SSL context the SDK would make
    # inside the first request (see cams.AdaptersBuiltAhead).
    assert report["ssl_contexts_in_first_invocation"] == 0

    result = report["result"]
    assert {
        "Success",
        "Code",
        "Message",
        "RequestId",
        "AccessDeniedDetail",
        "InstanceId",
        "Outcome",
        "Retryable",
        "Attempts",
    } <= set(result)
    assert result["Outcome"] == "deleted", result
    assert result["Success"] is True
    assert result["InstanceId"] == "i-pkg-1"
    assert emulator.instances() == {"i-pkg-2"}
    (call,) = emulator.calls("DeleteInstance")
    assert call.instance_id == "i-pkg-1"
    assert call.security_token == "package-token"
    assert call.signature_valid

    # Everything the function loaded came from the package or the interpreter's stdlib.
    allowed = [str(unpacked.resolve())] + [str(Path(p).resolve()) for p in report["stdlib"]]
    outside = [
        f
        for f in report["files"]
        if not any(str(Path(f).resolve()).startswith(root + os.sep) for root in allowed)
    ]
    assert not outside, outside
    assert any(f.startswith(str(unpacked)) for f in report["files"])
    assert "site-packages" not in "".join(report["files"])


def test_the_python312_package_serves_an_event_with_the_keys_in_the_environment(
    tmp_path: Path, emulator: CamsEmulator
) -> None:
    """GIVEN the package built for python3.12 (make package RUNTIME=python3.12)
    WHEN python3.12 runs it the way FC does, the role's keys in ALIBABA_CLOUD_* variables
    and none on the context, and Python's warnings on
    THEN it deletes the instance, signing with those keys, and writes nothing to stderr."""
    try:
        interpreter = build_package.find_interpreter("python3.12")
    except build_package.BuildError as error:
        pytest.fail(f"this test needs CPython 3.12: {error}")
    out_zip = tmp_path / "function.zip"
    build = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_package.py"), "--runtime", "python3.12",
         "--output", str(out_zip)],
        capture_output=True, text=True, check=False, cwd=REPO, env=OFFLINE, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, f"build failed ({NOT_FETCHED}):\n{build.stdout}\n{build.stderr}"
    code = tmp_path / "code"
    with zipfile.ZipFile(out_zip) as archive:
        archive.extractall(code)
        assert not [
            n for n in archive.namelist() if n.endswith(".pyc") and ".cpython-312." not in n
        ]
    out = tmp_path / "result.json"
    env = {
        "CAMS_ENDPOINT": emulator.endpoint,
        "CAMS_PROTOCOL": "http",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.package-ak",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "package-sk",
        "ALIBABA_CLOUD_SECURITY_TOKEN": "package-token",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }

    # Warnings on, as an operator debugging the function might turn them on.
    child = subprocess.run(
        [str(interpreter), "-I", "-S", "-B", "-W", "default", "-c", DRIVER, str(code), str(out),
         "environment"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip

    assert child.returncode == 0, f"stdout:\n{child.stdout}\nstderr:\n{child.stderr}"
    assert child.stderr == ""  # the SDK's own deprecation warnings included
    report = json.loads(out.read_text())
    assert report["version"] == [3, 12]
    assert report["result"]["Outcome"] == "deleted", report["result"]
    (call,) = emulator.calls("DeleteInstance")
    assert call.instance_id == "i-pkg-1"
    assert call.security_token == "package-token"
    assert call.signature_valid


def test_bytecode_is_used_as_is(built: Built, unpacked: Path) -> None:
    # Unchecked-hash bytecode is loaded without looking at the source: a source that would
    # fail if it were compiled again goes unnoticed, and nothing new is written.
    index_source = unpacked / "index.py"
    index_source.write_text(index_source.read_text() + "\nraise SystemExit('source was read')\n")
    before = sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*"))
    probe = subprocess.run(
        [
            str(built.interpreter),
            "-I",
            "-S",
            "-c",
            f"import sys; sys.path.insert(0, {str(unpacked)!r}); "
            "import index, alibabacloud_cams20200606.client, async_timeout; "
            "print(index.__cached__)",
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().endswith(f"__pycache__/index.{TAG}.pyc")
    after = sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*"))
    assert before == after, "the import wrote files: bytecode was not used as shipped"


# --- the bench's programs, against this package ---------------------------------------------


def test_the_bench_drivers_run_against_the_package(built: Built, tmp_path: Path) -> None:
    """GIVEN the built package and the bench's credentials on an emulator
    WHEN each bench measurement and the profiles run a few rounds, HTTPS included (their drivers are
    code in strings, which neither ruff nor mypy read)
    THEN every driver checks its answers and reports a sample for every contender."""
    from bench import child, measure, package

    credentials = child.Credentials()
    role = Credential(
        credentials.access_key_id, credentials.access_key_secret, credentials.security_token
    )
    with CamsEmulator(credentials=[role]) as emulator:
        unpacked = package.unpack(built.zip_path, built.interpreter, RUNTIME, tmp_path)
        target = measure.Target(unpacked, emulator, credentials, tmp_path)

        cold = measure.cold(target, samples=1)
        warm = measure.warm(target, iterations=6, warmup=2)
        batch = measure.batch(target, runs=1)
        stages = measure.stages(target, calls=5)
        first = measure.first_call(target, top=5)
        transport = measure.transport(target, calls=4, warmup=1)
        insitu = measure.insitu(target, rounds=4, bare_per_round=2, warmup=2)

    authority = new_authority("bench drivers test authority")
    bundle = authority.added_to(certifi.where(), tmp_path / "cacert.pem")
    tls = authority.server_context(tmp_path)
    with CamsEmulator(credentials=[role], tls=tls) as https_emulator:
        target = measure.Target(unpacked, https_emulator, credentials, tmp_path)
        target.env["CAMS_PROTOCOL"] = https_emulator.protocol
        https = measure.https_calls(target, str(bundle), pairs=1)

    assert set(cold) == set(measure.COLD_VARIANTS)
    assert all(cold[name]["served_s"]["n"] == 1 for name in measure.COLD_VARIANTS)
    assert all(warm[name]["n"] == 6 for name in measure.WARM_CONTENDERS)
    assert all(warm[name]["median"] > 0 for name in measure.WARM_CONTENDERS)
    assert batch["calls"] == measure.BATCH_SIZE
    assert stages["handler, SDK call stubbed"] > 0
    assert all(micros > 0 for micros in stages.values())
    assert first["initialize_s"] > 0
    assert first["first_call_s"] > 0
    # The invocation's calls, the SDK's request included, and not only the profiler's own.
    profiled = re.search(r"(\d+) function calls", first["profile"])
    assert profiled is not None
    assert int(profiled.group(1)) > 1000
    assert transport["ok"], transport["bad"]
    assert 0 < transport["client_cpu_s"] <= transport["call_s"] * 1.01  # one thread
    # Every timer ran, and each stage fits inside the one around it.
    stages_s = transport["stages_s"]
    assert all(seconds > 0 for seconds in stages_s.values()), stages_s
    assert stages_s["the call"] >= stages_s["    sent (darabonba do_action)"]
    # Every step of the handler's path was reached and timed, the SDK call inside the
    # handler's total, and the steps no more than the total.
    assert insitu["ok"], insitu["bad"]
    steps = insitu["steps_s"]
    assert all(seconds > 0 for seconds in steps.values()), steps
    assert steps["the SDK call (call_api)"] < insitu["handler_s"]
    assert 0 < insitu["handler_without_call_s"] < insitu["handler_s"]
    assert insitu["between_steps_s"] > 0
    assert insitu["bare_s"] > 0
    assert set(https) == set(measure.HTTPS_VARIANTS)
    assert all(
        https[name][key] > 0 for name in measure.HTTPS_VARIANTS for key in measure.HTTPS_MEASURES
    )
