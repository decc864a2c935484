"""The gRPC API: ``resonanz.publishing.v1.AccountService`` (connected accounts and posting queues).

Tenant and actor come from the call metadata. Reads need nothing beyond the tenant; changes need the
edit permission and key rotation the admin permission (see :mod:`resonanz_publishing.access`).
Credentials go in, never out: responses carry only the names of the credential fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import grpc.aio
from resonanz.publishing.v1 import account_service_pb2 as apb
from resonanz.publishing.v1 import account_service_pb2_grpc as apb_grpc
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.grpc import Validator, actor_of, tenant_of
from resonanz_sdk.plugins import PluginManager

from resonanz_publishing.access import AccessControl, Permission
from resonanz_publishing.accounts import AccountStore, account_to_proto
from resonanz_publishing.convert import now_utc
from resonanz_publishing.queues import QueueStore, queue_to_proto, validate_queue

Context = grpc.aio.ServicerContext[Any, Any]

MAX_HANDLE_LENGTH = 200
MAX_NETWORK_LENGTH = 64
MAX_DISPLAY_NAME_LENGTH = 200
MAX_CREDENTIAL_ENTRIES = 50
MAX_CREDENTIAL_KEY_LENGTH = 100
MAX_CREDENTIAL_VALUE_LENGTH = 10_000


class AccountServicer(apb_grpc.AccountServiceServicer):
    def __init__(
        self, accounts: AccountStore, queues: QueueStore, plugins: PluginManager, access: AccessControl
    ) -> None:
        self._accounts = accounts
        self._queues = queues
        self._plugins = plugins
        self._access = access

    async def ConnectAccount(  # noqa: N802 - gRPC method name
        self, request: apb.ConnectAccountRequest, context: Context
    ) -> apb.ConnectAccountResponse:
        tenant, actor = tenant_of(context), actor_of(context)
        v = Validator()
        self._check_ref(v, request, loaded=True)
        v.max_length(request.display_name, MAX_DISPLAY_NAME_LENGTH, "display_name")
        _check_credentials(v, request.credentials)
        v.check()
        await self._access.require(tenant, actor, Permission.EDIT)
        row = await self._accounts.connect(
            tenant,
            request.account.network,
            request.account.handle,
            request.display_name,
            dict(request.credentials),
            actor,
        )
        return apb.ConnectAccountResponse(account=account_to_proto(row))

    async def GetAccount(self, request: apb.GetAccountRequest, context: Context) -> apb.GetAccountResponse:  # noqa: N802 - gRPC method name
        tenant = tenant_of(context)
        v = Validator()
        self._check_ref(v, request, loaded=False)
        v.check()
        row = await self._accounts.get(tenant, request.account.network, request.account.handle)
        return apb.GetAccountResponse(account=account_to_proto(row))

    async def ListAccounts(  # noqa: N802 - gRPC method name
        self, request: apb.ListAccountsRequest, context: Context
    ) -> apb.ListAccountsResponse:
        tenant = tenant_of(context)
        v = Validator()
        v.max_length(request.network, MAX_NETWORK_LENGTH, "network")
        v.check()
        rows = await self._accounts.list_accounts(tenant, request.network)
        return apb.ListAccountsResponse(accounts=[account_to_proto(r) for r in rows])

    async def UpdateCredentials(  # noqa: N802 - gRPC method name
        self, request: apb.UpdateCredentialsRequest, context: Context
    ) -> apb.UpdateCredentialsResponse:
        tenant, actor = tenant_of(context), actor_of(context)
        v = Validator()
        self._check_ref(v, request, loaded=True)
        _check_credentials(v, request.credentials)
        v.check()
        await self._access.require(tenant, actor, Permission.EDIT)
        row = await self._accounts.update_credentials(
            tenant, request.account.network, request.account.handle, dict(request.credentials), actor
        )
        return apb.UpdateCredentialsResponse(account=account_to_proto(row))

    async def DisconnectAccount(  # noqa: N802 - gRPC method name
        self, request: apb.DisconnectAccountRequest, context: Context
    ) -> apb.DisconnectAccountResponse:
        tenant, actor = tenant_of(context), actor_of(context)
        v = Validator()
        self._check_ref(v, request, loaded=False)
        v.check()
        await self._access.require(tenant, actor, Permission.EDIT)
        row = await self._accounts.disconnect(tenant, request.account.network, request.account.handle, actor)
        return apb.DisconnectAccountResponse(account=account_to_proto(row))

    async def SetPostingQueue(  # noqa: N802 - gRPC method name
        self, request: apb.SetPostingQueueRequest, context: Context
    ) -> apb.SetPostingQueueResponse:
        tenant, actor = tenant_of(context), actor_of(context)
        slots = [(s.weekday, s.time) for s in request.slots]
        v = Validator()
        self._check_ref(v, request, loaded=True)
        try:
            validate_queue(request.time_zone, slots)
        except ValidationError as exc:
            for violation in exc.violations:
                v.add(violation.field, violation.description)
        v.check()
        await self._access.require(tenant, actor, Permission.EDIT)
        network, handle = request.account.network, request.account.handle
        account = await self._accounts.get(tenant, network, handle)
        queue = await self._queues.set_queue(tenant, network, handle, request.time_zone, slots, actor)
        now = now_utc()
        taken = await self._queues.taken_slots(tenant, network, handle, now)
        return apb.SetPostingQueueResponse(queue=queue_to_proto(account, queue, now, taken))

    async def GetPostingQueue(  # noqa: N802 - gRPC method name
        self, request: apb.GetPostingQueueRequest, context: Context
    ) -> apb.GetPostingQueueResponse:
        tenant = tenant_of(context)
        v = Validator()
        self._check_ref(v, request, loaded=False)
        v.check()
        network, handle = request.account.network, request.account.handle
        account = await self._accounts.get(tenant, network, handle)
        queue = await self._queues.get_queue(tenant, network, handle)
        now = now_utc()
        taken = await self._queues.taken_slots(tenant, network, handle, now)
        return apb.GetPostingQueueResponse(queue=queue_to_proto(account, queue, now, taken))

    async def RotateCredentialKeys(  # noqa: N802 - gRPC method name
        self, request: apb.RotateCredentialKeysRequest, context: Context
    ) -> apb.RotateCredentialKeysResponse:
        """Re-encrypts the credentials of *every* tenant: the key ring belongs to the deployment.

        An operator action; the caller needs the admin role in its own workspace (or an open one).
        """
        tenant, actor = tenant_of(context), actor_of(context)
        await self._access.require(tenant, actor, Permission.ADMIN)
        rotated = await self._accounts.rotate_all()
        return apb.RotateCredentialKeysResponse(rotated=rotated)

    def _check_ref(self, v: Validator, request: Any, *, loaded: bool) -> None:
        """``account.network`` and ``account.handle`` of ``request``; ``loaded``: a plugin must provide it."""
        network, handle = request.account.network, request.account.handle
        valid = v.non_empty(network, "account.network") and v.max_length(
            network, MAX_NETWORK_LENGTH, "account.network"
        )
        if valid and loaded:
            v.require(
                network in self._plugins.networks,
                "account.network",
                f"no loaded network plugin provides {network!r}",
            )
        if v.non_empty(handle, "account.handle"):
            v.max_length(handle, MAX_HANDLE_LENGTH, "account.handle")


def _check_credentials(v: Validator, credentials: Mapping[str, str]) -> None:
    """Sizes only; values are never echoed in a violation."""
    if not v.require(len(credentials) > 0, "credentials", "at least one credential field is needed"):
        return
    if not v.require(
        len(credentials) <= MAX_CREDENTIAL_ENTRIES, "credentials", f"at most {MAX_CREDENTIAL_ENTRIES} entries"
    ):
        return
    for key, value in sorted(credentials.items()):
        shown = key if len(key) <= MAX_CREDENTIAL_KEY_LENGTH else key[:MAX_CREDENTIAL_KEY_LENGTH] + "..."
        field = f"credentials[{json.dumps(shown)}]"
        v.require(
            1 <= len(key) <= MAX_CREDENTIAL_KEY_LENGTH,
            field,
            f"field names are 1 to {MAX_CREDENTIAL_KEY_LENGTH} characters",
        )
        v.require(
            len(value) <= MAX_CREDENTIAL_VALUE_LENGTH,
            field,
            f"at most {MAX_CREDENTIAL_VALUE_LENGTH} characters",
        )
