"""The emulator's mutable state: instances, the request journal, seen nonces.

Each class guards itself with one lock, so handler threads can share them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from cams_emulator.models import DEFAULT_REGION, JournalEntry


@dataclass(frozen=True)
class InstanceRecord:
    """What the emulator remembers of one CAMS instance."""

    instance_id: str
    instance_name: str
    channel_type: str = "whatsapp"
    instance_description: str = ""
    resource_region_id: str = DEFAULT_REGION
    submit_time: str = ""

    def to_json(self) -> dict[str, Any]:
        """The instance in the API's ``Data`` shape (QueryInstance, ListInstance)."""
        return {
            "InstanceId": self.instance_id,
            "CustSpaceId": self.instance_id,
            "InstanceName": self.instance_name,
            "InstanceDescription": self.instance_description,
            "ChannelType": self.channel_type,
            "ResourceRegionId": self.resource_region_id,
            "SubmitTime": self.submit_time,
            "State": "Normal",
        }


def submit_time_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


class InstanceStore:
    """The set of instances that exist, in creation order."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._records: OrderedDict[str, InstanceRecord] = OrderedDict()
        self.add_ids(ids)

    def add_ids(self, ids: Iterable[str]) -> None:
        now = submit_time_now()
        with self._lock:
            for instance_id in ids:
                if instance_id not in self._records:
                    self._records[instance_id] = InstanceRecord(
                        instance_id, instance_name=f"instance-{instance_id}", submit_time=now
                    )

    def create(self, record: InstanceRecord) -> bool:
        """Add ``record``; False when its id already exists."""
        with self._lock:
            if record.instance_id in self._records:
                return False
            self._records[record.instance_id] = replace(
                record, submit_time=record.submit_time or submit_time_now()
            )
            return True

    def delete(self, instance_id: str) -> bool:
        """Remove the instance; True only for the one caller that removed it."""
        with self._lock:
            return self._records.pop(instance_id, None) is not None

    def get(self, instance_id: str) -> InstanceRecord | None:
        with self._lock:
            return self._records.get(instance_id)

    def records(self) -> list[InstanceRecord]:
        with self._lock:
            return list(self._records.values())

    def ids(self) -> set[str]:
        with self._lock:
            return set(self._records)

    def replace_all(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._records.clear()
        self.add_ids(ids)


class Journal:
    """Received requests in arrival order, keeping the newest ``limit`` entries."""

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[tuple[int, JournalEntry]] = deque(maxlen=limit)
        self._next_seq = 0

    def reserve(self) -> int:
        """Take the arrival number of a request whose entry comes later (after a delay)."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            return seq

    def record(self, seq: int, entry: JournalEntry) -> None:
        with self._lock:
            self._entries.append((seq, entry))

    def entries(self, action: str | None = None) -> list[JournalEntry]:
        with self._lock:
            ordered = sorted(self._entries, key=lambda pair: pair[0])
        # Copies, so a caller that edits params does not rewrite history.
        return [
            replace(entry, params=dict(entry.params))
            for _, entry in ordered
            if action is None or entry.action == action
        ]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class NonceCache:
    """Remembers the newest ``capacity`` signature nonces, to refuse replays."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first_use(self, nonce: str) -> bool:
        """Record ``nonce``; False when it was seen before."""
        with self._lock:
            if nonce in self._seen:
                return False
            self._seen[nonce] = None
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
