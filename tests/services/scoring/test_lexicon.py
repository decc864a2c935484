"""The baseline lexicon scorer on clear cases: polarity words, negation, intensifiers, emoji, spellings."""

from __future__ import annotations

import pytest
from resonanz_scoring.lexicon import LexiconScorer
from resonanz_scoring.sentiment import UNKNOWN_LANGUAGE_RESULT, Sentiment

POS, NEU, NEG = Sentiment.POSITIVE, Sentiment.NEUTRAL, Sentiment.NEGATIVE


@pytest.fixture(scope="module")
def scorer() -> LexiconScorer:
    return LexiconScorer()


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Das ist gut", "de", POS),
        ("Das ist nicht gut", "de", NEG),
        ("Das gefällt mir nicht.", "de", NEG),
        ("Kein guter Service", "de", NEG),
        ("Die Bahn ist sooo schlecht!!!", "de", NEG),
        ("Ich liebe die neue App 😍", "de", POS),
        ("Der Zug fährt um 8 Uhr ab", "de", NEU),
        ("Voll gud, danke", "de", POS),
        ("Lieferung war langsam, aber der Support war großartig", "de", POS),
        ("This is great", "en", POS),
        ("This is not good", "en", NEG),
        ("It isn't good at all", "en", NEG),
        ("I LOVE this phone", "en", POS),
        ("terrible service :(", "en", NEG),
        ("The store opens at 9 on Monday", "en", NEU),
        ("gr8 stuff, thx", "en", POS),
        ("👎👎", "en", NEG),
    ],
)
def test_clear_cases(scorer: LexiconScorer, text: str, language: str, expected: Sentiment) -> None:
    assert scorer.score(text, language).sentiment is expected


def test_negation_flips_and_damps(scorer: LexiconScorer) -> None:
    good = scorer.score("Das ist gut", "de").polarity
    not_good = scorer.score("Das ist nicht gut", "de").polarity
    bad = scorer.score("Das ist schlecht", "de").polarity
    assert not_good < 0 < good
    assert bad < not_good  # "not good" is less negative than "bad"
    assert scorer.score("Es ist nicht schlecht", "de").polarity > 0


def test_intensifiers_strengthen_and_downtoners_weaken(scorer: LexiconScorer) -> None:
    plain = scorer.score("That was good", "en").polarity
    assert scorer.score("That was really good", "en").polarity > plain
    assert scorer.score("That was slightly good", "en").polarity < plain
    assert scorer.score("Das war sehr gut", "de").polarity > scorer.score("Das war gut", "de").polarity


def test_confidence_and_polarity_are_bounded(scorer: LexiconScorer) -> None:
    texts = [
        "Das ist der absolut beste Tag ever 😍😍🎉!!!",
        "worst awful terrible horrible disaster 😡",
        "Hallo",
    ]
    for result in scorer.score_batch(texts, ["de", "en", "de"]):
        assert -1 <= result.polarity <= 1
        assert 0 < result.confidence <= 1


def test_other_languages_are_neutral_with_low_confidence(scorer: LexiconScorer) -> None:
    assert scorer.score("C'est vraiment génial", "fr") == UNKNOWN_LANGUAGE_RESULT
    assert UNKNOWN_LANGUAGE_RESULT.sentiment is NEU
    assert UNKNOWN_LANGUAGE_RESULT.confidence < 0.5


def test_batch_matches_single_scores(scorer: LexiconScorer) -> None:
    texts, languages = ["Das ist toll", "awful", "bonjour"], ["de", "en", "fr"]
    assert scorer.score_batch(texts, languages) == [
        scorer.score(t, lang) for t, lang in zip(texts, languages, strict=True)
    ]
    with pytest.raises(ValueError, match="same length"):
        scorer.score_batch(["x"], [])
