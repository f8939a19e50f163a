"""The sample events in events/, the InstanceIds they name, and what each is expected to do.

InstanceIds are found with the function's own recognition and extraction code, so the
local loop seeds exactly what the function would ask CAMS to delete.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cams_delete import extract, http, sources
from cams_delete.validation import instance_id_problem
from cams_emulator import Fault

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
MANIFEST_NAME = "expectations.json"


class ManifestError(ValueError):
    """events/expectations.json is malformed; the message says where."""


def sample_files(directory: pathlib.Path = EVENTS_DIR) -> list[pathlib.Path]:
    """Every sample event, by name; the manifest is not one."""
    return sorted(path for path in directory.glob("*.json") if path.name != MANIFEST_NAME)


def instance_ids(event: bytes) -> list[str]:
    """The valid InstanceIds an event names, in order, each once."""
    found: list[str] = []
    for value in _candidate_values(sources.recognise(event)):
        if instance_id_problem(value) is None and isinstance(value, str) and value not in found:
            found.append(value)
    return found


def instance_ids_in(paths: Iterable[pathlib.Path]) -> list[str]:
    """The valid InstanceIds named anywhere in these files, sorted."""
    return sorted({value for path in paths for value in instance_ids(path.read_bytes())})


def _candidate_values(event: sources.RecognisedEvent) -> list[object]:
    if isinstance(event, sources.HttpTriggerEvent):
        return _http_candidate_values(event)
    if isinstance(event, sources.EventBatch):
        items = extract.from_batch(event)
    elif isinstance(event, sources.UnrecognisedEvent):
        items = []
    else:
        items = [extract.from_single(event)]
    return [item.value for item in items if isinstance(item, extract.Candidate)]


def _http_candidate_values(request: sources.HttpTriggerEvent) -> list[object]:
    route = http.match_route(request.raw_path)
    if route is None:
        return []
    instance_id, _method = route
    if instance_id is not None:
        return [instance_id]
    body = http.decode_body(request)  # the function's own reading of the body
    if isinstance(body, http.HttpAnswer):
        return []
    parsed = sources.parse_json(body) if body else None
    if not isinstance(parsed, dict):
        return []
    item = extract.from_direct(sources.DirectRequest(parsed))
    return [item.value] if isinstance(item, extract.Candidate) else []


# -- the manifest: what each sample does in the demo --------------------------------------


@dataclass(frozen=True)
class Expectation:
    """What a run must produce. Unset fields are not checked."""

    outcomes: list[str] | None = None  # one per result, in order
    codes: list[str] | None = None
    attempts: list[int] | None = None
    status: int | None = None  # HTTP events: the response's statusCode
    cams_calls: int | None = None  # DeleteInstance requests CAMS received during the run
    error: str | None = None  # the function error's type; None: the invocation returns


@dataclass(frozen=True)
class Run:
    event: str
    story: str
    expect: Expectation
    env: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None

    @property
    def path(self) -> pathlib.Path:
        return EVENTS_DIR / self.event


@dataclass(frozen=True)
class Manifest:
    """The demo's script: the function's local configuration and the runs, in order."""

    environment: dict[str, str]
    runs: list[Run]

    def seed(self, directory: pathlib.Path = EVENTS_DIR) -> list[str]:
        """Every valid InstanceId named in the sample events."""
        return instance_ids_in(sample_files(directory))


def load_manifest(path: pathlib.Path = EVENTS_DIR / MANIFEST_NAME) -> Manifest:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ManifestError(f"{path.name}: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        raise ManifestError(f'{path.name}: expected {{"environment": {{...}}, "runs": [...]}}')
    runs = [_run(entry, index) for index, entry in enumerate(document["runs"], 1)]
    return Manifest(_strings(document.get("environment", {}), "environment"), runs)


def _run(entry: Any, index: int) -> Run:
    where = f"{MANIFEST_NAME} run {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("event"), str):
        raise ManifestError(f"{where}: needs an 'event' file name")
    if not (EVENTS_DIR / entry["event"]).is_file():
        raise ManifestError(f"{where}: no such sample events/{entry['event']}")
    expect = entry.get("expect")
    if not isinstance(expect, dict):
        raise ManifestError(f"{where}: needs an 'expect' object")
    try:
        expectation = Expectation(**expect)
        fault = Fault.from_json(entry["fault"]) if "fault" in entry else None
    except (TypeError, ValueError) as error:
        raise ManifestError(f"{where}: {error}") from None
    return Run(
        event=entry["event"],
        story=str(entry.get("story", "")),
        expect=expectation,
        env=_strings(entry.get("env", {}), f"{where} env"),
        fault=fault,
    )


def _strings(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestError(f"{where}: must map names to strings")
    return dict(value)
