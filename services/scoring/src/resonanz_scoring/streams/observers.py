"""What the mentions agent tells the rest of the scoring service after each batch.

After a batch of ``mentions.raw`` is scored, stored and published to ``mentions.scored``, the agent
calls every registered :class:`BatchObserver` with the :class:`ScoredItem`s of that batch that were
not observed before (see "Delivery" below), then acknowledges the batch.

Delivery: at least once. An item is handed to the observers once in the normal case: the mention
row's ``emitted`` flag is set only after every observer returned, so a crash between storing and
flagging hands the same items to the observers again when the batch is redelivered. Observers must
therefore be idempotent (key their effects on ``(tenant, mention.id)``) or tolerate a rare repeat.

An observer that raises fails the batch: the agent retries the batch, then the events one by one
(the sdk consumer's retry rules) and dead-letters those that keep failing, so keep observers quick
and make them raise only for real failures. Observers run inside the agent's ``take()`` batch, where
faust refuses table updates: an observer that wants to update a faust table sends a compact event
(per-key deltas for the batch) to an internal topic whose own agent updates the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from resonanz.common.v1 import mention_pb2, score_pb2

__all__ = ["BatchObserver", "ScoredItem"]


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """One newly stored mention with its score; ``tenant`` is the envelope's (authoritative) tenant."""

    tenant: str
    mention: mention_pb2.Mention
    score: score_pb2.MentionScore


@runtime_checkable
class BatchObserver(Protocol):
    """Receives each batch of newly stored mentions (in the agent's task; see the module docstring)."""

    async def observe(self, items: Sequence[ScoredItem]) -> None: ...
