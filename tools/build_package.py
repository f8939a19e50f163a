#!/usr/bin/env python3
"""Build the Function Compute code package: `handler/` plus the pinned runtime dependencies.

    python tools/build_package.py --runtime python3.10 --output dist/function.zip

What the package holds and why:

* the pinned dependencies of requirements.txt, resolved **for the target Python**: uv runs
  against the target interpreter itself, so environment markers are evaluated for it
  (`async-timeout ; python_full_version < '3.11'` is kept for python3.10; building "for 3.10"
  from 3.11 silently drops it and the function dies at import) and wheels are picked for
  linux x86_64 (manylinux2014), whatever machine builds;
* the contents of `handler/` at the zip root (FC's `index.handler` is `index.py` at the root);
* bytecode for every module, compiled by the target interpreter with
  `--invalidation-mode unchecked-hash`: FC starts each instance from the unpacked package,
  whose file times say nothing, so timestamp-checked bytecode would be revalidated (or
  recompiled) on every cold start;
* nothing of the build machine: no console scripts (their shebangs name this machine's
  interpreter), no `__pycache__` it may have left, no test suites the dependencies ship when
  nothing imports them. `*.dist-info` stays: some dependencies read their own metadata at
  import (apscheduler calls `importlib.metadata.version`).

The zip is deterministic: sorted entries, fixed timestamps, 0644/0755 modes. The build fails
when the package exceeds 16 MB zipped.

`--fetch-only` installs the dependencies into a throwaway directory and stops: uv keeps them
in its cache, from which the tests build packages offline (`make fetch`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIMES = {"python3.10": (3, 10), "python3.12": (3, 12)}
MAX_ZIP_BYTES = 16_000_000  # "16 MB", read strictly
# Where FC unpacks the code package: the path compile-time tracebacks will show.
FC_CODE_DIR = "/code"
# FC's python3.10 runs on Debian 10 (glibc 2.28), python3.12 on Debian 11: manylinux2014
# (glibc 2.17) wheels run on both.
PYTHON_PLATFORM = "x86_64-manylinux2014"
# 1980-01-01 00:00:00, the earliest time a zip entry can hold.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
TEST_DIR_NAMES = frozenset({"tests", "test", "testing"})
_PLATFORM_TAG = re.compile(r"^manylinux(?:1|2010|2014|_(\d+)_(\d+))_x86_64$")
_MANYLINUX_LEGACY = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
MAX_GLIBC_MINOR = 28  # Debian 10, the older of the two runtimes


class BuildError(RuntimeError):
    """The package cannot be built as asked; the message says what to do."""


@dataclass(frozen=True)
class Summary:
    output: Path
    runtime: str
    interpreter: Path
    zipped_bytes: int
    unpacked_bytes: int
    files: int
    sha256: str

    def lines(self) -> list[str]:
        return [
            f"package   {self.output}",
            f"runtime   {self.runtime} (compiled with {self.interpreter})",
            f"zipped    {self.zipped_bytes:,} bytes ({self.zipped_bytes / 1e6:.1f} MB, "
            f"limit {MAX_ZIP_BYTES / 1e6:.0f} MB)",
            f"unpacked  {self.unpacked_bytes:,} bytes ({self.unpacked_bytes / 1e6:.1f} MB)",
            f"files     {self.files:,}",
            f"sha256    {self.sha256}",
        ]


def find_interpreter(runtime: str, explicit: str | None = None) -> Path:
    """The CPython that FC's `runtime` runs: --python, else pyenv's, else pythonX.Y on PATH."""
    if runtime not in RUNTIMES:
        raise BuildError(f"unknown runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
    major, minor = RUNTIMES[runtime]
    version = f"{major}.{minor}"
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    else:
        pyenv = shutil.which("pyenv")
        if pyenv:
            found = subprocess.run(
                [pyenv, "prefix", version], capture_output=True, text=True, check=False
            )
            if found.returncode == 0 and found.stdout.strip():
                prefix = Path(found.stdout.strip().splitlines()[0])
                candidates.append(prefix / "bin" / f"python{version}")
        on_path = shutil.which(f"python{version}")
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        try:
            probe = subprocess.run(
                [
                    str(candidate),
                    "-c",
                    "import sys; print(sys.implementation.name, *sys.version_info[:2])",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError:  # missing, or not executable
            continue
        if probe.returncode == 0 and probe.stdout.split() == ["cpython", str(major), str(minor)]:
            return candidate
    tried = ", ".join(str(c) for c in candidates) or "nothing found"
    raise BuildError(
        f"no CPython {version} interpreter for {runtime} (tried: {tried}). Bytecode must come "
        f"from the runtime's own Python: install it (e.g. `pyenv install {version}`) or pass "
        f"--python /path/to/python{version} (make package TARGET_PYTHON=...)."
    )


def find_uv() -> Path:
    """uv from the interpreter's own venv (requirements-dev.txt pins it), else from PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return beside
    on_path = shutil.which("uv")
    if on_path:
        return Path(on_path)
    raise BuildError("uv not found: run `make setup` (requirements-dev.txt pins it)")


def install_dependencies(interpreter: Path, requirements: Path, stage: Path) -> None:
    """Install the hashed pins into `stage`, markers evaluated by the target interpreter."""
    command = [
        str(find_uv()),
        "pip",
        "install",
        "--quiet",
        "--python",
        str(interpreter),
        "--target",
        str(stage),
        "--python-platform",
        PYTHON_PLATFORM,
        "--require-hashes",
        "--no-deps",  # the file is fully pinned; --no-deps keeps it the whole truth
        "--no-compile-bytecode",  # compiled below by the target interpreter, once
        "-r",
        str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"installing {requirements.name} failed:\n{result.stderr.strip()}")


def check_wheel_tags(stage: Path, major: int, minor: int) -> None:
    """Every compiled distribution must be a CPython X.Y (or abi3) linux x86_64 wheel."""
    problems: list[str] = []
    for wheel_file in sorted(stage.glob("*.dist-info/WHEEL")):
        fields = [line.split(":", 1) for line in wheel_file.read_text().splitlines() if ":" in line]
        pure = any(k.strip() == "Root-Is-Purelib" and v.strip() == "true" for k, v in fields)
        if pure:
            continue
        tags = [v.strip() for k, v in fields if k.strip() == "Tag"]
        if not any(_tag_fits(tag, major, minor) for tag in tags):
            problems.append(f"{wheel_file.parent.name}: {', '.join(tags) or 'no tags'}")
    if problems:
        raise BuildError(
            "compiled distributions that will not load on the FC runtime "
            f"(need cp{major}{minor} or abi3, manylinux x86_64): " + "; ".join(problems)
        )


def _tag_fits(tag: str, major: int, minor: int) -> bool:
    try:
        interpreter, abi, platform = tag.split("-")
    except ValueError:
        return False
    if abi == "abi3":
        oldest = interpreter.removeprefix(f"cp{major}")
        if oldest == interpreter or not oldest.isdigit() or int(oldest) > minor:
            return False
    elif (interpreter, abi) != (f"cp{major}{minor}", f"cp{major}{minor}"):
        return False
    match = _PLATFORM_TAG.match(platform)
    if not match:
        return False
    if match.group(1) is not None:
        return int(match.group(1)) == 2 and int(match.group(2)) <= MAX_GLIBC_MINOR
    return platform.removesuffix("_x86_64") in _MANYLINUX_LEGACY


def copy_handler(handler: Path, stage: Path) -> None:
    """Copy handler/'s Python sources to the package root; refuse to shadow a dependency.

    Only `*.py`: whatever else lies in the working tree (a local `.env`, an editor's
    backup, a cache) is not the function's code and must not be deployed with it.
    """
    if not (handler / "index.py").is_file():
        raise BuildError(f"{handler}/index.py is missing: FC's handler is index.handler")
    for entry in sorted(handler.iterdir()):
        if not _is_source(entry, handler):
            continue
        target = stage / entry.name
        if target.exists():
            raise BuildError(f"handler/{entry.name} would shadow a dependency's {entry.name}")
        if entry.is_dir():
            shutil.copytree(
                entry,
                target,
                ignore=lambda folder, names: [
                    name for name in names if not _is_source(Path(folder) / name, handler)
                ],
            )
        else:
            shutil.copy2(entry, target)


def _is_source(path: Path, handler: Path) -> bool:
    """A Python source of the handler, or a package folder that may hold some."""
    relative = path.relative_to(handler)
    if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
        return False
    return path.is_dir() or path.suffix == ".py"


def _is_cache(path: Path) -> bool:
    return path.name in {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"} or (
        path.suffix in {".pyc", ".pyo"}
    )


def prune(stage: Path) -> list[str]:
    """Remove what the build machine left or the runtime never imports; return what went."""
    removed: list[str] = []
    # Console scripts: their shebang is this machine's interpreter; FC never runs them.
    bin_dir = stage / "bin"
    if bin_dir.is_dir():
        shutil.rmtree(bin_dir)
        removed.append("bin/")
    for path in sorted(stage.rglob("*"), reverse=True):
        if path.exists() and _is_cache(path):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(str(path.relative_to(stage)))
    # The installer's lock file, left at the root of the target directory.
    lock = stage / ".lock"
    if lock.is_file():
        lock.unlink()
        removed.append(".lock")
    pth = sorted(p.name for p in stage.glob("*.pth"))
    if pth:
        raise BuildError(
            f"{', '.join(pth)}: .pth files are not processed from FC's code directory; "
            "a dependency that needs one cannot be packaged this way"
        )
    sources = _python_sources(stage)
    for test_dir in _test_dirs(stage):
        dotted = ".".join(test_dir.relative_to(stage).parts)
        if _referenced(dotted, test_dir, sources):
            continue
        shutil.rmtree(test_dir)
        removed.append(f"{test_dir.relative_to(stage)}/")
    return removed


def _test_dirs(stage: Path) -> Iterator[Path]:
    """Test packages *inside* a dependency's package (never a top-level distribution)."""
    for path in sorted(stage.rglob("*")):
        if (
            path.is_dir()
            and path.name in TEST_DIR_NAMES
            and len(path.relative_to(stage).parts) > 1
            and not path.parent.name.endswith(".dist-info")
            and path.exists()
        ):
            yield path


def _python_sources(stage: Path) -> dict[Path, str]:
    return {p: p.read_text(errors="replace") for p in stage.rglob("*.py")}


def _referenced(dotted: str, test_dir: Path, sources: dict[Path, str]) -> bool:
    """Is the test package named anywhere outside itself (import, from-import, string)?"""
    name = test_dir.name
    relative = re.compile(
        rf"from\s+\.+\s+import\s+[^\n]*\b{re.escape(name)}\b|from\s+\.+{re.escape(name)}\b"
    )
    for path, text in sources.items():
        if test_dir in path.parents:
            continue
        if dotted in text:
            return True
        if path.parent == test_dir.parent and relative.search(text):
            return True
    return False


def compile_bytecode(interpreter: Path, stage: Path) -> None:
    """Bytecode for every module, by the target interpreter, never revalidated against mtimes."""
    command = [
        str(interpreter),
        "-s",  # not -I: -I ignores PYTHONHASHSEED, which must be fixed (below)
        "-m",
        "compileall",
        "-q",
        # One process: python3.10's marshal flags an object by its reference count, which
        # in parallel workers depends on what each one compiled before (bytes differ).
        "-j1",
        "--invalidation-mode",
        "unchecked-hash",
        "-d",
        FC_CODE_DIR,  # tracebacks name /code/..., not this machine's staging directory
        str(stage),
    ]
    # Set and frozenset constants are marshalled in iteration order, which follows the
    # (per-process random) string hash: a fixed seed makes the bytecode reproducible.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise BuildError(f"compileall failed:\n{result.stdout}{result.stderr}".strip())


def iter_files(stage: Path) -> Iterable[Path]:
    files = (p for p in stage.rglob("*") if p.is_file())
    return sorted(files, key=lambda p: p.relative_to(stage).as_posix())


def write_zip(stage: Path, output: Path) -> tuple[int, int]:
    """Zip `stage` deterministically (sorted names, fixed times, 0644/0755).

    Returns the number of files and their total unpacked size.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    files = unpacked = 0
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in iter_files(stage):
            name = path.relative_to(stage).as_posix()
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr carries the mode
            executable = path.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            mode = 0o755 if executable else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            data = path.read_bytes()
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
            files += 1
            unpacked += len(data)
    partial.replace(output)
    return files, unpacked


def build(
    runtime: str,
    output: Path,
    *,
    python: str | None = None,
    requirements: Path = REPO / "requirements.txt",
    handler: Path = REPO / "handler",
    max_bytes: int = MAX_ZIP_BYTES,
    verbose: bool = False,
) -> Summary:
    interpreter = find_interpreter(runtime, python)
    major, minor = RUNTIMES[runtime]
    with tempfile.TemporaryDirectory(prefix="fc-package-") as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        install_dependencies(interpreter, requirements, stage)
        check_wheel_tags(stage, major, minor)
        removed = prune(stage)
        if verbose and removed:
            print("pruned: " + ", ".join(removed), file=sys.stderr)
        copy_handler(handler, stage)
        compile_bytecode(interpreter, stage)
        files, unpacked = write_zip(stage, output)
    zipped = output.stat().st_size
    if zipped > max_bytes:
        output.unlink()
        raise BuildError(
            f"package is {zipped:,} bytes zipped, over the {max_bytes:,}-byte limit; "
            "look for a new heavy dependency in requirements.txt"
        )
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    return Summary(output, runtime, interpreter, zipped, unpacked, files, digest)


def fetch(
    runtime: str, *, python: str | None = None, requirements: Path = REPO / "requirements.txt"
) -> Path:
    """The pinned dependencies fetched for `runtime` into uv's cache; nothing is built.
    Returns the target interpreter."""
    interpreter = find_interpreter(runtime, python)
    with tempfile.TemporaryDirectory(prefix="fc-fetch-") as tmp:
        install_dependencies(interpreter, requirements, Path(tmp))
    return interpreter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runtime", choices=sorted(RUNTIMES), default="python3.10")
    parser.add_argument("--output", type=Path, default=REPO / "dist" / "function.zip")
    parser.add_argument(
        "--python", help="the target interpreter (default: pyenv's X.Y, else pythonX.Y on PATH)"
    )
    parser.add_argument("--requirements", type=Path, default=REPO / "requirements.txt")
    parser.add_argument("--handler", type=Path, default=REPO / "handler")
    parser.add_argument("--max-bytes", type=int, default=MAX_ZIP_BYTES)
    parser.add_argument("-v", "--verbose", action="store_true", help="list what was pruned")
    parser.add_argument(
        "--fetch-only",
        action="store_true",
        help="fetch the dependencies into uv's cache and stop (for offline builds)",
    )
    args = parser.parse_args(argv)
    if args.fetch_only:
        try:
            fetch(args.runtime, python=args.python, requirements=args.requirements)
        except BuildError as error:
            print(f"build_package: {error}", file=sys.stderr)
            return 1
        print(f"fetched {args.requirements.name} for {args.runtime} into uv's cache")
        return 0
    try:
        summary = build(
            args.runtime,
            args.output,
            python=args.python,
            requirements=args.requirements,
            handler=args.handler,
            max_bytes=args.max_bytes,
            verbose=args.verbose,
        )
    except BuildError as error:
        print(f"build_package: {error}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
