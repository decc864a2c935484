"""Connected accounts: their encrypted credentials and their status.

An account is one (tenant, network, handle). Its credentials are stored only as a Fernet token
(:class:`~resonanz_publishing.credentials.CredentialCipher`) and are handed out only as the sdk's
:class:`~resonanz_sdk.network.Credentials` to the code that calls a plugin; :func:`account_to_proto`
never includes them. Every change writes an audit event (without secrets) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping

from resonanz.common.v1.content_pb2 import Account, AccountStatus
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import FailedPreconditionError, NotFoundError
from resonanz_sdk.network import Credentials
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.audit import SYSTEM_ACTOR, record
from resonanz_publishing.convert import now_utc, to_timestamp
from resonanz_publishing.credentials import CredentialCipher, CredentialsUnreadableError
from resonanz_publishing.models import AccountRow

CONNECTED = AccountStatus.ACCOUNT_STATUS_CONNECTED
NEEDS_REAUTH = AccountStatus.ACCOUNT_STATUS_NEEDS_REAUTH
DISCONNECTED = AccountStatus.ACCOUNT_STATUS_DISCONNECTED

#: Rows re-encrypted per transaction by :meth:`AccountStore.rotate_all`.
ROTATE_BATCH_SIZE = 200

_STATUS_NAMES: dict[int, str] = {
    CONNECTED: "connected",
    NEEDS_REAUTH: "needs re-authentication",
    DISCONNECTED: "disconnected",
}


def _transition(before: int, after: int) -> str:
    """The account status change for the audit detail (the audit's status columns are post statuses)."""
    if before == after or before not in _STATUS_NAMES:
        return ""
    return f" [{_STATUS_NAMES[before]} -> {_STATUS_NAMES[after]}]"


def describe(network: str, handle: str) -> str:
    return f"{network} account {handle!r}"


class AccountStore:
    """The ``publishing_accounts`` table. Every method but :meth:`rotate_all` is scoped to one tenant."""

    def __init__(self, engine: AsyncEngine, cipher: CredentialCipher) -> None:
        self._sessions = session_factory(engine)
        self._cipher = cipher

    # -- reads -------------------------------------------------------------------------------------

    async def find(self, tenant: str, network: str, handle: str) -> AccountRow | None:
        async with self._sessions() as session:
            return await _find(session, tenant, network, handle)

    async def get(self, tenant: str, network: str, handle: str) -> AccountRow:
        row = await self.find(tenant, network, handle)
        if row is None:
            raise NotFoundError(f"{describe(network, handle)} not found")
        return row

    async def list_accounts(self, tenant: str, network: str = "") -> list[AccountRow]:
        stmt = select(AccountRow).where(AccountRow.tenant == tenant)
        if network:
            stmt = stmt.where(AccountRow.network == network)
        stmt = stmt.order_by(AccountRow.network, AccountRow.handle)
        async with self._sessions() as session:
            return list((await session.execute(stmt)).scalars())

    async def credentials_for(self, tenant: str, network: str, handle: str) -> Credentials:
        """The decrypted credentials, for a plugin call.

        NotFoundError without such an account; FailedPreconditionError when it is disconnected, or
        (``CredentialsUnreadableError``) when no key of the ring opens its credentials.
        """
        row = await self.get(tenant, network, handle)
        if row.status == DISCONNECTED or row.credentials is None:
            raise FailedPreconditionError(f"{describe(network, handle)} is disconnected: connect it again")
        return Credentials(self._cipher.decrypt(row.credentials))

    async def usable_accounts(
        self, tenant: str, pairs: Iterable[tuple[str, str]], *, session: AsyncSession | None = None
    ) -> dict[tuple[str, str], int]:
        """The ``AccountStatus`` of each (network, handle) of ``pairs`` that exists in ``tenant``.

        Reads in ``session`` when given (saves a connection checkout for callers that hold one).
        """
        wanted = set(pairs)
        if not wanted:
            return {}
        networks = {n for n, _ in wanted}
        handles = {h for _, h in wanted}
        stmt = select(AccountRow.network, AccountRow.handle, AccountRow.status).where(
            AccountRow.tenant == tenant, AccountRow.network.in_(networks), AccountRow.handle.in_(handles)
        )
        if session is not None:
            rows = (await session.execute(stmt)).all()
        else:
            async with self._sessions() as own:
                rows = (await own.execute(stmt)).all()
        return {(n, h): s for n, h, s in rows if (n, h) in wanted}

    # -- changes -----------------------------------------------------------------------------------

    async def connect(  # noqa: PLR0917 - positional signature shared with the servicer and CLI
        self,
        tenant: str,
        network: str,
        handle: str,
        display_name: str,
        credentials: Mapping[str, str],
        actor: str,
    ) -> AccountRow:
        """Insert the account, or reconnect it: new credentials, status CONNECTED.

        A reconnect keeps the id and ``connected_at``; an empty ``display_name`` keeps the old one.
        """
        token = self._cipher.encrypt(credentials)
        fields = sorted(credentials)
        for _ in range(2):  # a concurrent insert of the same account: the second round updates it
            try:
                async with self._sessions.begin() as session:
                    now = now_utc()
                    row = await _find(session, tenant, network, handle, for_update=True)
                    if row is None:
                        row = AccountRow(
                            id=uuid.uuid4().hex,
                            tenant=tenant,
                            network=network,
                            handle=handle,
                            display_name=display_name,
                            credentials=token,
                            credential_fields=fields,
                            status=CONNECTED,
                            status_reason="",
                            followers=0,
                            connected_at=now,
                            updated_at=now,
                        )
                        session.add(row)
                        from_status = 0
                    else:
                        from_status = row.status
                        row.credentials = token
                        row.credential_fields = fields
                        row.status = CONNECTED
                        row.status_reason = ""
                        if display_name:
                            row.display_name = display_name
                        if from_status == DISCONNECTED:
                            row.connected_at = now
                        row.updated_at = now
                    record(
                        session,
                        tenant=tenant,
                        action="account.connected",
                        actor=actor,
                        detail=f"{describe(network, handle)} connected (fields: {', '.join(fields)})"
                        + _transition(from_status, CONNECTED),
                    )
                return row
            except IntegrityError:
                continue
        raise FailedPreconditionError(f"{describe(network, handle)} is being connected concurrently; retry")

    async def update_credentials(
        self, tenant: str, network: str, handle: str, credentials: Mapping[str, str], actor: str
    ) -> AccountRow:
        """Replace the credentials of an existing account (status CONNECTED). NotFoundError if none."""
        token = self._cipher.encrypt(credentials)
        fields = sorted(credentials)
        async with self._sessions.begin() as session:
            row = await _get(session, tenant, network, handle)
            from_status = row.status
            row.credentials = token
            row.credential_fields = fields
            row.status = CONNECTED
            row.status_reason = ""
            row.updated_at = now_utc()
            record(
                session,
                tenant=tenant,
                action="account.credentials_updated",
                actor=actor,
                detail=f"{describe(network, handle)}: credentials replaced (fields: {', '.join(fields)})"
                + _transition(from_status, CONNECTED),
            )
        return row

    async def disconnect(self, tenant: str, network: str, handle: str, actor: str) -> AccountRow:
        """Forget the credentials; status DISCONNECTED. NotFoundError if there is no such account."""
        async with self._sessions.begin() as session:
            row = await _get(session, tenant, network, handle)
            from_status = row.status
            row.credentials = None
            row.status = DISCONNECTED
            row.status_reason = ""
            row.updated_at = now_utc()
            record(
                session,
                tenant=tenant,
                action="account.disconnected",
                actor=actor,
                detail=f"{describe(network, handle)} disconnected" + _transition(from_status, DISCONNECTED),
            )
        return row

    async def store_refreshed(
        self, tenant: str, network: str, handle: str, credentials: Credentials
    ) -> AccountRow:
        """Keep the credentials a plugin's ``refresh_credentials`` returned; status back to CONNECTED.

        A disconnected account stays disconnected (its credentials were forgotten on purpose).
        """
        token = self._cipher.encrypt(credentials.values)
        async with self._sessions.begin() as session:
            row = await _get(session, tenant, network, handle)
            if row.status == DISCONNECTED:
                raise FailedPreconditionError(
                    f"{describe(network, handle)} is disconnected: connect it again"
                )
            from_status = row.status
            row.credentials = token
            row.credential_fields = sorted(credentials.values)
            row.status = CONNECTED
            row.status_reason = ""
            row.updated_at = now_utc()
            record(
                session,
                tenant=tenant,
                action="account.credentials_refreshed",
                actor=SYSTEM_ACTOR,
                detail=f"{describe(network, handle)}: credentials refreshed by the plugin"
                + _transition(from_status, CONNECTED),
            )
        return row

    async def mark_needs_reauth(self, tenant: str, network: str, handle: str, reason: str) -> AccountRow:
        """The network refused the credentials and refreshing failed: someone must reconnect."""
        async with self._sessions.begin() as session:
            row = await _get(session, tenant, network, handle)
            from_status = row.status
            if row.status != DISCONNECTED:
                row.status = NEEDS_REAUTH
                row.status_reason = reason
                row.updated_at = now_utc()
                record(
                    session,
                    tenant=tenant,
                    action="account.needs_reauth",
                    actor=SYSTEM_ACTOR,
                    detail=f"{describe(network, handle)} needs to be reconnected: {reason}"
                    + _transition(from_status, NEEDS_REAUTH),
                )
        return row

    async def rotate_all(self) -> int:
        """Re-encrypt every stored credential with the primary key; returns how many were rotated.

        Global across tenants (an operator action: the key ring is the deployment's). Works in
        batches of :data:`ROTATE_BATCH_SIZE`, each its own transaction; a row changed meanwhile (e.g.
        reconnected, so already under the primary key) is left as it is. Writes one audit event
        ``credentials.rotated`` per tenant. Tokens no key opens are skipped and reported at the end
        with ``CredentialsUnreadableError`` (naming the accounts, never a secret).
        """
        rotated: Counter[str] = Counter()
        unreadable: list[str] = []
        after = ""
        while True:
            async with self._sessions.begin() as session:
                batch = (
                    await session.execute(
                        select(
                            AccountRow.id,
                            AccountRow.tenant,
                            AccountRow.network,
                            AccountRow.handle,
                            AccountRow.credentials,
                        )
                        .where(AccountRow.id > after, AccountRow.credentials.is_not(None))
                        .order_by(AccountRow.id)
                        .limit(ROTATE_BATCH_SIZE)
                    )
                ).all()
                if not batch:
                    break
                now = now_utc()
                for account_id, tenant, network, handle, token in batch:
                    try:
                        new_token = self._cipher.rotate(token)
                    except CredentialsUnreadableError:
                        unreadable.append(f"{tenant}/{network}/{handle}")
                        continue
                    result = await session.execute(
                        update(AccountRow)
                        .where(AccountRow.id == account_id, AccountRow.credentials == token)
                        .values(credentials=new_token, updated_at=now)
                    )
                    if result.rowcount:
                        rotated[tenant] += 1
                after = batch[-1][0]
        if rotated:
            async with self._sessions.begin() as session:
                for tenant, count in sorted(rotated.items()):
                    record(
                        session,
                        tenant=tenant,
                        action="credentials.rotated",
                        actor=SYSTEM_ACTOR,
                        detail=f"{count} account credential(s) re-encrypted with the primary key",
                    )
        if unreadable:
            shown = ", ".join(unreadable[:10]) + (" ..." if len(unreadable) > 10 else "")
            raise CredentialsUnreadableError(
                f"{len(unreadable)} account(s) could not be re-encrypted because the key ring lacks their "
                f"key ({shown}); {sum(rotated.values())} were rotated"
            )
        return sum(rotated.values())


async def _find(
    session: AsyncSession, tenant: str, network: str, handle: str, *, for_update: bool = False
) -> AccountRow | None:
    stmt = select(AccountRow).where(
        AccountRow.tenant == tenant, AccountRow.network == network, AccountRow.handle == handle
    )
    if for_update:
        stmt = stmt.with_for_update()
    row: AccountRow | None = (await session.execute(stmt)).scalar_one_or_none()
    return row


async def _get(session: AsyncSession, tenant: str, network: str, handle: str) -> AccountRow:
    row = await _find(session, tenant, network, handle, for_update=True)
    if row is None:
        raise NotFoundError(f"{describe(network, handle)} not found")
    return row


def account_to_proto(row: AccountRow) -> Account:
    """The API view of an account: never its credentials, only the names of their fields."""
    return Account(
        id=row.id,
        tenant=row.tenant,
        network=row.network,
        handle=row.handle,
        display_name=row.display_name,
        followers=row.followers,
        credential_fields=list(row.credential_fields),
        status=row.status,  # type: ignore[arg-type]
        connected_at=to_timestamp(row.connected_at),
        updated_at=to_timestamp(row.updated_at),
        status_reason=row.status_reason,
    )
