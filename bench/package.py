"""The code package under test: built when stale, unpacked, and a copy without bytecode."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tools import build_package

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RUNTIME = "python3.10"
DEFAULT_ZIP = REPO / "dist" / "function.zip"
# What the package is made of: a newer file here means the zip is stale.
_INPUTS = ("handler", "requirements.txt", "tools/build_package.py")


@dataclass(frozen=True)
class Package:
    zip_path: Path
    sha256: str
    interpreter: Path
    runtime: str
    with_bytecode: Path  # the zip as FC unpacks it
    without_bytecode: Path  # the same with every __pycache__ removed: `pip install -t`
    built: bool


def newest_input_mtime(repo: Path = REPO) -> float:
    newest = 0.0
    for name in _INPUTS:
        path = repo / name
        files: Iterable[Path] = path.rglob("*") if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or not file.is_file():
                continue
            newest = max(newest, file.stat().st_mtime)
    return newest


def is_stale(zip_path: Path) -> bool:
    return not zip_path.is_file() or zip_path.stat().st_mtime < newest_input_mtime()


def build(runtime: str, output: Path) -> None:
    command = [
        sys.executable,
        str(REPO / "tools" / "build_package.py"),
        "--runtime",
        runtime,
        "--output",
        str(output),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"building the package failed:\n{result.stdout}{result.stderr}")


def prepare(workdir: Path, runtime: str = DEFAULT_RUNTIME, *, rebuild: bool = False) -> Package:
    """dist/function.zip for python3.10 (rebuilt when stale); other runtimes build in workdir."""
    interpreter = build_package.find_interpreter(runtime)
    zip_path = DEFAULT_ZIP if runtime == DEFAULT_RUNTIME else workdir / f"function-{runtime}.zip"
    built = False
    if rebuild or runtime != DEFAULT_RUNTIME or is_stale(zip_path):
        shown = zip_path.relative_to(REPO) if zip_path.is_relative_to(REPO) else zip_path
        print(f"bench: building {shown} for {runtime}", file=sys.stderr, flush=True)
        build(runtime, zip_path)
        built = True
    return unpack(zip_path, interpreter, runtime, workdir, built=built)


def unpack(
    zip_path: Path, interpreter: Path, runtime: str, workdir: Path, *, built: bool = False
) -> Package:
    """The zip as FC unpacks it, and a copy of that with every __pycache__ removed."""
    with_bytecode = workdir / "code"
    without_bytecode = workdir / "code-no-bytecode"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(with_bytecode)
    shutil.copytree(with_bytecode, without_bytecode)
    for cache in sorted(without_bytecode.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    if any(without_bytecode.rglob("*.pyc")):
        raise RuntimeError("stray .pyc files outside __pycache__ in the package")
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    return Package(zip_path, digest, interpreter, runtime, with_bytecode, without_bytecode, built)
