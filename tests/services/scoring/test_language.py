"""Language identification on German and English samples, and the fall-back to the network's hint."""

from __future__ import annotations

import pytest
from resonanz_scoring.language import UNDETERMINED, LanguageIdentifierService, normalise_hint


@pytest.fixture(scope="module")
def languages() -> LanguageIdentifierService:
    return LanguageIdentifierService()


@pytest.mark.parametrize(
    "text",
    [
        "Der Zug nach München hatte heute wieder eine Stunde Verspätung, danke für nichts",
        "Ich finde die neue Kampagne von @acme richtig gelungen! #werbung https://t.co/abc",
        "Kann mir jemand sagen, ob der Laden am Sonntag geöffnet hat?",
    ],
)
def test_german(languages: LanguageIdentifierService, text: str) -> None:
    language, confidence = languages.identify(text)
    assert language == "de"
    assert confidence > 0.6


@pytest.mark.parametrize(
    "text",
    [
        "The train to Munich was an hour late again today, thanks for nothing",
        "I really like the new campaign from @acme! #ads https://t.co/abc",
        "Does anyone know whether the shop is open on Sunday?",
    ],
)
def test_english(languages: LanguageIdentifierService, text: str) -> None:
    assert languages.identify(text)[0] == "en"


def test_too_short_text_takes_the_hint(languages: LanguageIdentifierService) -> None:
    assert languages.identify("super!!", "de-DE") == ("de", 0.0)
    assert languages.identify("@acme 👍 https://x.example/a", "EN") == ("en", 0.0)
    assert languages.identify("lol", "") == (UNDETERMINED, 0.0)


def test_long_text_beats_a_wrong_hint(languages: LanguageIdentifierService) -> None:
    assert languages.identify("Das ist ein ziemlich langer deutscher Satz über das Wetter", "en")[0] == "de"


def test_batch_keeps_order(languages: LanguageIdentifierService) -> None:
    result = languages.identify_batch(
        ["Guten Morgen zusammen, wie geht es euch heute?", "Good morning everyone, how are you today?", "ok"],
        ["", "", "fr"],
    )
    assert [language for language, _ in result] == ["de", "en", "fr"]
    with pytest.raises(ValueError, match="same length"):
        languages.identify_batch(["a"], [])


def test_normalise_hint() -> None:
    assert [normalise_hint(h) for h in ("de-AT", "EN_us", " fr ", "")] == ["de", "en", "fr", ""]
