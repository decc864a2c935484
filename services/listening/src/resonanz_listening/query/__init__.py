"""The boolean listening-query language: lexer, parser (to an AST) and a local matcher.

>>> from resonanz_listening.query import parse, search_terms, matches
>>> ast = parse('acme AND ("new phone" OR #acmephone) NOT @acme_support')
>>> search_terms(ast)
('acme', 'new phone', '#acmephone')
"""

from __future__ import annotations

from resonanz_listening.query.formatter import format_query
from resonanz_listening.query.lexer import QuerySyntaxError
from resonanz_listening.query.matcher import compile_query, matches
from resonanz_listening.query.nodes import Account, And, Hashtag, Node, Not, Or, Phrase, Term
from resonanz_listening.query.parser import parse, search_terms

__all__ = [
    "Account",
    "And",
    "Hashtag",
    "Node",
    "Not",
    "Or",
    "Phrase",
    "QuerySyntaxError",
    "Term",
    "compile_query",
    "format_query",
    "matches",
    "parse",
    "search_terms",
]
