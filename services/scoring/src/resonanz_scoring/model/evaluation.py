"""Classification metrics of the sentiment evaluation (numpy only, so tests and tools share them).

* accuracy: share of texts whose predicted class is the gold one;
* macro-F1: the unweighted mean over negative, neutral and positive of
  F1 = 2 P R / (P + R) (P precision, R recall; a class never predicted and never gold scores 0);
* macro-recall: the unweighted mean of the three recalls (TweetEval's official metric, AvgRec).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from resonanz_scoring.model.linear import CLASSES


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    macro_recall: float


def score_labels(gold: Sequence[str], predicted: Sequence[str]) -> Scores:
    """Accuracy, macro-F1 and macro-recall of ``predicted`` against ``gold`` (class names)."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must have the same length")
    if not gold:
        raise ValueError("nothing to score")
    g = np.asarray([CLASSES.index(label) for label in gold])
    p = np.asarray([CLASSES.index(label) for label in predicted])
    f1s: list[float] = []
    recalls: list[float] = []
    for k in range(len(CLASSES)):
        tp = float(np.sum((g == k) & (p == k)))
        fp = float(np.sum((g != k) & (p == k)))
        fn = float(np.sum((g == k) & (p != k)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        recalls.append(recall)
    return Scores(float(np.mean(g == p)), float(np.mean(f1s)), float(np.mean(recalls)))
