"""The boolean query language: parsing, errors with positions, precedence, and local matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from resonanz_listening.query import (
    Account,
    And,
    Hashtag,
    Not,
    Or,
    Phrase,
    Term,
    matches,
    parse,
    search_terms,
)
from resonanz_sdk.errors import ValidationError


def error_of(query: str) -> str:
    with pytest.raises(ValidationError) as info:
        parse(query)
    (violation,) = info.value.violations
    assert violation.field == "expression"
    return violation.description


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("acme", Term("acme")),
        ("ACME", Term("acme")),
        ('"New Phone"', Phrase(("new", "phone"))),
        ("#AcmePhone", Hashtag("acmephone")),
        ("@Acme_Support", Account("acme_support")),
        ("a b", And((Term("a"), Term("b")))),
        ("a AND b", And((Term("a"), Term("b")))),
        ("a and b", And((Term("a"), Term("b")))),
        ("a OR b", Or((Term("a"), Term("b")))),
        ("a b OR c", Or((And((Term("a"), Term("b"))), Term("c")))),
        ("a OR b c", Or((Term("a"), And((Term("b"), Term("c")))))),
        ("a AND (b OR c)", And((Term("a"), Or((Term("b"), Term("c")))))),
        ("a NOT b", And((Term("a"), Not(Term("b"))))),
        ("NOT a OR b", Or((Not(Term("a")), Term("b")))),
        ("a NOT (b OR c)", And((Term("a"), Not(Or((Term("b"), Term("c"))))))),
        ("a OR b OR c", Or((Term("a"), Term("b"), Term("c")))),
        ('"and" b', And((Phrase(("and",)), Term("b")))),
        ("c++ OR x", Or((Term("c++"), Term("x")))),
    ],
)
def test_parse_builds_the_expected_tree(query: str, expected: object) -> None:
    assert parse(query) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("acme AND (bar) )", "unexpected ')' at position 16"),
        ("foo AND (bar OR)", "unexpected ')' at position 16"),
        (")", "unexpected ')' at position 1"),
        ("(acme", "missing ')' for '(' at position 1"),
        ("a (b (c)", "missing ')' for '(' at position 3"),
        ("acme AND", "unexpected end of query at position 9: expected a term after 'AND'"),
        ("acme OR OR b", "unexpected 'OR' at position 9"),
        ('acme "new phone', "unterminated quote at position 6"),
        ('acme ""', "empty phrase at position 6"),
        ("acme # b", "invalid hashtag '#' at position 6"),
        ("acme @", "invalid account '@' at position 6"),
        ("()", "unexpected ')' at position 2"),
        ("", "query is empty"),
        ("   ", "query is empty"),
        ("NOT acme", "query needs at least one term that is not negated"),
    ],
)
def test_malformed_queries_name_the_position(query: str, message: str) -> None:
    assert error_of(query).startswith(message)


def test_too_deep_and_too_long_queries_are_refused() -> None:
    assert "nested too deeply" in error_of("(" * 40 + "a" + ")" * 40)
    assert "longer than" in error_of("a " * 1001)


def test_search_terms_are_the_positive_terms_only() -> None:
    ast = parse('acme AND ("new phone" OR #AcmePhone) NOT @acme_support NOT (bad OR worse) acme')
    assert search_terms(ast) == ("acme", "new phone", "#acmephone")
    assert search_terms(parse("NOT NOT acme OR x")) == ("acme", "x")


@pytest.mark.parametrize(
    ("query", "text", "hashtags", "mentions", "expected"),
    [
        ("acme", "I love ACME!", (), (), True),
        ("acme", "I love acmeCorp", (), (), False),  # whole words only
        ("straße", "Die STRASSE ist voll", (), (), True),  # Unicode case folding
        ('"new phone"', "the new\n phone is here", (), (), True),
        ('"new phone"', "phone new", (), (), False),
        ("#acme", "no tag in the text", ("Acme",), (), True),
        ("#acme", "tagged #ACME here", (), (), True),
        ("#acme", "tagged #acmephone here", (), (), False),
        ("@acme", "hi @Acme.", (), (), True),
        ("@acme", "hi @acme_support", (), (), False),
        ("@acme", "plain", (), ("@ACME",), True),
        ("acme NOT support", "acme support is slow", (), (), False),
        ("acme NOT support", "acme rocks", (), (), True),
        ("acme (phone OR tablet)", "acme tablet", (), (), True),
        ("acme (phone OR tablet)", "acme laptop", (), (), False),
        ("acme phone OR tablet", "just a tablet", (), (), True),
        ("c++ jobs", "C++ jobs in Berlin", (), (), True),
    ],
)
def test_matches_applies_the_whole_query(
    query: str, text: str, hashtags: tuple[str, ...], mentions: tuple[str, ...], expected: bool
) -> None:
    assert matches(parse(query), text, hashtags, mentions) is expected


words = st.sampled_from(["acme", "phone", "tablet", "berlin", "preis", "gut", "schlecht"])

#: A query tree as nested tuples: a word, or (operator, left, right) with operator one of
#: "AND", "OR", "" (implicit AND) and "NOT" (left AND NOT right).
Tree = str | tuple[str, "Tree", "Tree"]


def trees() -> st.SearchStrategy[Tree]:
    return st.recursive(
        words,
        lambda inner: st.tuples(st.sampled_from(["AND", "OR", "", "NOT"]), inner, inner),
        max_leaves=8,
    )


def render(tree: Tree) -> str:
    if isinstance(tree, str):
        return tree
    op, left, right = tree
    return f"({render(left)} {op + ' ' if op else ''}{render(right)})"


def evaluate(tree: Tree, present: set[str]) -> bool:
    """Reference semantics, written independently of the parser."""
    if isinstance(tree, str):
        return tree in present
    op, left, right = tree
    a, b = evaluate(left, present), evaluate(right, present)
    if op == "OR":
        return a or b
    if op == "NOT":
        return a and not b
    return a and b


@given(trees(), st.sets(words))
def test_matcher_agrees_with_reference_semantics(tree: Tree, present: set[str]) -> None:
    try:
        ast = parse(render(tree))
    except ValidationError:
        return  # a wholly negated query is refused; covered elsewhere
    text = " ".join(sorted(present))
    assert matches(ast, text) is evaluate(tree, present)


@given(st.text(max_size=60))
def test_parse_either_succeeds_or_raises_validation_error(query: str) -> None:
    try:
        ast = parse(query)
    except ValidationError as exc:
        fields = {v.field for v in exc.violations}
    else:
        fields = {"expression"} if search_terms(ast) else set()
    assert fields == {"expression"}
