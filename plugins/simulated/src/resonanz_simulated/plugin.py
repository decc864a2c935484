"""The plugin entry point (``resonanz.networks: simulated``): registers the simulated network."""

from __future__ import annotations

from collections.abc import Callable

from resonanz_sdk.network import Network
from resonanz_sdk.plugins import hookimpl

from resonanz_simulated.network import SimulatedNetwork


@hookimpl
def register_networks(register: Callable[[Network], None]) -> None:
    """Register one :class:`SimulatedNetwork`; its world is created lazily, on the first call."""
    register(SimulatedNetwork())
