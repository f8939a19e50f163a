"""Function Compute entry points: `index.handler` and `index.initialize`.

Kept thin on purpose; the work happens in the `cams_delete` package.
"""

from __future__ import annotations

from typing import Any

from cams_delete import entrypoints


def initialize(context: Any) -> None:
    """FC initializer: runs once per instance, before its first invocation."""
    entrypoints.initialize(context)


def handler(event: bytes, context: Any) -> dict[str, Any]:
    """FC handler: one event in (bytes, unparsed), one normalized result out."""
    return entrypoints.handle(event, context)
