"""Writes an AST back as query text: ``parse(format_query(parse(q))) == parse(q)`` for every valid ``q``.

The text is canonical: operators upper-case and explicit (``AND`` is written, never implied), leaf
values as stored (case-folded), parentheses only where precedence needs them
(``NOT`` > ``AND`` > ``OR``). Useful to show a query the way the service understood it.
"""

from __future__ import annotations

from resonanz_listening.query.nodes import Account, And, Hashtag, Node, Not, Or, Phrase, Term

#: Binding strength of each operator: a child binding less tightly than its parent gets parentheses.
_OR, _AND, _NOT, _LEAF = 1, 2, 3, 4


def _strength(node: Node) -> int:
    if isinstance(node, Or):
        return _OR
    if isinstance(node, And):
        return _AND
    if isinstance(node, Not):
        return _NOT
    return _LEAF


def _child(node: Node, parent: int) -> str:
    text = format_query(node)
    return f"({text})" if _strength(node) < parent else text


def format_query(node: Node) -> str:  # noqa: PLR0911 - one return per node type
    """The canonical text of ``node``."""
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    if isinstance(node, Hashtag):
        return f"#{node.tag}"
    if isinstance(node, Account):
        return f"@{node.handle}"
    if isinstance(node, Not):
        return f"NOT {_child(node.child, _NOT)}"
    if isinstance(node, And):
        return " AND ".join(_child(c, _AND + 1) for c in node.children)
    return " OR ".join(_child(c, _OR + 1) for c in node.children)
