"""Macro-F1 of the baseline lexicon scorer on the sentiment dev splits (nothing is trained).

    .venv/bin/python services/scoring/scripts/eval_sentiment.py [--data /work/shared/data/sentiment]

Reads SB10k and PotTS dev (German tweets; "mixed" dropped), GermEval 2017 dev (German, Deutsche
Bahn) and TweetEval validation (English tweets), scores every text with the language the split is in
and prints macro-F1 (and accuracy) over positive / neutral / negative.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from resonanz_scoring.lexicon import LexiconScorer
from resonanz_scoring.sentiment import Sentiment

LABELS = {"positive": Sentiment.POSITIVE, "neutral": Sentiment.NEUTRAL, "negative": Sentiment.NEGATIVE}
TWEETEVAL = {"0": Sentiment.NEGATIVE, "1": Sentiment.NEUTRAL, "2": Sentiment.POSITIVE}


def macro_f1(gold: Sequence[Sentiment], predicted: Sequence[Sentiment]) -> float:
    scores = []
    for label in Sentiment:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p == label and g != label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def tweets_tsv(path: Path) -> list[tuple[str, Sentiment]]:
    """SB10k / PotTS: id, label, text, ...; "mixed" and unknown labels are dropped."""
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[1] in LABELS:
                rows.append((parts[2], LABELS[parts[1]]))
    return rows


def germeval(path: Path) -> list[tuple[str, Sentiment]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(encoding="utf-8", newline="") as f:
        return [
            (row[1], LABELS[row[3]])
            for row in csv.reader(f, delimiter="\t")
            if len(row) >= 4 and row[3] in LABELS
        ]


def tweeteval(texts: Path, labels: Path) -> list[tuple[str, Sentiment]]:
    lines = texts.read_text(encoding="utf-8").splitlines()
    gold = labels.read_text(encoding="utf-8").split()
    return [(text, TWEETEVAL[label]) for text, label in zip(lines, gold, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/sentiment"))
    args = parser.parse_args()
    data: Path = args.data
    splits = {
        "SB10k dev (de)": ("de", tweets_tsv(data / "sb10k_dev.tsv")),
        "PotTS dev (de)": ("de", tweets_tsv(data / "potts_dev.tsv")),
        "GermEval 2017 dev (de)": ("de", germeval(data / "germeval2017_dev.tsv")),
        "TweetEval val (en)": (
            "en",
            tweeteval(data / "tweeteval_val_text.txt", data / "tweeteval_val_labels.txt"),
        ),
    }
    scorer = LexiconScorer()
    print("| split | texts | macro-F1 | accuracy |\n|---|---|---|---|")
    for name, (language, rows) in splits.items():
        texts = [text for text, _ in rows]
        gold = [label for _, label in rows]
        predicted = [r.sentiment for r in scorer.score_batch(texts, [language] * len(texts))]
        accuracy = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p) / len(gold)
        print(f"| {name} | {len(rows)} | {macro_f1(gold, predicted):.3f} | {accuracy:.3f} |")


if __name__ == "__main__":
    main()
