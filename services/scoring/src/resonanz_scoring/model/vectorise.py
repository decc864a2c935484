"""Turns texts into the sparse rows and dense extra columns a linear head scores (numpy only).

Sparse part, in two steps so an ensemble of heads counts features once:

1. :func:`count_rows`: each feature of :func:`~resonanz_scoring.model.features.features` that is in
   the model's vocabulary gets its sublinear term frequency ``1 + ln(count)``; unknown ones are
   dropped.
2. :func:`weight_rows`: multiply by the head's per-feature scale (idf, or idf times the NB-SVM log-count
   ratio) and L2-normalise each row, either as a whole or each feature *group* on its own (group 0:
   words, bigrams and flags; group 1: character n-grams), so the many character n-grams do not drown
   the word features.

Dense part (:func:`extra_columns`): the baseline lexicon's opinion of the text
(:data:`EXTRA_FEATURES`), which lets the model borrow hand-written knowledge of words it saw rarely.

Rows are CSR arrays (``indptr``, ``indices``, ``values``); training wraps them in a
``scipy.sparse.csr_matrix``, the runtime scores them with numpy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from resonanz_scoring.lexicon import polarity_of, raw_score
from resonanz_scoring.model.features import char_ngrams, feature_parts, features

#: Dense columns appended after the vocabulary: the lexicon polarity split into its positive and
#: negative part, and whether the lexicon found any sentiment word.
EXTRA_FEATURES: tuple[str, ...] = ("lexicon_positive", "lexicon_negative", "lexicon_hit")

#: Feature groups normalised separately by a grouped head.
WORD_GROUP = 0
CHAR_GROUP = 1


def group_of(feature: str) -> int:
    return CHAR_GROUP if feature.startswith("c:") else WORD_GROUP


@dataclass(frozen=True)
class SparseRows:
    """CSR arrays of a batch: row ``i`` is ``indices/values[indptr[i]:indptr[i + 1]]``."""

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int32]
    values: npt.NDArray[np.float32]

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1

    def row_ids(self) -> npt.NDArray[np.int64]:
        """The row of every stored value."""
        return np.repeat(np.arange(self.rows, dtype=np.int64), np.diff(self.indptr))


#: Words whose known n-gram columns a :class:`WordColumns` cache keeps before it starts afresh.
WORD_CACHE_SIZE = 200_000


class WordColumns:
    """Per vocabulary: each word's character n-gram columns (most of a text's features), cached."""

    def __init__(self, vocabulary: Mapping[str, int]) -> None:
        self._vocabulary = vocabulary
        self._cache: dict[str, list[int]] = {}

    def __call__(self, word: str) -> list[int]:
        found = self._cache.get(word)
        if found is None:
            lookup = self._vocabulary.get
            found = [j for j in map(lookup, char_ngrams(word)) if j is not None]
            if len(self._cache) >= WORD_CACHE_SIZE:
                self._cache.clear()
            self._cache[word] = found
        return found


def count_rows(
    texts: Sequence[str], vocabulary: Mapping[str, int], words: WordColumns | None = None
) -> SparseRows:
    """``1 + ln(count)`` of every known feature of each text; columns ascending within a row.

    Features are looked up text by text (a word's n-grams through ``words``, a cache kept by the
    model), then counted for the whole batch at once with numpy.
    """
    word_columns = words if words is not None else WordColumns(vocabulary)
    lookup = vocabulary.get
    ids: list[int] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        other, text_words = feature_parts(text)
        before = len(ids)
        ids.extend(j for j in map(lookup, other) if j is not None)
        for word in text_words:
            ids.extend(word_columns(word))
        lengths[i] = len(ids) - before
    columns = max(len(vocabulary), 1)
    id_array = np.asarray(ids, dtype=np.int64)
    row_array = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    keys, counts = np.unique(row_array * columns + id_array, return_counts=True)
    rows = keys // columns
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(texts)), out=indptr[1:])
    values = 1.0 + np.log(counts.astype(np.float32))
    return SparseRows(indptr, (keys % columns).astype(np.int32), values.astype(np.float32))


def weight_rows(
    rows: SparseRows,
    scale: npt.NDArray[np.float32],
    groups: npt.NDArray[np.uint8] | None,
) -> SparseRows:
    """Scale each value by its feature's ``scale`` and L2-normalise per row (per group if given)."""
    values = rows.values * scale[rows.indices]
    row_ids = rows.row_ids()
    if groups is None:
        key = row_ids
        slots = rows.rows
    else:
        key = row_ids * 2 + groups[rows.indices]
        slots = rows.rows * 2
    norms = np.sqrt(np.bincount(key, weights=values * values, minlength=slots))
    norms[norms == 0] = 1.0
    return SparseRows(rows.indptr, rows.indices, (values / norms[key]).astype(np.float32))


def extra_columns(texts: Sequence[str], language: str) -> npt.NDArray[np.float32]:
    """The :data:`EXTRA_FEATURES` of each text (the lexicon scorer's raw evidence)."""
    out = np.zeros((len(texts), len(EXTRA_FEATURES)), dtype=np.float32)
    for i, text in enumerate(texts):
        total, hits = raw_score(text, language)
        polarity = polarity_of(total)
        out[i, 0] = max(polarity, 0.0)
        out[i, 1] = max(-polarity, 0.0)
        out[i, 2] = 1.0 if hits else 0.0
    return out


def document_frequencies(texts: Sequence[str]) -> Counter[str]:
    """In how many texts each feature occurs (training: to prune the vocabulary and weight idf)."""
    df: Counter[str] = Counter()
    for text in texts:
        df.update(set(features(text)))
    return df
