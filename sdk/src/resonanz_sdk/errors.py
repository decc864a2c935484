"""The one error hierarchy of Resonanz.

Domain errors say what went wrong in words a caller can act on; the gRPC error interceptor maps each
class to a status code (see :mod:`resonanz_sdk.grpc.errors`). Anything that is not a
:class:`ResonanzError` is a bug and is answered with INTERNAL, never with its text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ResonanzError(Exception):
    """Root of every error Resonanz raises on purpose."""


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request: the dotted path of the field and why it is wrong."""

    field: str
    description: str


class ValidationError(ResonanzError):
    """The input is invalid; nothing was changed. Maps to INVALID_ARGUMENT with field violations."""

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        if not self.violations:
            raise ValueError("a ValidationError needs at least one field violation")
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def single(cls, field: str, description: str) -> ValidationError:
        return cls([FieldViolation(field, description)])


class NotFoundError(ResonanzError):
    """The entity does not exist for this tenant. Maps to NOT_FOUND."""


class AlreadyExistsError(ResonanzError):
    """The entity exists already. Maps to ALREADY_EXISTS."""


class FailedPreconditionError(ResonanzError):
    """The request is valid but the entity is not in a state that allows it. Maps to FAILED_PRECONDITION."""


class PermissionDeniedError(ResonanzError):
    """The caller may not do this. Maps to PERMISSION_DENIED."""


class UnauthenticatedError(ResonanzError):
    """The caller did not say who it is (or which tenant). Maps to UNAUTHENTICATED."""


class ConfigurationError(ResonanzError):
    """Settings are missing or contradict each other; raised at start-up."""


class BrokerError(ResonanzError):
    """The Kafka-compatible broker could not be started, reached or used."""


class PluginError(ResonanzError):
    """A plugin misbehaved: failed to load, registered something invalid, or raised a bug.

    Carries the plugin's name so operators know whom to blame.
    """

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class NetworkError(ResonanzError):
    """A social network refused or failed a call. Plugins raise the subclasses below."""

    def __init__(self, network: str, message: str) -> None:
        self.network = network
        self.reason = message
        super().__init__(f"{network}: {message}")


class TransientNetworkError(NetworkError):
    """Worth retrying later (5xx, timeouts, connection resets).

    ``retry_after`` is the network's own advice in seconds, when it gave one.
    """

    def __init__(self, network: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(network, message)
        self.retry_after = retry_after


class RateLimitedError(TransientNetworkError):
    """The network answered 429 or an equivalent; wait ``retry_after`` seconds if given."""


class PermanentNetworkError(NetworkError):
    """Retrying will not help (the content is refused, the post is gone)."""


class AuthenticationFailedError(NetworkError):
    """The credentials were refused; refresh them through the plugin, then retry once."""
