"""SQL building blocks the read-side queries share, portable between PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, case, cast, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from resonanz_scoring.convert import utc
from resonanz_scoring.sentiment import Sentiment


def reach_weight(reach: Any) -> Any:
    """A mention's weight in the reputation index: its estimated reach, floored at 1."""
    return case((reach > 1, reach), else_=1)


def sum_if(condition: ColumnElement[bool], value: Any = 1) -> Any:
    """``SUM(CASE WHEN condition THEN value ELSE 0 END)``, 0 over no rows."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def sentiment_sums(sentiment: Any, reach: Any, where: ColumnElement[bool] | None = None) -> list[Any]:
    """Count and reach-weight of positive, neutral and negative rows (six columns, in that order),
    restricted to ``where`` when given (for two windows in one scan)."""
    columns: list[Any] = []
    for kind in (Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE):
        condition = sentiment == int(kind)
        if where is not None:
            condition = condition & where
        columns.append(sum_if(condition))
    for kind in (Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE):
        condition = sentiment == int(kind)
        if where is not None:
            condition = condition & where
        columns.append(sum_if(condition, reach_weight(reach)))
    return columns


def bucket_index(engine: AsyncEngine, column: Any, start: datetime, bucket_seconds: int) -> Any:
    """The 0-based index of the ``bucket_seconds`` long bucket, counted from ``start``, that the
    timestamp ``column`` falls in (for rows with ``column >= start``).

    PostgreSQL: ``floor((extract(epoch from t) - s) / b)``; SQLite stores UTC text, read with
    ``strftime('%s')`` (whole seconds) and integer division (the operands are non-negative).
    """
    origin = int(utc(start).timestamp())
    if engine.dialect.name == "postgresql":
        return cast(func.floor((func.extract("epoch", column) - origin) / bucket_seconds), Integer)
    seconds = cast(func.strftime("%s", column), Integer)
    return (seconds - origin) // bucket_seconds


def day_key(engine: AsyncEngine, column: Any) -> Any:
    """``YYYY-MM-DD`` of a UTC timestamp column."""
    if engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)
