"""Sentiment scoring throughput: the trained model (``linear-v1``) beside the lexicon baseline.

Scores the German and English dev texts (SB10k, PotTS, TweetEval; ``RESONANZ_SENTIMENT_DATA_DIR`` or
``../shared/data/sentiment``) in batches of ``--batch`` texts (the worker's batch size is 500), one
language per batch as the worker's batches mostly are, and a mixed batch of both languages plus
unknown ones. Model loading is timed separately and not counted. Prints the median texts/s of
``--runs`` passes over every text per scorer and the ratio trained / lexicon, on one core.

    .venv/bin/python bench/bench_sentiment.py [--batch 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from resonanz_scoring.lexicon import LexiconScorer
from resonanz_scoring.model import TrainedScorer
from resonanz_scoring.model.corpora import default_data_dir, tweeteval, tweets_tsv
from resonanz_scoring.model.linear import load_model
from resonanz_scoring.model.scorer import DEFAULT_MODEL_PATH
from resonanz_scoring.sentiment import SentimentScorer


def texts_per_second(
    scorer: SentimentScorer, texts: Sequence[str], languages: Sequence[str], batch: int, runs: int
) -> float:
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            scorer.score_batch(texts[i : i + batch], languages[i : i + batch])
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data = default_data_dir(Path(__file__).resolve().parents[1])
    german = (
        tweets_tsv(data / "sb10k_dev.tsv", "sb10k").texts + tweets_tsv(data / "potts_dev.tsv", "potts").texts
    )
    english = tweeteval(data).texts
    mixed_texts = [t for pair in zip(german, english, strict=False) for t in pair] + english[:200]
    mixed_languages = ["de", "en"] * min(len(german), len(english)) + ["fr"] * 200

    started = time.perf_counter()
    load_model(DEFAULT_MODEL_PATH)
    load_seconds = time.perf_counter() - started
    trained: SentimentScorer = TrainedScorer()
    lexicon: SentimentScorer = LexiconScorer()
    print(
        f"model {DEFAULT_MODEL_PATH.name} ({DEFAULT_MODEL_PATH.stat().st_size / 1e6:.2f} MB) loads in "
        f"{load_seconds:.2f} s; batches of {args.batch}, median of {args.runs} runs, one process"
    )
    workloads = {
        f"German ({len(german)})": (german, ["de"] * len(german)),
        f"English ({len(english)})": (english, ["en"] * len(english)),
        f"mixed de/en/fr ({len(mixed_texts)})": (mixed_texts, mixed_languages),
    }
    print(f"{'texts':<26}{'linear-v1 texts/s':>19}{'lexicon-v1 texts/s':>20}{'ratio':>8}")
    for name, (texts, languages) in workloads.items():
        fast = texts_per_second(trained, texts, languages, args.batch, args.runs)
        base = texts_per_second(lexicon, texts, languages, args.batch, args.runs)
        print(f"{name:<26}{fast:>19,.0f}{base:>20,.0f}{fast / base:>8.2f}")


if __name__ == "__main__":
    main()
