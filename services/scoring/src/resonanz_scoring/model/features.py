"""The text featuriser of the trained sentiment model: the same code at training and at run time.

A text becomes a bag of string features, in four steps:

1. **Normalise** (:func:`normalise`): HTML entities unescaped (``&gt;`` -> ``>``), typographic quotes
   made plain, links -> ``<url>``, @handles -> ``<user>``, a leading retweet marker
   ``RT`` dropped, letters repeated three or more times squeezed to two (``sooo`` -> ``soo``, marked
   with an ``<elong>`` feature), lower-cased.
2. **Tokenise** (:func:`tokens`): emoticons (``:)``, ``:-(``, ``<3``, ``xD``), single emoji,
   words (a hashtag counts as its word: ``#fail`` -> ``fail``; digits in words -> ``0``, after
   emoticons are recognised, so ``<3`` stays a heart), runs of ``!`` / ``?`` and other
   punctuation. The corpora are pre-tokenised ("gut !") and live texts are not ("gut!"); both give
   the same tokens.
3. **Negation scope**: words after a negation ("nicht", "kein", "not", "never", "n't" ...) up to the
   next punctuation get a ``_neg`` twin feature (``nicht gut`` -> ``gut`` and ``gut_neg``).
4. **Features** (:func:`features`): word unigrams (``w:``), word bigrams (``b:``), character
   n-grams of 2..5 inside word boundaries (``c:``, each word padded with one space on each side,
   like scikit-learn's ``char_wb``), plus a few flags (``f:``: elongation, all-caps word, link,
   handle, question, exclamation).

A model maps the features it knows (its pruned vocabulary) to columns; unknown features are ignored.
Only the standard library is used, so the runtime needs no scikit-learn.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from functools import lru_cache

#: Character n-gram lengths (inclusive).
CHAR_MIN = 2
CHAR_MAX = 5

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+", re.UNICODE)
_DIGITS = re.compile(r"\d+")
_RT = re.compile(r"^\s*rt\s+(?=<user>)", re.IGNORECASE)
_ELONG = re.compile(r"([^\W\d_])\1{2,}", re.UNICODE)
_PUNCT_REPEAT = re.compile(r"([!?.])\1{2,}")
_EMOTICON = (
    r"(?:[:;=8][-o'^]?[)(\]\[dDpP/\\|*3]+(?![\w]))|(?:[)(\]\[][-o'^]?[:;=8])|<3+|\^\^|xd+\b|-_-|o_o|:'\("
)
_TOKEN = re.compile(
    rf"(?P<special><url>|<user>)|(?P<emoticon>{_EMOTICON})"
    r"|(?P<word>[^\W\d_][\w'\-]*[^\W_]|[^\W\d_]|\d[\w.,]*)"
    r"|(?P<bangs>[!?]+)|(?P<punct>[.,;:()\"]+)|(?P<other>[^\w\s])",
    re.UNICODE | re.IGNORECASE,
)

NEGATIONS: frozenset[str] = frozenset(
    [
        "nicht",
        "nich",
        "net",
        "kein",
        "keine",
        "keinen",
        "keiner",
        "keinem",
        "keines",
        "nie",
        "niemals",
        "nix",
        "nichts",
        "niemand",
        "weder",
        "ohne",
        "not",
        "no",
        "never",
        "nothing",
        "nobody",
        "none",
        "neither",
        "nor",
        "cannot",
        "cant",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "wont",
        "wouldnt",
        "shouldnt",
        "couldnt",
        "aint",
        "havent",
        "hasnt",
        "hadnt",
    ]
)


def normalise(text: str) -> tuple[str, bool]:
    """Normalised text, and whether it had an elongated word (``sooo``)."""
    text = html.unescape(text).replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u201e", '"')
    text = _URL.sub(" <url> ", text)
    text = _HANDLE.sub(" <user> ", text)
    text = _RT.sub("", text)
    elongated = _ELONG.search(text) is not None
    text = _ELONG.sub(r"\1\1", text)
    text = _PUNCT_REPEAT.sub(r"\1\1\1", text)
    return text, elongated


def tokens(text: str) -> tuple[list[str], list[str]]:
    """``(tokens, flags)`` of one text; tokens are lower-case, flags are ``f:`` features."""
    normalised, elongated = normalise(text)
    out: list[str] = []
    flags: set[str] = {"f:elong"} if elongated else set()
    for match in _TOKEN.finditer(normalised):
        kind = match.lastgroup
        raw = match.group(0)
        if kind == "word":
            if len(raw) > 2 and raw.isupper():
                flags.add("f:caps")
            out.append(_DIGITS.sub("0", raw.lower()))
        elif kind == "special":
            flags.add("f:" + raw[1:-1])
            out.append(raw)
        elif kind == "emoticon":
            out.append(raw.lower())
        elif kind == "bangs":
            if "!" in raw:
                flags.add("f:bang")
            if "?" in raw:
                flags.add("f:question")
            out.append(raw[:3])
        elif kind == "punct":
            out.append(raw[0])
        elif raw not in "#&*+-_/\\|~^`'=<>$%\ufe0f\u200d":
            out.append(raw)  # emoji and other symbols, one each
    return out, sorted(flags)


def _is_word(token: str) -> bool:
    return token[0].isalpha() and token[0] != "<"


def _negated(toks: list[str]) -> list[bool]:
    """Whether each token is inside a negation scope (after a negation, before punctuation)."""
    scope = False
    marks: list[bool] = []
    for token in toks:
        if _is_word(token):
            marks.append(scope)
            bare = token.replace("'", "")
            if bare in NEGATIONS or token.endswith("n't"):
                scope = True
        else:
            marks.append(False)
            if token[0] in '.,;:!?()"':
                scope = False
    return marks


def feature_parts(text: str) -> tuple[list[str], list[str]]:
    """``(features other than character n-grams, the words whose n-grams count)`` of ``text``.

    :func:`features` is both together; the split lets a model cache each word's n-gram columns.
    """
    toks, flags = tokens(text)
    out: list[str] = list(flags)
    words: list[str] = []
    negated = _negated(toks)
    previous = "<s>"
    for token, neg in zip(toks, negated, strict=True):
        out.append("w:" + token)
        if neg:
            out.append("w:" + token + "_neg")
        out.append("b:" + previous + " " + token)
        previous = token
        if _is_word(token):
            words.append(token)
    out.append("b:" + previous + " </s>")
    return out, words


def features(text: str) -> list[str]:
    """Every feature of ``text`` (with repetitions: a repeated feature counts more)."""
    out, words = feature_parts(text)
    for word in words:
        out.extend(char_ngrams(word))
    return out


@lru_cache(maxsize=1 << 16)
def char_ngrams(word: str) -> tuple[str, ...]:
    """The ``c:`` features of one word, n = 2..5 (cached: words repeat, their n-grams do not change)."""
    padded = " " + word + " "
    size = len(padded)
    return tuple(
        "c:" + padded[start : start + n]
        for n in range(CHAR_MIN, min(CHAR_MAX, size) + 1)
        for start in range(size - n + 1)
    )


def features_batch(texts: Iterable[str]) -> list[list[str]]:
    return [features(text) for text in texts]
