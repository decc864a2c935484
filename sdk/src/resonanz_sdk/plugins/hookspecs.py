"""Hook specifications for network plugins.

A plugin is a module (or object) registered through the ``resonanz.networks`` entry-point group that
implements one or more of these hooks with ``@hookimpl``. Hooks only *register* objects; the
registered :class:`~resonanz_sdk.network.Network` does the work.

Example, in ``acme_network/plugin.py`` with ``[project.entry-points."resonanz.networks"]
acme = "acme_network.plugin"``::

    from resonanz_sdk.plugins import hookimpl

    @hookimpl
    def register_networks(register):
        register(AcmeNetwork())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from resonanz_sdk.network import Network

PROJECT_NAME = "resonanz"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_networks(register: Callable[[Network], None]) -> None:
    """Register the networks this plugin provides.

    :param register: Call it once per :class:`~resonanz_sdk.network.Network` instance. Registering
        two networks with the same ``manifest.network`` name is an error that names both plugins.

    Called once, when the plugin manager loads plugins at process start. Do no network I/O here:
    read settings and build objects only; connect lazily in the network's async methods.
    All plugins' implementations are called (this hook is not ``firstresult``).
    """
