"""Recursive-descent parser for listening queries, and the terms a network is asked for.

Grammar (operators case-insensitive; adjacent operands are joined by an implicit AND)::

    query   := or_expr
    or_expr := and_expr ("OR" and_expr)*
    and_expr:= unary (["AND"] unary)*
    unary   := "NOT" unary | primary
    primary := TERM | PHRASE | HASHTAG | ACCOUNT | "(" or_expr ")"

So ``NOT`` binds tightest, then ``AND``, then ``OR``: ``a b OR c`` is ``(a AND b) OR c``.
Every syntax error is a :class:`~resonanz_sdk.errors.ValidationError` on field ``expression`` whose
description names the 1-based character position.
"""

from __future__ import annotations

from resonanz_listening.query.lexer import Kind, Token, syntax_error, tokenize
from resonanz_listening.query.nodes import Account, And, Hashtag, Node, Not, Or, Phrase, Term

MAX_LENGTH = 2000
MAX_DEPTH = 32

_OPERAND_START = {Kind.TERM, Kind.PHRASE, Kind.HASHTAG, Kind.ACCOUNT, Kind.LPAREN, Kind.NOT}


class _Parser:
    def __init__(self, query: str, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._i = 0
        self._end = len(query) + 1
        self._depth = 0

    def _peek(self) -> Token | None:
        return self._tokens[self._i] if self._i < len(self._tokens) else None

    def _next(self) -> Token:
        tok = self._tokens[self._i]
        self._i += 1
        return tok

    def parse(self) -> Node:
        node = self._or()
        tok = self._peek()
        if tok is not None:
            raise syntax_error(f"unexpected {tok.raw!r} at position {tok.position}", tok.position)
        return node

    def _or(self) -> Node:
        children = [self._and()]
        while (tok := self._peek()) is not None and tok.kind is Kind.OR:
            self._next()
            children.append(self._and())
        return children[0] if len(children) == 1 else Or(tuple(_flatten(Or, children)))

    def _and(self) -> Node:
        children = [self._unary()]
        while (tok := self._peek()) is not None:
            if tok.kind is Kind.AND:
                self._next()
            elif tok.kind not in _OPERAND_START:
                break
            children.append(self._unary())
        return children[0] if len(children) == 1 else And(tuple(_flatten(And, children)))

    def _unary(self) -> Node:
        tok = self._peek()
        if tok is not None and tok.kind is Kind.NOT:
            self._next()
            self._enter(tok)
            try:
                return Not(self._unary())
            finally:
                self._depth -= 1
        return self._primary()

    def _primary(self) -> Node:
        tok = self._peek()
        if tok is None:
            before = self._tokens[self._i - 1] if self._i else None
            after = f" after {before.raw!r}" if before is not None else ""
            raise syntax_error(
                f"unexpected end of query at position {self._end}: expected a term{after}", self._end
            )
        self._next()
        if tok.kind is Kind.TERM:
            return Term(tok.value)
        if tok.kind is Kind.PHRASE:
            return Phrase(tuple(tok.value.split(" ")))
        if tok.kind is Kind.HASHTAG:
            return Hashtag(tok.value)
        if tok.kind is Kind.ACCOUNT:
            return Account(tok.value)
        if tok.kind is Kind.LPAREN:
            self._enter(tok)
            try:
                node = self._or()
            finally:
                self._depth -= 1
            close = self._peek()
            if close is None:
                raise syntax_error(f"missing ')' for '(' at position {tok.position}", tok.position)
            if close.kind is not Kind.RPAREN:  # pragma: no cover - _or stops only at ')' or the end
                raise syntax_error(f"unexpected {close.raw!r} at position {close.position}", close.position)
            self._next()
            return node
        raise syntax_error(f"unexpected {tok.raw!r} at position {tok.position}", tok.position)

    def _enter(self, tok: Token) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise syntax_error(
                f"query nested too deeply at position {tok.position} (at most {MAX_DEPTH} levels)",
                tok.position,
            )


def _flatten(kind: type[And] | type[Or], children: list[Node]) -> list[Node]:
    out: list[Node] = []
    for child in children:
        if isinstance(child, kind):
            out.extend(child.children)
        else:
            out.append(child)
    return out


def parse(query: str) -> Node:
    """The AST of ``query``; raises :class:`QuerySyntaxError` (field ``expression``) when it is malformed.

    Every error names a 1-based position: where the problem is, ``MAX_LENGTH + 1`` for a query that is
    too long, 1 for an empty one, the first token for one without a positive term.
    """
    if len(query) > MAX_LENGTH:
        raise syntax_error(f"query is longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)
    tokens = tokenize(query)
    if not tokens:
        raise syntax_error("query is empty", 1)
    node = _Parser(query, tokens).parse()
    if not search_terms(node):
        raise syntax_error("query needs at least one term that is not negated", tokens[0].position)
    return node


def search_terms(node: Node) -> tuple[str, ...]:
    """The positive (not negated) terms to ask networks for, in query order, without duplicates.

    Terms and phrases come as plain text, hashtags as ``#tag``, accounts as ``@handle``. A network
    returns posts containing any of them; :func:`~resonanz_listening.query.matcher.matches` then
    applies the whole query.
    """
    seen: dict[str, None] = {}
    _collect(node, positive=True, out=seen)
    return tuple(seen)


def _collect(node: Node, *, positive: bool, out: dict[str, None]) -> None:
    if isinstance(node, Not):
        _collect(node.child, positive=not positive, out=out)
    elif isinstance(node, And | Or):
        for child in node.children:
            _collect(child, positive=positive, out=out)
    elif positive:
        out.setdefault(_search_text(node), None)


def _search_text(node: Term | Phrase | Hashtag | Account) -> str:
    if isinstance(node, Hashtag):
        return f"#{node.tag}"
    if isinstance(node, Account):
        return f"@{node.handle}"
    return node.text
