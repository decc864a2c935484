"""Turns a query string into tokens, each with its 1-based character position.

Tokens: ``(``, ``)``, ``"quoted phrases"``, ``#hashtags``, ``@accounts``, the operators ``AND``,
``OR``, ``NOT`` (in any letter case; quote them to search for the word) and plain terms (any run of
characters other than whitespace, parentheses and quotes).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum

from resonanz_sdk.errors import FieldViolation, ValidationError

FIELD = "expression"

_OPERATORS = {"AND", "OR", "NOT"}
_SPECIAL = '()"'


class Kind(Enum):
    LPAREN = "("
    RPAREN = ")"
    AND = "AND"
    OR = "OR"
    NOT = "NOT"
    TERM = "term"
    PHRASE = "phrase"
    HASHTAG = "hashtag"
    ACCOUNT = "account"


@dataclass(frozen=True)
class Token:
    kind: Kind
    #: The token's value: case-folded text of terms and phrases, body of hashtags/accounts.
    value: str
    #: 1-based position of the token's first character in the query.
    position: int
    #: The token as written, for error messages.
    raw: str


class QuerySyntaxError(ValidationError):
    """A malformed query: one violation on field ``expression`` whose description names ``position``.

    ``position`` is 1-based; ``len(query) + 1`` means "at the end" (e.g. a missing operand).
    """

    def __init__(self, description: str, position: int) -> None:
        self.position = position
        if f"position {position}" not in description:
            description = f"{description} (at position {position})"
        super().__init__([FieldViolation(FIELD, description)])


def syntax_error(description: str, position: int) -> QuerySyntaxError:
    return QuerySyntaxError(description, position)


def _word_char(ch: str) -> bool:
    """Letters, digits, ``_`` and combining marks (so decomposed "café" or a case-folded "İ" stay words)."""
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def _is_hashtag_body(body: str) -> bool:
    """One or more word characters, the first not a combining mark."""
    return bool(body) and (body[0].isalnum() or body[0] == "_") and all(_word_char(c) for c in body)


def _is_account_body(body: str) -> bool:
    """A word character first, then word characters, ``.``, ``@`` or ``-``."""
    return (
        bool(body)
        and (body[0].isalnum() or body[0] == "_")
        and all(_word_char(c) or c in ".@-" for c in body)
    )


def tokenize(query: str) -> list[Token]:
    """All tokens of ``query``; raises :class:`QuerySyntaxError` on field ``expression``."""
    tokens: list[Token] = []
    i = 0
    n = len(query)
    while i < n:
        ch = query[i]
        pos = i + 1
        if ch.isspace():
            i += 1
        elif ch == "(":
            tokens.append(Token(Kind.LPAREN, "(", pos, "("))
            i += 1
        elif ch == ")":
            tokens.append(Token(Kind.RPAREN, ")", pos, ")"))
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise syntax_error(f"unterminated quote at position {pos}", pos)
            raw = query[i : end + 1]
            words = query[i + 1 : end].split()
            if not words:
                raise syntax_error(f"empty phrase at position {pos}", pos)
            tokens.append(Token(Kind.PHRASE, " ".join(w.casefold() for w in words), pos, raw))
            i = end + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in _SPECIAL:
                j += 1
            raw = query[i:j]
            tokens.append(_word_token(raw, pos))
            i = j
    return tokens


def _word_token(raw: str, pos: int) -> Token:
    if raw in _OPERATORS or raw.upper() in _OPERATORS:
        return Token(Kind(raw.upper()), raw.upper(), pos, raw)
    if raw.startswith("#"):
        body = raw[1:]
        if not _is_hashtag_body(body):
            raise syntax_error(
                f"invalid hashtag {raw!r} at position {pos}: '#' must be followed by letters or digits", pos
            )
        return Token(Kind.HASHTAG, body.casefold(), pos, raw)
    if raw.startswith("@"):
        body = raw[1:]
        if not _is_account_body(body):
            raise syntax_error(
                f"invalid account {raw!r} at position {pos}: '@' must be followed by a handle", pos
            )
        return Token(Kind.ACCOUNT, body.casefold(), pos, raw)
    return Token(Kind.TERM, raw.casefold(), pos, raw)
