"""Cold start: imports that create the function's long-lived objects, made cheaply."""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.machinery
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Iterable, Iterator
from typing import Any


@contextlib.contextmanager
def bulk_import() -> Iterator[None]:
    """Import many modules with the cyclic garbage collector paused, then freeze them.

    Importing the SDK allocates hundreds of thousands of objects (classes, functions,
    constants) that live as long as the process. With the collector on, every 700
    allocations start a pass over the young ones and every tenth pass rescans the older
    ones, finding nothing to free: a tenth of the import's time. Afterwards the objects that
    exist go to the permanent generation (gc.freeze), so later collections do not scan them
    either. The collector is enabled again unless it was off before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


class DeferredModule(types.ModuleType):
    """A module imported for real on first use, by the modules that imported it deferred.

    While the import that defers it runs, it stands in `sys.modules`: the names in
    `stand_ins` resolve to empty classes (for modules that only name them in annotations,
    where they stay), those in `calls` to functions that import the real module when
    called and return what its name returns (for a class that is only ever instantiated),
    and dunder names are missing, so the import system's probes (`__path__`, `__spec__`)
    do not load it; a submodule import or `find_spec` of it fails then. Any other name,
    then or later, imports the real module and is served from it.
    """

    def __init__(self, name: str, stand_ins: Iterable[str], calls: Iterable[str] = ()) -> None:
        super().__init__(name)
        # Only __name__ stays: a missing __spec__ or __file__ is read from the real module.
        for dunder in ("__doc__", "__package__", "__loader__", "__spec__"):
            delattr(self, dunder)
        self._deferred_stand_ins: dict[str, Any] | None = {
            stand_in: type(stand_in, (), {"__module__": name}) for stand_in in stand_ins
        }
        for call in calls:
            self._deferred_stand_ins[call] = self._forwarder(call)
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

    def _forwarder(self, attribute: str) -> Any:
        def forward(*args: Any, **kwargs: Any) -> Any:
            return getattr(self._deferred_load(), attribute)(*args, **kwargs)

        forward.__module__ = self.__name__
        forward.__name__ = forward.__qualname__ = attribute
        return forward

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
def deferred_import(
    name: str, *, stand_ins: Iterable[str] = (), calls: Iterable[str] = ()
) -> Iterator[None]:
    """Let the modules imported inside import `name` without loading it until used.

    A module already imported is left as it is.
    """
    if name in sys.modules:
        yield
        return
    module = DeferredModule(name, stand_ins, calls)
    sys.modules[name] = module
    try:
        yield
    finally:
        module._deferred_end()


# The lines an __init__ that only re-exports its submodules' names is made of.
_REEXPORT = re.compile(r"from \.(\w+) import (\w+(?:, \w+)*)")
_ALL_ITEM = re.compile(r"\s+(\w+|'\w+'|\"\w+\"),?")


def reexported_names(source: str) -> dict[str, str] | None:
    """Name -> submodule, for an __init__ that does nothing but `from .sub import Name`
    (and `__all__`); None when it does anything else, which must then run as it is."""
    names: dict[str, str] = {}
    in_all = False
    for raw_line in source.splitlines():
        line = raw_line.rstrip()
        if in_all:
            if line == "]":
                in_all = False
            elif not _ALL_ITEM.fullmatch(line):
                return None
        elif not line or line.startswith("#") or line == "from __future__ import annotations":
            continue
        elif line == "__all__ = [":
            in_all = True
        elif match := _REEXPORT.fullmatch(line):
            names.update(dict.fromkeys(match[2].split(", "), match[1]))
        else:
            return None
    return None if in_all or not names else names


class LazyPackage(types.ModuleType):
    """A package whose __init__ only re-exports names: a name's submodule is imported when
    the name is first read. Any other name runs the real __init__ first, so what is read
    never differs from an ordinary import; only when the work is done does."""

    _lazy_submodules: dict[str, str]
    _lazy_loader: Any
    _lazy_init_lock: threading.RLock
    _lazy_init_done: bool

    @classmethod
    def from_spec(
        cls, spec: importlib.machinery.ModuleSpec, submodules: dict[str, str]
    ) -> LazyPackage:
        module = importlib.util.module_from_spec(spec)  # __path__ and __spec__, not run
        module.__class__ = cls
        assert isinstance(module, cls)
        module._lazy_submodules = submodules
        module._lazy_loader = spec.loader
        module._lazy_init_lock = threading.RLock()
        module._lazy_init_done = False
        return module

    def __getattr__(self, attribute: str) -> Any:
        submodule = self._lazy_submodules.get(attribute)
        if submodule is not None:
            value = getattr(importlib.import_module(f".{submodule}", self.__name__), attribute)
            setattr(self, attribute, value)  # read once; later reads are ordinary
            return value
        self._lazy_run_init()
        try:
            return self.__dict__[attribute]
        except KeyError:
            raise AttributeError(
                f"module {self.__name__!r} has no attribute {attribute!r}"
            ) from None

    def _lazy_run_init(self) -> None:
        """Run the real __init__ once. A read made while it runs, by the thread running it
        (a submodule it imports), sees the names bound so far, as in any import; other
        threads wait. If it fails, the next read runs it again and gets the error.

        Unlike the import system's locks, this one is not part of its deadlock detection: a
        submodule that, imported by another thread at that moment, read a name that is not
        re-exported would wait for this __init__, which waits for that submodule. The SDK's
        models read the package only inside their methods."""
        with self._lazy_init_lock:
            if not self._lazy_init_done:
                self._lazy_init_done = True
                try:
                    self._lazy_loader.exec_module(self)
                except BaseException:
                    self._lazy_init_done = False
                    raise


def import_lazily(name: str) -> types.ModuleType:
    """Import the package `name` as a LazyPackage when its __init__ only re-exports its
    submodules' names; otherwise, or when it is imported already, as usual."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)  # imports the parent package
    get_source = getattr(spec.loader, "get_source", None) if spec is not None else None
    source = get_source(name) if get_source is not None else None
    submodules = reexported_names(source) if isinstance(source, str) else None
    if spec is None or spec.submodule_search_locations is None or submodules is None:
        return importlib.import_module(name)
    module = LazyPackage.from_spec(spec, submodules)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
