"""Evaluates the shipped sentiment model on the dev splits (``make eval-sentiment``).

    .venv/bin/python services/scoring/train/eval_sentiment.py [--data DIR] [--model FILE] [--json FILE]

For SB10k dev, PotTS dev, GermEval 2017 dev (German) and TweetEval validation (English) it prints,
for the trained model (``linear-v1``) and beside it the lexicon baseline (``lexicon-v1``): accuracy,
macro-F1 and macro-recall (TweetEval's official metric). Every text is scored with the language of
its split. It also prints how often the language identifier (no hint) recognises each split's
language. The dev splits are used for nothing else: never for training or tuning.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resonanz_scoring.language import LanguageIdentifierService
from resonanz_scoring.lexicon import LexiconScorer
from resonanz_scoring.model import DEFAULT_MODEL_PATH, TrainedScorer
from resonanz_scoring.model.corpora import Corpus, default_data_dir, dev_splits
from resonanz_scoring.model.evaluation import Scores, score_labels
from resonanz_scoring.sentiment import SentimentScorer

REPO_ROOT = Path(__file__).resolve().parents[3]


def evaluate(scorer: SentimentScorer, corpus: Corpus) -> Scores:
    results = scorer.score_batch(corpus.texts, [corpus.language] * len(corpus))
    return score_labels(corpus.labels, [r.sentiment.label for r in results])


def language_accuracy(identifier: LanguageIdentifierService, corpus: Corpus) -> float:
    found = identifier.identify_batch(corpus.texts, [""] * len(corpus))
    return sum(1 for language, _ in found if language == corpus.language) / len(corpus)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=None, help="corpus directory")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="artefact to evaluate")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    data: Path = args.data or default_data_dir(REPO_ROOT)
    trained = TrainedScorer(path=args.model)
    lexicon = LexiconScorer()
    identifier = LanguageIdentifierService()
    print(f"model {args.model.name} ({trained.name}), corpora {data}\n")
    print(
        "| split | texts | macro-F1 | accuracy | macro-recall | lexicon macro-F1 | lexicon accuracy "
        "| language id |"
    )
    print("|---|---|---|---|---|---|---|---|")
    figures: dict[str, Any] = {"scorer": trained.name, "splits": {}}
    for corpus in dev_splits(data):
        started = time.perf_counter()
        model_scores = evaluate(trained, corpus)
        elapsed = time.perf_counter() - started
        base = evaluate(lexicon, corpus)
        lid = language_accuracy(identifier, corpus)
        print(
            f"| {corpus.name} | {len(corpus)} | {model_scores.macro_f1:.3f} | {model_scores.accuracy:.3f} "
            f"| {model_scores.macro_recall:.3f} | {base.macro_f1:.3f} | {base.accuracy:.3f} | {lid:.3f} |"
        )
        figures["splits"][corpus.name] = {
            "texts": len(corpus),
            "language": corpus.language,
            "model": vars(model_scores),
            "lexicon": vars(base),
            "language_id_accuracy": lid,
            "model_texts_per_second": len(corpus) / elapsed,
        }
    print(
        "\nmacro-F1: mean F1 over negative/neutral/positive; macro-recall: mean recall (TweetEval's "
        "official AvgRec); language id: share identified as the split's language without a hint."
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
