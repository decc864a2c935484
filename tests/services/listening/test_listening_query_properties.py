"""Properties of the query parser over generated input (hypothesis).

* Any soup of query tokens, operators, quotes, brackets, odd Unicode and whitespace either parses or
  raises :class:`QuerySyntaxError` (nothing else) with one violation on ``expression`` naming a
  1-based position within the text (or just past its end) — the position the description states.
* ``parse(format_query(ast)) == ast`` for every query that parses, and formatting is idempotent.
* Every tree shape the parser can build (generated directly) survives format -> parse unchanged,
  and its canonical text matches posts exactly as the tree does.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from resonanz_listening.query import (
    Account,
    And,
    Hashtag,
    Node,
    Not,
    Or,
    Phrase,
    QuerySyntaxError,
    Term,
    format_query,
    matches,
    parse,
    search_terms,
)
from resonanz_listening.query.parser import MAX_DEPTH, MAX_LENGTH

FRAGMENTS = [
    "(",
    ")",
    '"',
    "AND",
    "and",
    "Or",
    "NOT",
    "not",
    "#",
    "@",
    "acme",
    "Acme",
    "#acme",
    "#AcmePhone",
    "@acme_support",
    "@a.b-c",
    "c++",
    "straße",
    "İstanbul",
    "#İstanbul",
    "cafe\u0301",
    "#cafe\u0301",
    "日本",
    "#日本",
    "'",
    "-",
    "*",
    "\\",
    "%",
    "_",
    "#_",
    "@@",
    "##",
]
SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", ""])
fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6))
soups = st.lists(st.tuples(fragment, SPACES), max_size=25).map(lambda parts: "".join(f + s for f, s in parts))

_POSITION = re.compile(r"position (\d+)")


def _check_error(query: str, error: QuerySyntaxError) -> None:
    (violation,) = error.violations
    assert violation.field == "expression"
    assert 1 <= error.position <= len(query) + 1
    stated = [int(n) for n in _POSITION.findall(violation.description)]
    assert error.position in stated


@settings(max_examples=400)
@given(soups)
@example("")
@example("NOT a")
@example("a " * (MAX_LENGTH // 2 + 1))
@example("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
@example('a "b')
@example("#İstanbul")
def test_any_soup_parses_or_fails_with_a_position(query: str) -> None:
    try:
        ast = parse(query)
    except QuerySyntaxError as error:
        _check_error(query, error)
    else:
        assert search_terms(ast)


@settings(max_examples=400)
@given(soups)
def test_format_round_trips(query: str) -> None:
    try:
        ast = parse(query)
    except QuerySyntaxError:
        return
    text = format_query(ast)
    assert parse(text) == ast
    assert format_query(parse(text)) == text


# -- generated trees: every AST shape the parser can produce -----------------------------------

words = st.text(alphabet="abcxyzäß1_+", min_size=1, max_size=5).filter(
    lambda w: w.upper() not in {"AND", "OR", "NOT"}
)
leaves: st.SearchStrategy[Node] = st.one_of(
    words.map(lambda w: Term(w.casefold())),
    st.lists(words, min_size=1, max_size=3).map(lambda ws: Phrase(tuple(w.casefold() for w in ws))),
    words.filter(lambda w: w[0] != "+" and "+" not in w).map(lambda w: Hashtag(w.casefold())),
    words.filter(lambda w: "+" not in w).map(lambda w: Account(w.casefold())),
)


def _flat(kind: type[And] | type[Or], children: list[Node]) -> Node:
    out: list[Node] = []
    for child in children:
        out.extend(child.children if isinstance(child, kind) else (child,))
    return kind(tuple(out))


def _extend(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: _flat(And, cs)),
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: _flat(Or, cs)),
    )


trees = st.recursive(leaves, _extend, max_leaves=10)


@settings(max_examples=300)
@given(trees)
def test_generated_trees_round_trip(tree: Node) -> None:
    text = format_query(tree)
    if not search_terms(tree):  # a wholly negated query is refused; everything else comes back
        with pytest.raises(QuerySyntaxError, match="not negated"):
            parse(text)
        return
    assert parse(text) == tree


@given(trees, st.sets(st.sampled_from(["abc", "xyz", "ä1", "ß_"])))
def test_canonical_text_matches_like_the_tree(tree: Node, words_present: set[str]) -> None:
    text = " ".join(sorted(words_present))
    try:
        parsed = parse(format_query(tree))
    except QuerySyntaxError:
        return
    assert matches(parsed, text) is matches(tree, text)
