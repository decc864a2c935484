"""Offline language identification of mention texts (py3langid, restricted to a known language set).

Social media texts are short and full of handles, links and hashtags that say nothing about the
language, so they are stripped first. When what is left is too short to tell (fewer than
:data:`MIN_LETTERS` letters) or the classifier is unsure (probability below
:data:`MIN_CONFIDENCE`), the mention's ``language_hint`` from the network wins; without a hint the
language is ``"und"`` (undetermined, ISO 639-2).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from py3langid.langid import MODEL_FILE, LanguageIdentifier

#: The languages the classifier may answer (ISO 639-1). Restricting the set makes short texts far
#: more reliable than choosing among all 97 languages of the model.
LANGUAGES: tuple[str, ...] = ("de", "en", "fr", "es", "it", "nl", "pl", "tr", "pt", "sv", "da", "cs")

#: Below this many letters (after removing links, handles, hashtags and emoji) a text is too short to tell.
MIN_LETTERS = 12
#: Below this probability the classifier's guess is not trusted over the network's hint.
MIN_CONFIDENCE = 0.6
#: Answer for "cannot tell".
UNDETERMINED = "und"

_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|&\w+;", re.UNICODE)
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)

_model_lock = threading.Lock()
_model: Any = None


def _load_model() -> Any:
    """The py3langid model is large to load (about 0.3 s); load it once per process."""
    global _model  # noqa: PLW0603 - a process-wide cache of an immutable model
    with _model_lock:
        if _model is None:
            _model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _model


def normalise_hint(hint: str) -> str:
    """``"de-DE"``, ``"DE"``, ``"de_AT"`` -> ``"de"``; empty stays empty."""
    return hint.strip().lower().replace("_", "-").split("-", 1)[0]


class LanguageIdentifierService:
    """Identifies the language of many texts at once; safe to share within one process."""

    def __init__(self, languages: Sequence[str] = LANGUAGES) -> None:
        base = _load_model()
        # Each instance gets its own restricted view; set_languages mutates the identifier.
        self._identifier = LanguageIdentifier(
            *base._full_model,
            base.tk_nextmove,
            base.tk_output,
            norm_probs=True,
            tk_row=base.tk_row,
        )
        self._identifier.set_languages(list(languages))
        self.languages: tuple[str, ...] = tuple(languages)

    def identify(self, text: str, hint: str = "") -> tuple[str, float]:
        """``(language, confidence)``; confidence is the classifier's probability, or 0 for a hint."""
        cleaned = _NOISE.sub(" ", text)
        letters = len(_LETTER.findall(cleaned))
        fallback = normalise_hint(hint) or UNDETERMINED
        if letters < MIN_LETTERS:
            return fallback, 0.0
        language, probability = self._identifier.classify(cleaned)
        if probability < MIN_CONFIDENCE and fallback != UNDETERMINED:
            return fallback, 0.0
        return str(language), float(probability)

    def identify_batch(self, texts: Sequence[str], hints: Sequence[str]) -> list[tuple[str, float]]:
        if len(texts) != len(hints):
            raise ValueError("texts and hints must have the same length")
        return [self.identify(text, hint) for text, hint in zip(texts, hints, strict=True)]
