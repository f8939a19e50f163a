"""Cold start: imports that create the function's long-lived objects, made cheaply."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


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
