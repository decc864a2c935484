"""The trained sentiment model: per language, a vocabulary and an ensemble of linear heads.

A head is multinomial logistic regression over the rows of :mod:`resonanz_scoring.model.vectorise`:
``logits = x W + b`` with ``x`` = the head's weighted, normalised sparse row followed by the
:data:`~resonanz_scoring.model.vectorise.EXTRA_FEATURES` times ``extra_scale``. Each head's softmax
gives class probabilities; the language model's probability is the weighted mean over its heads.

Artefact (``.npz``, compressed; written by ``services/scoring/train/train_sentiment.py``): a JSON
``meta`` (format version, class order, languages, per head its normalisation, extra scale and
ensemble weight, training summary) and per language ``<lang>.vocab`` (UTF-8 feature strings joined
by newlines, in column order), ``<lang>.groups`` (uint8 per feature) and per head
``<lang>.<k>.scale`` (float16 per feature), ``<lang>.<k>.weights`` (float16, features + extras by 3)
and ``<lang>.<k>.bias`` (float32, 3). Weights are stored as float16 (the scores differ from float32 by
far less than the rounding of the reported confidence) and computed in float32.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from resonanz_sdk.errors import ConfigurationError

from resonanz_scoring.model.vectorise import (
    EXTRA_FEATURES,
    SparseRows,
    WordColumns,
    count_rows,
    extra_columns,
    weight_rows,
)

FORMAT_VERSION = 1
#: Class order of every head's outputs.
CLASSES: tuple[str, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class LinearHead:
    """One logistic-regression head of a language model."""

    scale: npt.NDArray[np.float32]
    grouped: bool
    extra_scale: float
    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    ensemble_weight: float

    def logits(
        self,
        counts: SparseRows,
        extras: npt.NDArray[np.float32],
        groups: npt.NDArray[np.uint8],
    ) -> npt.NDArray[np.float32]:
        rows = weight_rows(counts, self.scale, groups if self.grouped else None)
        n_vocab = len(self.scale)
        row_ids = rows.row_ids()
        out = np.empty((rows.rows, len(CLASSES)), dtype=np.float64)
        contributions = self.weights[rows.indices] * rows.values[:, None]
        for k in range(len(CLASSES)):
            out[:, k] = np.bincount(row_ids, weights=contributions[:, k], minlength=rows.rows)
        out += (extras * self.extra_scale) @ self.weights[n_vocab:]
        out += self.bias
        result: npt.NDArray[np.float32] = out.astype(np.float32)
        return result


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float32] = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return result


@dataclass(frozen=True)
class LanguageModel:
    """The vocabulary and heads of one language."""

    language: str
    vocabulary: Mapping[str, int]
    groups: npt.NDArray[np.uint8]
    heads: tuple[LinearHead, ...]
    word_columns: WordColumns = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "word_columns", WordColumns(self.vocabulary))

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``(len(texts), 3)`` probabilities in :data:`CLASSES` order."""
        if not texts:
            return np.zeros((0, len(CLASSES)), dtype=np.float32)
        counts = count_rows(texts, self.vocabulary, self.word_columns)
        extras = extra_columns(texts, self.language)
        total = sum(head.ensemble_weight for head in self.heads)
        mixed = np.zeros((len(texts), len(CLASSES)), dtype=np.float32)
        for head in self.heads:
            mixed += (head.ensemble_weight / total) * softmax(head.logits(counts, extras, self.groups))
        return mixed


@dataclass(frozen=True)
class SentimentModel:
    """The whole artefact: one :class:`LanguageModel` per language, plus its metadata."""

    languages: Mapping[str, LanguageModel]
    meta: Mapping[str, Any] = field(default_factory=dict)
    digest: str = ""

    @property
    def version(self) -> str:
        """First 8 hex digits of the artefact's SHA-256: changes whenever the answers can."""
        return self.digest[:8]


def content_digest(arrays: Mapping[str, npt.NDArray[Any]]) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and bytes (not the zip container, whose
    timestamps differ between otherwise identical trainings)."""
    sha = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        sha.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        sha.update(array.tobytes())
    return sha.hexdigest()


def _array(data: Mapping[str, npt.NDArray[Any]], key: str, path: Path) -> npt.NDArray[Any]:
    try:
        return data[key]
    except KeyError:
        raise ConfigurationError(f"sentiment model {path} lacks {key!r}; retrain it") from None


def load_model(path: Path) -> SentimentModel:
    """Read an artefact written by :func:`save_model`.

    :raises ConfigurationError: the file is missing, unreadable or of another format version.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the sentiment model {path}: {exc}") from exc
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        data = {key: npz[key] for key in npz.files}
    digest = content_digest(data)
    meta = json.loads(bytes(_array(data, "meta", path)).decode("utf-8"))
    if meta.get("format") != FORMAT_VERSION or tuple(meta.get("classes", ())) != CLASSES:
        raise ConfigurationError(
            f"sentiment model {path} has format {meta.get('format')!r}; expected {FORMAT_VERSION}"
        )
    languages: dict[str, LanguageModel] = {}
    for language, spec in meta["languages"].items():
        vocab_text = bytes(_array(data, f"{language}.vocab", path)).decode("utf-8")
        features = vocab_text.split("\n") if vocab_text else []
        vocabulary = {feature: i for i, feature in enumerate(features)}
        heads = tuple(
            LinearHead(
                scale=_array(data, f"{language}.{k}.scale", path).astype(np.float32),
                grouped=bool(head["grouped"]),
                extra_scale=float(head["extra_scale"]),
                weights=_array(data, f"{language}.{k}.weights", path).astype(np.float32),
                bias=_array(data, f"{language}.{k}.bias", path).astype(np.float32),
                ensemble_weight=float(head["ensemble_weight"]),
            )
            for k, head in enumerate(spec["heads"])
        )
        for head in heads:
            if head.weights.shape != (len(features) + len(EXTRA_FEATURES), len(CLASSES)):
                raise ConfigurationError(f"sentiment model {path}: {language} weights do not fit")
        groups = _array(data, f"{language}.groups", path).astype(np.uint8)
        languages[language] = LanguageModel(language, vocabulary, groups, heads)
    return SentimentModel(languages, meta, digest)


def save_model(path: Path, model: SentimentModel) -> None:
    """Write ``model`` as a compressed ``.npz`` (float16 weights); see the module docstring."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    meta = dict(model.meta)
    meta["format"] = FORMAT_VERSION
    meta["classes"] = list(CLASSES)
    meta["extra_features"] = list(EXTRA_FEATURES)
    meta["languages"] = {}
    for language, lm in sorted(model.languages.items()):
        ordered = sorted(lm.vocabulary, key=lm.vocabulary.__getitem__)
        arrays[f"{language}.vocab"] = np.frombuffer("\n".join(ordered).encode("utf-8"), dtype=np.uint8)
        arrays[f"{language}.groups"] = lm.groups.astype(np.uint8)
        heads = []
        for k, head in enumerate(lm.heads):
            arrays[f"{language}.{k}.scale"] = head.scale.astype(np.float16)
            arrays[f"{language}.{k}.weights"] = head.weights.astype(np.float16)
            arrays[f"{language}.{k}.bias"] = head.bias.astype(np.float32)
            heads.append(
                {
                    "grouped": head.grouped,
                    "extra_scale": head.extra_scale,
                    "ensemble_weight": head.ensemble_weight,
                }
            )
        meta["languages"][language] = {"features": len(ordered), "heads": heads}
    arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
