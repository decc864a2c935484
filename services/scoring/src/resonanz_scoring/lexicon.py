"""The baseline sentiment scorer: a hand-written lexicon for German and English.

It is a baseline, to be replaced by a trained model (see the README for its macro-F1 on the dev
splits). How a text is scored:

1. Lower-case, squeeze letters repeated three or more times ("soooo" -> "soo"), map social-media
   spellings ("gud", "nich", "thx"), split into words, emoji and emoticons; a hashtag counts as its word.
2. Each known word or emoji has a valence in -3..+3 (German words are also tried with common
   inflection endings stripped: "gute", "guten" -> "gut").
3. An intensifier right before a word multiplies it ("sehr gut", "really bad" x1.5; "etwas" x0.5);
   a word in capitals while the text is not shouting counts 1.25x.
4. A negation within the three words before ("nicht gut", "not good", "kein Problem"), or in German
   also within the three words after in the same clause ("gefällt mir nicht"), flips the valence and
   damps it (x -0.75: "not good" is less negative than "bad" is).
5. After a contrast word ("but", "aber") valences count 1.5x, before it 0.5x; each "!" (at most
   three) adds 10 % to the total.
6. The sum s becomes a polarity p = s / sqrt(s^2 + 15) in -1..1; |p| < :data:`NEUTRAL_BAND`
   is neutral.
7. Confidence: for positive/negative 0.5 + 0.5 |p|; for neutral 0.5 + 0.5 (1 - |p| / band) when the
   text had sentiment words, and 0.6 when it had none (no evidence either way).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from resonanz_scoring.lexicon_data import (
    DE_CONTRAST,
    DE_INTENSIFIERS,
    DE_NEGATIONS,
    DE_WORDS,
    EMOJI,
    EN_CONTRAST,
    EN_INTENSIFIERS,
    EN_NEGATIONS,
    EN_WORDS,
    SPELLINGS,
)
from resonanz_scoring.sentiment import UNKNOWN_LANGUAGE_RESULT, Sentiment, SentimentResult

#: |polarity| below this is neutral (chosen on the German and English *train* splits, not dev).
NEUTRAL_BAND = 0.25
NEGATION_WINDOW = 3
NEGATION_FACTOR = -0.75
CAPS_FACTOR = 1.25
EXCLAMATION_BOOST = 0.1
CONTRAST_BEFORE = 0.5
CONTRAST_AFTER = 1.5
ALPHA = 15.0
#: Words whose valence (after stripping endings) is remembered per language.
_VALENCE_CACHE_SIZE = 100_000

_EMOTICON = r"(?::|;|=)(?:-)?(?:\)+|\(+|d\b|p\b|/|\]|'\()|\^\^|<3|\(:|xd\b"
_TOKEN = re.compile(
    rf"(?P<url>https?://\S+)|(?P<handle>@\w+)|(?P<emoticon>{_EMOTICON})"
    r"|(?P<word>#?[^\W\d_](?:[\w'*-]*\w)?)|(?P<bang>!)|(?P<clause>[.,;:?]+)|(?P<symbol>[^\w\s])",
    re.UNICODE | re.IGNORECASE,
)
_REPEATS = re.compile(r"(\w)\1{2,}", re.UNICODE)
_DE_ENDINGS = ("sten", "ste", "ster", "stes", "en", "er", "es", "em", "e", "n", "s", "t", "st")
_EN_ENDINGS = ("s", "ed", "ing", "ly")


class _Language:
    def __init__(
        self,
        *,
        words: dict[str, float],
        negations: frozenset[str],
        intensifiers: dict[str, float],
        contrast: frozenset[str],
        endings: tuple[str, ...],
        negation_after: bool,
    ) -> None:
        self.words = words
        self.negations = negations
        self.intensifiers = intensifiers
        self.contrast = contrast
        self.endings = endings
        self.negation_after = negation_after
        self._cache: dict[str, float | None] = {}

    def valence(self, word: str) -> float | None:
        try:
            return self._cache[word]
        except KeyError:
            pass
        found = self._valence(word)
        if len(self._cache) >= _VALENCE_CACHE_SIZE:
            self._cache.clear()  # bounded: a long-running worker sees an unbounded vocabulary
        self._cache[word] = found
        return found

    def _valence(self, word: str) -> float | None:
        found = self.words.get(word)
        if found is not None:
            return found
        for ending in self.endings:
            if len(word) > len(ending) + 2 and word.endswith(ending):
                found = self.words.get(word[: -len(ending)])
                if found is not None:
                    return found
        return None


_LANGUAGES: dict[str, _Language] = {
    "en": _Language(
        words=EN_WORDS,
        negations=EN_NEGATIONS,
        intensifiers=EN_INTENSIFIERS,
        contrast=EN_CONTRAST,
        endings=_EN_ENDINGS,
        negation_after=False,
    ),
    "de": _Language(
        words=DE_WORDS,
        negations=DE_NEGATIONS,
        intensifiers=DE_INTENSIFIERS,
        contrast=DE_CONTRAST,
        endings=_DE_ENDINGS,
        negation_after=True,
    ),
}


def _tokens(text: str) -> list[tuple[str, str, bool]]:
    """``(kind, normalised token, was upper-case)`` for every token that matters."""
    out: list[tuple[str, str, bool]] = []
    for match in _TOKEN.finditer(text.replace("\u2019", "'")):
        kind = match.lastgroup or "symbol"
        raw = match.group(0)
        if kind in ("url", "handle"):
            continue
        if kind == "word":
            shouted = len(raw) > 2 and raw.isupper()
            word = _REPEATS.sub(r"\1\1", raw.lstrip("#").lower())
            word = SPELLINGS.get(word, word)
            out.append(("word", word, shouted))
        elif kind == "emoticon":
            out.append(("emoji", raw.lower(), False))
        elif kind == "symbol":
            if raw in EMOJI or raw + "\ufe0f" in EMOJI:
                out.append(("emoji", raw, False))
        else:
            out.append((kind, raw, False))
    return out


def raw_score(text: str, language: str) -> tuple[float, int]:
    """The valence sum of ``text`` and how many sentiment-bearing tokens it had."""
    lang = _LANGUAGES[language]
    tokens = _tokens(text)
    shouting = sum(1 for kind, _, upper in tokens if kind == "word" and upper) > 0.5 * max(
        1, sum(1 for kind, _, _ in tokens if kind == "word")
    )
    valences: list[float] = []
    contrast_at: int | None = None
    hits = 0
    bangs = 0
    for i, (kind, token, _) in enumerate(tokens):
        value: float | None = None
        if kind == "emoji":
            value = EMOJI.get(token, EMOJI.get(token + "\ufe0f"))
        elif kind == "bang":
            bangs += 1
        elif kind == "word" and token in lang.contrast:
            contrast_at = len(valences)
        elif kind == "word":
            value = _word_valence(tokens, i, lang, shouting=shouting)
        if value is not None:
            hits += 1
            valences.append(value)
        elif kind != "bang":
            valences.append(0.0)
    if contrast_at is not None:
        valences = [v * CONTRAST_BEFORE for v in valences[:contrast_at]] + [
            v * CONTRAST_AFTER for v in valences[contrast_at:]
        ]
    total = sum(valences)
    if total and bangs:
        total *= 1 + EXCLAMATION_BOOST * min(bangs, 3)
    return total, hits


def _word_valence(
    tokens: list[tuple[str, str, bool]], i: int, lang: _Language, *, shouting: bool
) -> float | None:
    _, token, upper = tokens[i]
    if token in lang.negations or (token in lang.intensifiers and _next_is_sentiment(tokens, i, lang)):
        return None
    value = lang.valence(token)
    if value is None:
        return None
    value *= _modifier(tokens, i, lang)
    return value * CAPS_FACTOR if upper and not shouting else value


def _next_is_sentiment(tokens: list[tuple[str, str, bool]], i: int, lang: _Language) -> bool:
    for kind, token, _ in tokens[i + 1 : i + 3]:
        if kind != "word":
            return kind == "emoji"
        if lang.valence(token) is not None:
            return True
        if token not in lang.intensifiers:
            return False
    return False


def _modifier(tokens: list[tuple[str, str, bool]], i: int, lang: _Language) -> float:
    factor = 1.0
    # Intensifier directly before (allowing one more intensifier: "really very good").
    for kind, token, _ in reversed(tokens[max(0, i - 2) : i]):
        if kind != "word" or token not in lang.intensifiers:
            break
        factor *= lang.intensifiers[token]
    negated = False
    for kind, token, _ in reversed(tokens[max(0, i - NEGATION_WINDOW) : i]):
        if kind in ("clause", "bang") or token in lang.contrast:
            break
        if kind == "word" and token in lang.negations:
            negated = True
            break
    if not negated and lang.negation_after:
        for kind, token, _ in tokens[i + 1 : i + 1 + NEGATION_WINDOW]:
            if kind in ("clause", "bang") or token in lang.contrast:
                break
            if kind == "word" and lang.valence(token) is not None:
                break
            if kind == "word" and token in lang.negations:
                negated = True
                break
    return factor * (NEGATION_FACTOR if negated else 1.0)


def polarity_of(total: float) -> float:
    """Squash a valence sum into -1..1 (the normalisation VADER uses, alpha 15)."""
    return total / math.sqrt(total * total + ALPHA)


def result_of(total: float, hits: int) -> SentimentResult:
    polarity = polarity_of(total)
    strength = abs(polarity)
    if strength < NEUTRAL_BAND:
        confidence = 0.5 + 0.5 * (1 - strength / NEUTRAL_BAND) if hits else 0.6
        return SentimentResult(Sentiment.NEUTRAL, confidence, polarity)
    sentiment = Sentiment.POSITIVE if polarity > 0 else Sentiment.NEGATIVE
    return SentimentResult(sentiment, 0.5 + 0.5 * strength, polarity)


class LexiconScorer:
    """Baseline :class:`~resonanz_scoring.sentiment.SentimentScorer` for German and English.

    Other languages get :data:`~resonanz_scoring.sentiment.UNKNOWN_LANGUAGE_RESULT` (neutral, low
    confidence).
    """

    name = "lexicon-v1"
    languages = frozenset(_LANGUAGES)

    def score(self, text: str, language: str) -> SentimentResult:
        if language not in _LANGUAGES:
            return UNKNOWN_LANGUAGE_RESULT
        return result_of(*raw_score(text, language))

    def score_batch(self, texts: Sequence[str], languages: Sequence[str]) -> list[SentimentResult]:
        if len(texts) != len(languages):
            raise ValueError("texts and languages must have the same length")
        return [self.score(text, language) for text, language in zip(texts, languages, strict=True)]
