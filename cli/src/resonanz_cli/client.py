"""gRPC channels and stubs for the CLI, configured only through :class:`resonanz_sdk.settings.Settings`.

Addresses come from ``RESONANZ_PUBLISHING_ADDR`` / ``RESONANZ_LISTENING_ADDR`` / ``RESONANZ_SCORING_ADDR``
and default to ``{grpc_host}:{<service>_port``}. The account, workspace and media services are served on
the publishing address. Every call carries the tenant (``x-resonanz-tenant``) and the acting user
(``x-resonanz-actor``: ``--as``, else ``RESONANZ_ACTOR``, else the login name) so that the audit log says
who acted. Channels are opened lazily, so a command only connects to the service it needs.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

import grpc
import pydantic
import resonanz.listening.v1.listening_service_pb2_grpc as listening_grpc
import resonanz.publishing.v1.account_service_pb2_grpc as account_grpc
import resonanz.publishing.v1.media_service_pb2_grpc as media_grpc
import resonanz.publishing.v1.publishing_service_pb2_grpc as publishing_grpc
import resonanz.publishing.v1.workspace_service_pb2_grpc as workspace_grpc
import resonanz.scoring.v1.scoring_service_pb2_grpc as scoring_grpc
import typer
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import call_metadata, validate_actor, validate_tenant
from resonanz_sdk.settings import Settings

from resonanz_cli.errors import fail

#: Seconds a unary call may take before the CLI gives up.
DEFAULT_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class ClientConfig:
    """Where the services are, which tenant the CLI acts for and as whom."""

    publishing_addr: str
    listening_addr: str
    scoring_addr: str
    tenant: str
    actor: str = ""
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_settings(
        cls, settings: Settings, *, tenant: str | None = None, actor: str | None = None
    ) -> ClientConfig:
        """Resolve addresses, tenant and actor; options win over ``RESONANZ_TENANT`` / ``RESONANZ_ACTOR``."""
        chosen = tenant if tenant is not None else settings.tenant
        try:
            validate_tenant(chosen)
        except ValidationError as error:
            description = error.violations[0].description
            raise ValidationError.single("--tenant / RESONANZ_TENANT", description) from None
        host = settings.grpc_host
        return cls(
            publishing_addr=settings.publishing_addr or f"{host}:{settings.publishing_port}",
            listening_addr=settings.listening_addr or f"{host}:{settings.listening_port}",
            scoring_addr=settings.scoring_addr or f"{host}:{settings.scoring_port}",
            tenant=chosen,
            actor=resolve_actor(actor if actor is not None else settings.actor),
        )

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(self.tenant, self.actor)


def resolve_actor(configured: str) -> str:
    """The acting user: ``configured`` (``--as`` / ``RESONANZ_ACTOR``) or else the login name.

    The login name is only a default; one that is not a valid actor id (e.g. with a space) asks for
    ``--as`` instead of silently sending a made-up name.
    """
    source = "--as / RESONANZ_ACTOR"
    actor = configured.strip()
    if not actor:
        source = "login name (set --as or RESONANZ_ACTOR)"
        try:
            actor = getpass.getuser()
        except (OSError, KeyError):
            raise ValidationError.single(
                "--as / RESONANZ_ACTOR", "no login name to default to; say who acts with --as USER"
            ) from None
    try:
        return validate_actor(actor)
    except ValidationError as error:
        raise ValidationError.single(source, f"{actor!r} {error.violations[0].description}") from None


@dataclass
class Clients:
    """Lazily opened channels and stubs; :meth:`close` closes whatever was opened."""

    config: ClientConfig
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    def _channel(self, addr: str) -> grpc.Channel:
        if addr not in self._channels:
            self._channels[addr] = grpc.insecure_channel(addr)
        return self._channels[addr]

    def publishing(self) -> publishing_grpc.PublishingServiceStub:
        return publishing_grpc.PublishingServiceStub(self._channel(self.config.publishing_addr))

    def listening(self) -> listening_grpc.ListeningServiceStub:
        return listening_grpc.ListeningServiceStub(self._channel(self.config.listening_addr))

    def scoring(self) -> scoring_grpc.ScoringServiceStub:
        return scoring_grpc.ScoringServiceStub(self._channel(self.config.scoring_addr))

    def accounts(self) -> account_grpc.AccountServiceStub:
        return account_grpc.AccountServiceStub(self._channel(self.config.publishing_addr))

    def workspace(self) -> workspace_grpc.WorkspaceServiceStub:
        return workspace_grpc.WorkspaceServiceStub(self._channel(self.config.publishing_addr))

    def media(self) -> media_grpc.MediaServiceStub:
        return media_grpc.MediaServiceStub(self._channel(self.config.publishing_addr))

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self.config.metadata

    @property
    def timeout(self) -> float:
        return self.config.timeout

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()


def load_settings() -> Settings:
    """Read the ``RESONANZ_*`` settings; an invalid value is a user error, not a traceback."""
    try:
        return Settings()
    except pydantic.ValidationError as error:
        fail(
            "invalid RESONANZ_* setting",
            violations=[
                ("RESONANZ_" + ".".join(str(p) for p in e["loc"]).upper(), e["msg"]) for e in error.errors()
            ],
        )


@dataclass
class CliState:
    """Per-invocation state: the ``--tenant`` and ``--as`` options and the clients, built on first use.

    Building lazily keeps local commands (``plugins list``, ``posts import --dry-run``) free of tenant,
    actor and address checks.
    """

    tenant: str | None = None
    actor: str | None = None
    _clients: Clients | None = None

    def clients(self) -> Clients:
        if self._clients is None:
            config = ClientConfig.from_settings(load_settings(), tenant=self.tenant, actor=self.actor)
            self._clients = Clients(config)
        return self._clients

    def close(self) -> None:
        if self._clients is not None:
            self._clients.close()


def clients_of(ctx: typer.Context) -> Clients:
    """The clients of this invocation (the root callback puts a :class:`CliState` on the context)."""
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    try:
        return state.clients()
    except ValidationError as error:
        fail("invalid settings", violations=[(v.field, v.description) for v in error.violations])
