"""Validator collects every violation and raises them together."""

from __future__ import annotations

import pytest
from resonanz_sdk.errors import FieldViolation, ValidationError
from resonanz_sdk.grpc import DEFAULT_PAGE_SIZE, Validator, page_token


def test_no_violation_no_error() -> None:
    v = Validator()
    assert v.require(True, "a", "never")
    assert v.non_empty("x", "b")
    assert v.max_length("äöü", 3, "c")
    v.check()
    assert list(v.violations) == []


def test_all_violations_are_raised_together_in_order() -> None:
    v = Validator()
    assert not v.require(False, "post.text", "too long for x")
    assert not v.non_empty("   ", "post.title")
    assert not v.max_length("abcd", 3, "post.tags[0]")
    v.add("post.networks", "at least one")
    with pytest.raises(ValidationError) as info:
        v.check()
    assert info.value.violations == (
        FieldViolation("post.text", "too long for x"),
        FieldViolation("post.title", "must not be empty"),
        FieldViolation("post.tags[0]", "must be at most 3 characters (is 4)"),
        FieldViolation("post.networks", "at least one"),
    )


@pytest.mark.parametrize(
    ("value", "maximum", "expected"),
    [(0, 500, DEFAULT_PAGE_SIZE), (0, 10, 10), (1, 500, 1), (500, 500, 500), (501, 500, 500), (7, 3, 3)],
)
def test_page_size(value: int, maximum: int, expected: int) -> None:
    v = Validator()
    assert v.page_size(value, "page_size", max=maximum) == expected
    v.check()


def test_negative_page_size_is_a_violation() -> None:
    v = Validator()
    v.page_size(-1, "page_size")
    assert v.violations == (FieldViolation("page_size", "must not be negative"),)


def test_page_token_is_collected_not_raised() -> None:
    v = Validator()
    assert v.page_token(page_token.encode("42"), "page_token") == "42"
    assert v.page_token("", "page_token") == ""
    assert list(v.violations) == []
    assert v.page_token("forged", "page_token") == ""
    assert [violation.field for violation in v.violations] == ["page_token"]
