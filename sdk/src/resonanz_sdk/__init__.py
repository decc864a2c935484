"""The Resonanz SDK: what services and network plugin authors import.

Plugin authors depend on this distribution alone: the :class:`~resonanz_sdk.network.Network`
contract, its :class:`~resonanz_sdk.manifest.Manifest`, the hook specifications and the errors.
"""

from __future__ import annotations

__version__ = "0.1.0"
