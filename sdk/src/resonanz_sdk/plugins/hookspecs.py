"""Hook specifications for network plugins (and, below, scorer plugins).

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
    from resonanz_sdk.scoring import SentimentScorer

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


#: What a scorer plugin registers: a name ("acme-bert") and a factory building the scorer. The
#: factory runs only when that scorer is selected, so an unused GPU model is never loaded.
ScorerFactory = Callable[[], "SentimentScorer"]


@hookspec
def register_scorers(register: Callable[[str, ScorerFactory], None]) -> None:
    """Register the sentiment scorers this plugin provides (entry-point group ``resonanz.scorers``).

    :param register: Call it once per scorer with ``register(name, factory)``; ``name`` is what
        ``RESONANZ_SENTIMENT_SCORER`` selects (lower-case letters, digits, ``.``, ``_``, ``-``) and
        ``factory()`` returns a :class:`~resonanz_sdk.scoring.SentimentScorer`. Registering a name
        that is already registered is an error that names both plugins.

    Called once, when the scorer plugin manager loads plugins. Do not load models here: the factory
    does that, and only for the selected scorer. Example, with ``[project.entry-points.
    "resonanz.scorers"] acme = "acme_scorer.plugin"``::

        from resonanz_sdk.plugins import hookimpl

        @hookimpl
        def register_scorers(register):
            register("acme-bert", AcmeBertScorer)
    """
