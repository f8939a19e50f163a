"""Cold start: imports that create the function's long-lived objects, made cheaply."""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
import threading
import types
from collections.abc import Iterable, Iterator
from typing import Any


@contextlib.contextmanager
def bulk_import(*, freeze: bool = False) -> Iterator[None]:
    """Import many modules with the cyclic garbage collector paused.

    Importing the SDK allocates hundreds of thousands of objects (classes, functions,
    constants) that live as long as the process. With the collector on, every 700
    allocations start a pass over the young ones and every tenth pass rescans the older
    ones, finding nothing to free: a tenth of the import's time. With `freeze`, the objects
    that exist afterwards go to the permanent generation (gc.freeze), so later collections
    do not scan them either. The collector is enabled again unless it was off before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


class DeferredModule(types.ModuleType):
    """A module imported for real on first use, by the modules that imported it deferred.

    While the import that defers it runs, it stands in `sys.modules`: the names in
    `stand_ins` resolve to empty classes (for modules that only name them in annotations,
    where they stay) and dunder names are missing, so the import system's probes
    (`__path__`, `__spec__`) do not load it; a submodule import or `find_spec` of it fails
    then. Any other name, then or later, imports the real module and is served from it.
    """

    def __init__(self, name: str, stand_ins: Iterable[str]) -> None:
        super().__init__(name)
        # Only __name__ stays: a missing __spec__ or __file__ is read from the real module.
        for dunder in ("__doc__", "__package__", "__loader__", "__spec__"):
            delattr(self, dunder)
        self._deferred_stand_ins: dict[str, type] | None = {
            stand_in: type(stand_in, (), {"__module__": name}) for stand_in in stand_ins
        }
        self._deferred_real: types.ModuleType | None = None
        self._deferred_lock = threading.RLock()

    def __getattr__(self, attribute: str) -> Any:
        stand_ins = self._deferred_stand_ins
        if stand_ins is not None:
            if attribute in stand_ins:
                return stand_ins[attribute]
            if attribute.startswith("__") and attribute.endswith("__"):
                raise AttributeError(attribute)
        return getattr(self._deferred_load(), attribute)

    def _deferred_load(self) -> types.ModuleType:
        with self._deferred_lock:  # one thread leaves sys.modules and imports
            if self._deferred_real is None:
                self._deferred_end()
                self._deferred_real = importlib.import_module(self.__name__)
            return self._deferred_real

    def _deferred_end(self) -> None:
        """Stop standing in: later imports of the module, or of its submodules, are
        ordinary ones (a package's submodule must not load twice, once through us)."""
        with self._deferred_lock:
            self._deferred_stand_ins = None
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]


@contextlib.contextmanager
def deferred_import(name: str, *, stand_ins: Iterable[str] = ()) -> Iterator[None]:
    """Let the modules imported inside import `name` without loading it until used.

    A module already imported is left as it is.
    """
    if name in sys.modules:
        yield
        return
    module = DeferredModule(name, stand_ins)
    sys.modules[name] = module
    try:
        yield
    finally:
        module._deferred_end()
