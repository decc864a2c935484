"""Alembic environment of the listening service: the sdk's :func:`resonanz_sdk.migrations.run_env`.

The service runs its migrations through :mod:`resonanz_listening.migrate`, which hands over an open
connection (inside a transaction that already holds the migration lock); ``alembic`` run by hand
(with a ``sqlalchemy.url``, or ``--sql`` offline mode) gets an engine of its own. Only the listening
service's own tables (``listening_*``) are looked at: the database may be shared with the other
services, and each keeps its own version table.
"""

from __future__ import annotations

from resonanz_listening.migrate import SCHEMA  # also registers every table of the service
from resonanz_sdk.migrations import run_env

run_env(SCHEMA)
