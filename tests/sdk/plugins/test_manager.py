"""The plugin manager: entry-point discovery, the RESONANZ_PLUGINS filter and refusing bad plugins."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from resonanz_sdk.errors import NotFoundError, PluginError
from resonanz_sdk.manifest import Feature, Manifest, TextRules
from resonanz_sdk.network import Network
from resonanz_sdk.plugins import ENTRY_POINT_GROUP, PluginManager, hookimpl


class TinyNetwork(Network):
    """The smallest honest network: it supports nothing and says so."""

    def __init__(self, name: str) -> None:
        self._manifest = Manifest(
            network=name, display_name=name.title(), features=frozenset(), text=TextRules(10)
        )
        self.closed = False

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    async def aclose(self) -> None:
        self.closed = True


class Provides:
    """A plugin object registering the given objects from its hook."""

    def __init__(self, *objects: object) -> None:
        self.objects = objects

    @hookimpl
    def register_networks(self, register: Callable[[object], None]) -> None:
        for obj in self.objects:
            register(obj)


class UnknownHook:
    @hookimpl
    def register_widgets(self, register: Callable[[object], None]) -> None:
        raise AssertionError("never called")


def test_the_simulated_entry_point_is_discovered() -> None:
    pm = PluginManager()
    pm.load_entry_points()
    assert "simulated" in pm.plugin_names()
    assert "simulated" in pm.networks
    assert pm.network("simulated").manifest.network == "simulated"
    assert pm.plugin_of("simulated") == "simulated"
    assert ENTRY_POINT_GROUP == "resonanz.networks"


def test_an_empty_setting_loads_no_plugin() -> None:
    pm = PluginManager.from_setting("")
    pm.load_entry_points()
    assert pm.plugin_names() == []
    assert pm.networks == {}
    with pytest.raises(NotFoundError, match="simulated"):
        pm.network("simulated")


@pytest.mark.parametrize("setting", ["simulated", " simulated , "])
def test_naming_a_plugin_loads_only_it(setting: str) -> None:
    pm = PluginManager.from_setting(setting)
    pm.load_entry_points()
    assert pm.plugin_names() == ["simulated"]
    assert list(pm.networks) == ["simulated"]
    pm.load_entry_points()  # loading twice changes nothing
    assert pm.plugin_names() == ["simulated"]


def test_an_unknown_plugin_in_the_setting_is_an_error() -> None:
    pm = PluginManager.from_setting("simulated,no-such-network")
    with pytest.raises(PluginError, match="no-such-network") as caught:
        pm.load_entry_points()
    assert caught.value.plugin == "no-such-network"


def test_a_hook_without_specification_fails_check_pending_naming_the_plugin() -> None:
    pm = PluginManager.from_setting("")
    with pytest.raises(PluginError, match="register_widgets") as caught:
        pm.register(UnknownHook(), name="widgets")
    assert caught.value.plugin == "widgets"
    assert "widgets" in str(caught.value)
    assert pm.plugin_names() == []


def test_two_plugins_registering_the_same_network_fail_naming_both() -> None:
    pm = PluginManager.from_setting("")
    first = TinyNetwork("acme")
    pm.register(Provides(first), name="acme-official")
    with pytest.raises(PluginError) as caught:
        pm.register(Provides(TinyNetwork("acme")), name="acme-fork")
    message = str(caught.value)
    assert "acme-official" in message
    assert "acme-fork" in message
    assert "'acme'" in message
    assert pm.network("acme") is first


def test_a_duplicate_of_an_entry_point_network_names_both() -> None:
    pm = PluginManager.from_setting("simulated")
    pm.load_entry_points()
    with pytest.raises(PluginError) as caught:
        pm.register(Provides(TinyNetwork("simulated")), name="impostor")
    assert "impostor" in str(caught.value)
    assert "'simulated'" in str(caught.value)


@pytest.mark.parametrize("thing", [object(), "acme", TinyNetwork])
def test_registering_something_that_is_not_a_network_fails(thing: object) -> None:
    pm = PluginManager.from_setting("")
    with pytest.raises(PluginError, match="not a Network") as caught:
        pm.register(Provides(thing), name="confused")
    assert caught.value.plugin == "confused"
    assert pm.networks == {}


async def test_one_plugin_may_register_several_networks_and_all_are_closed() -> None:
    pm = PluginManager.from_setting("")
    a, b = TinyNetwork("alpha"), TinyNetwork("beta")
    pm.register(Provides(a, b), name="greek")
    assert sorted(pm.networks) == ["alpha", "beta"]
    assert pm.plugin_of("beta") == "greek"
    assert not pm.network("alpha").manifest.supports(Feature.PUBLISH)
    await pm.aclose()
    assert a.closed
    assert b.closed


def test_a_plugin_whose_hook_fails_leaves_nothing_behind() -> None:
    pm = PluginManager.from_setting("")
    with pytest.raises(PluginError):
        pm.register(Provides(TinyNetwork("first"), "not a network"), name="half")
    assert pm.plugin_names() == []
    assert pm.networks == {}
    pm.register(Provides(TinyNetwork("first")), name="whole")
    assert list(pm.networks) == ["first"]


def test_an_exception_in_a_hook_is_wrapped_with_the_plugin_name() -> None:
    class Crashes:
        @hookimpl
        def register_networks(self, register: Callable[[object], None]) -> None:
            raise RuntimeError("no config")

    pm = PluginManager.from_setting("")
    with pytest.raises(PluginError, match="no config") as caught:
        pm.register(Crashes(), name="crashy")
    assert caught.value.plugin == "crashy"
    assert pm.plugin_names() == []
