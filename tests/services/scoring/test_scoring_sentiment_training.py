"""The training script (services/scoring/train/train_sentiment.py) on a small slice of real data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
from resonanz_scoring.model import TrainedScorer
from resonanz_scoring.model.corpora import Corpus, tweets_tsv
from resonanz_scoring.model.linear import SentimentModel, load_model, save_model

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIR = (REPO_ROOT / ".." / "shared" / "data" / "sentiment").resolve()


def _train_module() -> ModuleType:
    path = REPO_ROOT / "services" / "scoring" / "train" / "train_sentiment.py"
    spec = importlib.util.spec_from_file_location("resonanz_train_sentiment", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _slice() -> Corpus:
    full = tweets_tsv(DATA_DIR / "sb10k_train.tsv", "SB10k train")
    return Corpus("slice", "de", full.texts[:300], full.labels[:300])


def test_training_is_deterministic_and_the_saved_model_scores_like_the_trained_one(tmp_path: Path) -> None:
    train = _train_module()
    corpus = _slice()
    runs = [
        train.train_language(corpus, min_df=2, folds=2, cs=[1.0, 3.0], groupings=[False, True])
        for _ in range(2)
    ]
    (first, report), (second, _) = runs
    assert report["texts"] == 300
    assert set(report["cv_macro_f1"]) == {
        "whole-norm C=1",
        "whole-norm C=3",
        "grouped-norm C=1",
        "grouped-norm C=3",
    }
    assert report["chosen"] in report["cv_macro_f1"]
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for path, model in zip(paths, (first, second), strict=True):
        save_model(path, SentimentModel({"de": model}, {}))
    loaded = [load_model(path) for path in paths]
    assert loaded[0].version == loaded[1].version  # same data, same seed: the same model

    in_memory = first.probabilities(corpus.texts)
    scorer = TrainedScorer(loaded[0])
    results = scorer.score_batch(corpus.texts, ["de"] * len(corpus))
    np.testing.assert_allclose(
        [r.polarity for r in results], in_memory[:, 2] - in_memory[:, 0], atol=5e-3
    )  # float16 storage changes the probabilities only in the third decimal
    fitted = sum(1 for r, gold in zip(results, corpus.labels, strict=True) if r.sentiment.label == gold)
    assert fitted / len(corpus) > 0.8  # it learned its training texts
