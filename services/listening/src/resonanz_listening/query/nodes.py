"""The abstract syntax tree of a listening query: immutable, hashable nodes.

Leaf values are stored case-folded (the language is case-insensitive), hashtags without ``#`` and
accounts without ``@``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """A single word (or word-like token such as ``c++``), matched on word boundaries."""

    text: str


@dataclass(frozen=True)
class Phrase:
    """Consecutive words, matched in that order with any whitespace between them."""

    words: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class Hashtag:
    tag: str


@dataclass(frozen=True)
class Account:
    handle: str


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Leaf = Term | Phrase | Hashtag | Account
Node = Term | Phrase | Hashtag | Account | Not | And | Or
