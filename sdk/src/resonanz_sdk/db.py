"""Async SQLAlchemy engines for PostgreSQL (production, CI) and SQLite (the embedded default).

Each service owns its tables (prefixed with the service name) and may share one database.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from resonanz_sdk.errors import ConfigurationError


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried: switching the mode of a database that another connection
    is opening or migrating at that moment fails at once with "database is locked" (SQLite does not
    run the busy handler for it). Once a database is in WAL mode the pragma is a cheap no-op."""
    deadline = time.monotonic() + SQLITE_LOCK_TIMEOUT_SECONDS
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # sqlite3's OperationalError, possibly wrapped by the async adapter
            if "database is locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


#: How long a SQLite writer waits for the write lock (the busy timeout, and the write gate's wait).
SQLITE_LOCK_TIMEOUT_SECONDS = 30.0
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS_GATE = "resonanz_holds_write_gate"


class SQLiteWriteGate:
    """Lets one write transaction of an engine run at a time, waking the waiters in arrival order.

    SQLite has one write lock per database file. Without the gate, concurrent writers of one process
    wait for it in SQLite's busy handler, which polls with growing sleeps (up to 100 ms): a writer
    that has waited a while sleeps through the moments the lock is free while newer writers take it,
    so a few writers wait for seconds under load. With the gate they queue on an ``asyncio.Lock``
    instead, taken before the statement that opens the write transaction (the first INSERT, UPDATE,
    DELETE or REPLACE; the sqlite3 driver begins the transaction there) and released when the
    transaction ends. Reads are never gated. Writers in other processes still meet the busy timeout.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def install(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before_execute)
        event.listen(sync, "commit", self._release_connection)
        event.listen(sync, "rollback", self._release_connection)
        # A connection returned or dropped without commit/rollback (e.g. a cancelled task).
        event.listen(sync.pool, "checkin", self._on_checkin)
        event.listen(sync.pool, "reset", self._on_reset)
        event.listen(sync.pool, "invalidate", self._on_invalidate)
        event.listen(sync.pool, "close", self._on_checkin)

    def _before_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.info
        if info.get(_HOLDS_GATE) or not statement.lstrip()[:7].upper().startswith(_WRITE_VERBS):
            return
        if not in_greenlet():  # a synchronous caller: leave the waiting to SQLite
            return
        lock = self._lock()
        try:
            await_only(asyncio.wait_for(lock.acquire(), SQLITE_LOCK_TIMEOUT_SECONDS))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (waited for this process's writers)") from None
        info[_HOLDS_GATE] = lock

    def _release_connection(self, conn: Any) -> None:
        _release(conn.info)

    def _on_checkin(self, dbapi_connection: Any, connection_record: Any) -> None:
        if connection_record is not None:
            _release(connection_record.info)

    def _on_reset(self, dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        self._on_checkin(dbapi_connection, connection_record)

    def _on_invalidate(self, dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        self._on_checkin(dbapi_connection, connection_record)


def _release(info: dict[Any, Any]) -> None:
    lock: asyncio.Lock | None = info.pop(_HOLDS_GATE, None)
    if lock is not None and lock.locked():
        lock.release()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url``. SQLite gets WAL, foreign keys, a busy timeout and a write gate
    (:class:`SQLiteWriteGate`), so that several tasks in one process can write without
    "database is locked" and without waiting long in SQLite's busy handler."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_LOCK_TIMEOUT_SECONDS}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # The busy timeout first, so that the statements below wait for a lock held elsewhere.
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_LOCK_TIMEOUT_SECONDS * 1000)}")
            _switch_to_wal(cursor)
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        SQLiteWriteGate().install(engine)
        return engine
    if backend == "postgresql":
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    raise ConfigurationError(f"unsupported database {backend!r}: use postgresql+asyncpg or sqlite+aiosqlite")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
