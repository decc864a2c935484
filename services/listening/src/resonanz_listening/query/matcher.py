"""Applies a parsed query to one post locally: networks' own search is often weaker than the query.

Matching is case-insensitive (Unicode case folding, so ``Straße`` matches ``STRASSE``). Terms and
phrases match on word boundaries in the text; a hashtag matches the post's hashtags or ``#tag`` in
the text; an account matches the post's mentioned handles or ``@handle`` in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from resonanz_listening.query.nodes import Account, And, Hashtag, Node, Not, Phrase, Term


@dataclass(frozen=True)
class Post:
    """The parts of a post a query looks at, normalised for matching."""

    text: str
    hashtags: frozenset[str]
    mentions: frozenset[str]

    @classmethod
    def of(cls, text: str, hashtags: Iterable[str] = (), mentions: Iterable[str] = ()) -> Post:
        return cls(
            text=text.casefold(),
            hashtags=frozenset(h.lstrip("#").casefold() for h in hashtags),
            mentions=frozenset(m.lstrip("@").casefold() for m in mentions),
        )


Predicate = Callable[[Post], bool]


def _bounded(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){pattern}(?!\w)")


def _compile(node: Node) -> Predicate:  # noqa: PLR0911 - one return per node type
    if isinstance(node, Term):
        rx = _bounded(re.escape(node.text))
        return lambda p: rx.search(p.text) is not None
    if isinstance(node, Phrase):
        rx = _bounded(r"\s+".join(re.escape(w) for w in node.words))
        return lambda p: rx.search(p.text) is not None
    if isinstance(node, Hashtag):
        tag = node.tag
        rx = _bounded(re.escape(f"#{tag}"))
        return lambda p: tag in p.hashtags or rx.search(p.text) is not None
    if isinstance(node, Account):
        handle = node.handle
        rx = re.compile(rf"(?<![\w@]){re.escape('@' + handle)}(?![\w@.-]*\w)")
        return lambda p: handle in p.mentions or rx.search(p.text) is not None
    if isinstance(node, Not):
        inner = _compile(node.child)
        return lambda p: not inner(p)
    if isinstance(node, And):
        parts = [_compile(c) for c in node.children]
        return lambda p: all(f(p) for f in parts)
    ors = [_compile(c) for c in node.children]
    return lambda p: any(f(p) for f in ors)


@lru_cache(maxsize=1024)
def compile_query(node: Node) -> Predicate:
    """A fast predicate over :class:`Post` for ``node`` (cached per AST)."""
    return _compile(node)


def matches(node: Node, text: str, hashtags: Iterable[str] = (), mentions: Iterable[str] = ()) -> bool:
    """Whether a post with this text, hashtags and mentioned handles satisfies the query."""
    return compile_query(node)(Post.of(text, hashtags, mentions))
