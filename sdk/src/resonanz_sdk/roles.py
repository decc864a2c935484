"""Process roles: which parts of a service one process runs (``RESONANZ_PUBLISHING_ROLES``, ...).

A Kubernetes deployment runs each part in its own Deployment (the API scaled by requests, workers by
consumer lag); the embedded default and a single container run all of them. Every process serves gRPC
health on its port whatever its roles, so one probe fits all.
"""

from __future__ import annotations

from collections.abc import Sequence

from resonanz_sdk.errors import ConfigurationError

__all__ = ["parse_roles"]


def parse_roles(value: str, *, allowed: Sequence[str], variable: str) -> frozenset[str]:
    """The roles named in the comma-separated ``value`` (case and blanks ignored).

    Raises :class:`ConfigurationError` naming ``variable`` when a role is unknown or none is named.
    """
    roles = [part.strip().lower() for part in value.split(",") if part.strip()]
    unknown = sorted({role for role in roles if role not in allowed})
    if unknown:
        raise ConfigurationError(
            f"{variable}={value!r}: unknown role(s) {', '.join(unknown)}; the roles are {', '.join(allowed)}"
        )
    if not roles:
        raise ConfigurationError(f"{variable} names no role; the roles are {', '.join(allowed)}")
    return frozenset(roles)
