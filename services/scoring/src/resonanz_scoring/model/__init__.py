"""The trained sentiment model: featuriser, artefact format and the :class:`TrainedScorer`.

Runtime needs numpy and the standard library only; training (``services/scoring/train``) uses
scikit-learn, a development dependency.
"""

from __future__ import annotations

from resonanz_scoring.model.scorer import DEFAULT_MODEL_PATH, TrainedScorer, shared_model

__all__ = ["DEFAULT_MODEL_PATH", "TrainedScorer", "shared_model"]
