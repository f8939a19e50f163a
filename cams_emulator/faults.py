"""Scripted faults: which one, if any, the next matching request meets."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from cams_emulator.models import Fault


@dataclass
class _ArmedFault:
    fault_id: str
    fault: Fault
    remaining: int | None  # None: persistent


class FaultBook:
    """Armed faults in the order they were added; the first that matches fires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_ArmedFault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> str:
        with self._lock:
            fault_id = f"fault-{next(self._ids)}"
            self._armed.append(_ArmedFault(fault_id, fault, fault.times))
            return fault_id

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self._armed)
            self._armed = [armed for armed in self._armed if armed.fault_id != fault_id]
            return len(self._armed) != before

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, action: str, instance_id: str | None) -> Fault | None:
        """The fault this request meets, counting it against the fault's ``times``."""
        if not self._armed:  # lock-free fast path: most requests meet no fault
            return None
        with self._lock:
            for index, armed in enumerate(self._armed):
                if not armed.fault.matches(action, instance_id):
                    continue
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        del self._armed[index]
                return armed.fault
            return None

    def listing(self) -> list[dict[str, object]]:
        """Armed faults with their ids and remaining uses, for the control API."""
        with self._lock:
            return [
                {"id": armed.fault_id, "remaining": armed.remaining, **armed.fault.to_json()}
                for armed in self._armed
            ]
