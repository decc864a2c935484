"""Text is counted the way each network counts it, as its manifest says."""

from __future__ import annotations

import pytest
from resonanz_sdk.manifest import TextCounting, TextRules
from resonanz_sdk.text import count_text


def test_code_points_count_an_emoji_once() -> None:
    assert count_text("Grüße 👋", TextRules(max_length=10)) == 7


def test_utf16_units_count_characters_outside_the_bmp_twice() -> None:
    rules = TextRules(max_length=10, counting=TextCounting.UTF16_UNITS)
    assert count_text("Grüße 👋", rules) == 8


def test_urls_count_as_a_fixed_length() -> None:
    rules = TextRules(max_length=280, counting=TextCounting.CODE_POINTS_URLS_FIXED, url_length=23)
    text = "Neu: https://example.com/a/very/long/path?with=query und http://x.de"
    assert count_text(text, rules) == len("Neu:  und ") + 2 * 23


def test_fixed_url_counting_needs_a_url_length() -> None:
    with pytest.raises(ValueError, match="url_length"):
        count_text("x", TextRules(max_length=1, counting=TextCounting.CODE_POINTS_URLS_FIXED))
