"""Counting text the way a network counts it, from its manifest's :class:`TextRules`."""

from __future__ import annotations

import re

from resonanz_sdk.manifest import TextCounting, TextRules

_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


def count_text(text: str, rules: TextRules) -> int:
    """Length of ``text`` as the network counts it."""
    if rules.counting is TextCounting.CODE_POINTS:
        return len(text)
    if rules.counting is TextCounting.UTF16_UNITS:
        return len(text.encode("utf-16-le")) // 2
    if rules.counting is TextCounting.CODE_POINTS_URLS_FIXED:
        if rules.url_length is None:
            raise ValueError("CODE_POINTS_URLS_FIXED needs url_length")
        urls = _URL.findall(text)
        return len(_URL.sub("", text)) + rules.url_length * len(urls)
    raise ValueError(f"unknown text counting {rules.counting!r}")
