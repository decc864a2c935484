"""Trace context: W3C traceparent values in a contextvar that follows asyncio tasks."""

from __future__ import annotations

import asyncio
import re

from resonanz_sdk.tracing import (
    child_traceparent,
    current_traceparent,
    ensure_traceparent,
    is_valid_traceparent,
    new_traceparent,
    trace_id_of,
    use_traceparent,
)

W3C = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def test_new_traceparents_are_valid_and_distinct() -> None:
    values = {new_traceparent() for _ in range(200)}
    assert len(values) == 200
    assert all(W3C.match(value) and is_valid_traceparent(value) for value in values)


def test_validation() -> None:
    assert not is_valid_traceparent(None)
    assert not is_valid_traceparent("")
    assert not is_valid_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01")
    assert not is_valid_traceparent("00-" + "1" * 32 + "-" + "0" * 16 + "-01")
    assert not is_valid_traceparent("01-" + "1" * 32 + "-" + "1" * 16 + "-01")
    assert not is_valid_traceparent("00-" + "A" * 32 + "-" + "1" * 16 + "-01")
    assert is_valid_traceparent("00-" + "a" * 32 + "-" + "1" * 16 + "-00")


def test_use_traceparent_sets_and_restores() -> None:
    assert current_traceparent() is None
    outer, inner = new_traceparent(), new_traceparent()
    with use_traceparent(outer):
        assert current_traceparent() == outer
        assert ensure_traceparent() == outer
        with use_traceparent(inner):
            assert current_traceparent() == inner
        assert current_traceparent() == outer
        with use_traceparent("garbage"):
            assert current_traceparent() is None
        assert current_traceparent() == outer
    assert current_traceparent() is None


def test_ensure_traceparent_outside_a_trace_starts_one_without_setting_it() -> None:
    value = ensure_traceparent()
    assert is_valid_traceparent(value)
    assert current_traceparent() is None
    assert ensure_traceparent() != value


def test_child_keeps_the_trace_id() -> None:
    parent = new_traceparent()
    child = child_traceparent(parent)
    assert trace_id_of(child) == trace_id_of(parent)
    assert child != parent
    assert is_valid_traceparent(child_traceparent("nonsense"))
    assert trace_id_of("nonsense") is None


async def test_context_follows_tasks_and_stays_isolated() -> None:
    seen: dict[str, str | None] = {}

    async def worker(name: str, value: str) -> None:
        with use_traceparent(value):
            await asyncio.sleep(0.01)
            seen[name] = current_traceparent()

    a, b = new_traceparent(), new_traceparent()
    await asyncio.gather(worker("a", a), worker("b", b))
    assert seen == {"a": a, "b": b}

    parent = new_traceparent()
    with use_traceparent(parent):
        task_value = await asyncio.create_task(_read_current())
    assert task_value == parent
    # A task started outside the trace does not see it.
    assert await asyncio.create_task(_read_current()) is None


async def _read_current() -> str | None:
    return current_traceparent()
