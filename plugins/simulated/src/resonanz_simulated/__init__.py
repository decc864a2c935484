"""resonanz-simulated: a lively, deterministic social network for demos, tests and the embedded default.

:mod:`resonanz_simulated.world` simulates; :mod:`resonanz_simulated.network` exposes it through the
Resonanz network contract; :mod:`resonanz_simulated.plugin` registers it (entry point ``simulated``).
"""

from __future__ import annotations
