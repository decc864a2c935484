"""The one list of extensions of the scoring app: ``"module:function"`` of ``register(app, ctx)``.

Each function is called once, before the app starts, with the faust app and the
:class:`~resonanz_scoring.streams.context.StreamContext`. It may define agents, tables and timers on
the app and add :class:`~resonanz_scoring.streams.observers.BatchObserver`s to the context. Order
matters only for observers (called in registration order). A listed module that cannot be imported
fails the start: extensions are part of the service, not optional plugins.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import faust

from resonanz_scoring.streams.context import Extension, StreamContext

__all__ = ["EXTENSIONS", "ExtensionSpec", "load_extension", "register_extensions"]

EXTENSIONS: tuple[str, ...] = (
    "resonanz_scoring.streams.engagement:register",
    # Cascades, crisis alerts, campaigns and own posts (docs/scoring/aggregates.md):
    "resonanz_scoring.streams.cascades:register",
    "resonanz_scoring.streams.crisis:register",
    "resonanz_scoring.streams.campaigns:register",
)


#: An entry: ``"module:function"``, or the ``register`` function itself (tests, embedding code).
ExtensionSpec = str | Extension


def load_extension(spec: ExtensionSpec) -> Extension:
    if not isinstance(spec, str):
        return spec
    module_name, _, function = spec.partition(":")
    if not function:
        raise ValueError(f"extension {spec!r} is not 'module:function'")
    registered: Extension = getattr(importlib.import_module(module_name), function)
    return registered


def register_extensions(
    app: faust.App, ctx: StreamContext, extensions: Sequence[ExtensionSpec] = EXTENSIONS
) -> None:
    for spec in extensions:
        load_extension(spec)(app, ctx)
