"""Crisis detection: a spike of a per-bucket series (negative mentions, all mentions, negative reach)
far above its own baseline, with a cooldown so that one crisis raises exactly one spike.

One :class:`SpikeDetector` per (tenant, label, kind) is fed the *closed* buckets of its series in time
order, ``observe(bucket_start, value, count)``; buckets skipped between two observations are empty
buckets and count as value 0, count 0. Per bucket, with the baseline *before* the bucket::

    std_eff = max(sqrt(var), min_std, min_relative_std x mean, sqrt(mean) + 1)   # floors
    z       = (value - mean) / std_eff

A spike is raised when the detector is *armed*, has seen at least ``warmup_buckets`` buckets, the
bucket holds at least ``min_count`` mentions and ``z >= z_threshold``. The detector is then disarmed;
it re-arms after ``cooldown_buckets`` consecutive buckets with ``z < rearm_z`` (default: below the
threshold again). So a crisis that lasts many buckets is one spike, and a second crisis after calm
is a second spike.

The floors keep a flat or tiny baseline from alerting on noise: ``sqrt(mean)`` is the Poisson
standard deviation of a count, and the extra 1 is a margin for Poisson's long right tail at small
counts and for the noise in the baseline estimate itself (without it, Poisson noise of 5 per bucket
crossed z 4 about once in 1,700 buckets; with it, about once in 50,000 in our simulations);
``min_relative_std x mean`` demands a relative rise on a big steady series (with the defaults, +80 %
at z 4); ``min_std`` covers series that are not counts.

Baseline: exponentially weighted mean and variance (Finch 2009, "Incremental calculation
of weighted mean and variance"): ``d = x - mean; mean += a d; var = (1 - a)(var + a d^2)`` with
``a = max(alpha, 1 / buckets_seen)`` so the first buckets are a plain average (no bias towards 0).
After warm-up, an outlier bucket (``z >= z_threshold``) moves the mean only as if it were
``mean + z_threshold x std_eff`` (winsorised) and leaves the variance alone: the crisis itself does
not become the new normal at once (nor inflates the variance, which would blind the detector to the
next crisis), but a lasting level shift still becomes normal, slowly (the mean climbs by about
``alpha x z_threshold x std_eff`` per bucket).

Severity: ``critical`` when ``z >= critical_z``, else ``warning``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from resonanz_scoring.analytics.errors import InvalidInputError, InvalidStateError
from resonanz_scoring.analytics.windows import EPOCH
from resonanz_scoring.analytics.windows import bucket_start as align

STATE_VERSION = 1
_US = timedelta(microseconds=1)


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class SpikeConfig:
    """Tuning of a detector; the defaults suit 15-minute buckets of mention counts."""

    bucket: timedelta = timedelta(minutes=15)
    #: EWMA weight of the newest bucket; the baseline remembers about 1/alpha buckets (10 = 2.5 h).
    alpha: float = 0.1
    z_threshold: float = 4.0
    critical_z: float = 8.0
    #: A bucket with fewer mentions never spikes (0 -> 3 negative mentions is not a crisis).
    min_count: int = 5
    #: Buckets observed before the baseline is trusted.
    warmup_buckets: int = 8
    #: Calm buckets in a row (z below ``rearm_z``) before a new spike can be raised.
    cooldown_buckets: int = 4
    #: None means ``z_threshold``.
    rearm_z: float | None = None
    min_std: float = 1.0
    min_relative_std: float = 0.2
    #: A gap longer than this many buckets is filled with this many empty buckets only (the
    #: baseline has long decayed by then).
    max_gap_buckets: int = 5000

    def __post_init__(self) -> None:
        if self.bucket <= timedelta(0):
            raise InvalidInputError("bucket must be positive")
        if not 0.0 < self.alpha <= 1.0:
            raise InvalidInputError("alpha must be in (0, 1]")
        if not (self.z_threshold > 0 and self.critical_z >= self.z_threshold):
            raise InvalidInputError("z_threshold must be > 0 and critical_z >= z_threshold")
        if self.min_count < 1 or self.warmup_buckets < 1 or self.cooldown_buckets < 1:
            raise InvalidInputError("min_count, warmup_buckets and cooldown_buckets must be >= 1")
        if self.rearm_z is not None and self.rearm_z > self.z_threshold:
            raise InvalidInputError("rearm_z must not exceed z_threshold")
        if self.min_std <= 0 or self.min_relative_std < 0 or self.max_gap_buckets < 1:
            raise InvalidInputError("min_std must be > 0, min_relative_std >= 0, max_gap_buckets >= 1")

    @property
    def effective_rearm_z(self) -> float:
        return self.z_threshold if self.rearm_z is None else self.rearm_z

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bucket"] = self.bucket // _US
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpikeConfig:
        values = dict(data)
        values["bucket"] = timedelta(microseconds=int(values["bucket"]))
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Spike:
    bucket_start: datetime
    bucket_end: datetime
    value: float
    count: int
    #: EWMA mean of the earlier buckets, and the standard deviation z was computed with.
    baseline: float
    baseline_std: float
    z_score: float
    severity: Severity


class SpikeDetector:
    """EWMA spike detector of one series (see the module docstring)."""

    __slots__ = ("_armed", "_calm", "_last_us", "_mean", "_seen", "_var", "config")

    def __init__(self, config: SpikeConfig | None = None) -> None:
        self.config = config or SpikeConfig()
        self._mean = 0.0
        self._var = 0.0
        self._seen = 0
        self._armed = True
        self._calm = 0
        self._last_us: int | None = None

    @property
    def baseline(self) -> float:
        return self._mean

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def last_bucket_start(self) -> datetime | None:
        return None if self._last_us is None else EPOCH + timedelta(microseconds=self._last_us)

    def std(self) -> float:
        """The effective standard deviation (with its floors) the next bucket is judged by."""
        c = self.config
        mean = max(self._mean, 0.0)
        return max(
            math.sqrt(max(self._var, 0.0)), c.min_std, c.min_relative_std * mean, math.sqrt(mean) + 1.0
        )

    def observe(self, bucket_start: datetime, value: float, count: int) -> Spike | None:
        """Feeds one closed bucket (its start is aligned down to the bucket grid); a bucket at or
        before the last one observed is ignored (a redelivery), so feeding is idempotent."""
        if not math.isfinite(value) or value < 0 or count < 0:
            raise InvalidInputError(f"value and count must be finite and >= 0, got {value!r}, {count!r}")
        start = align(bucket_start, self.config.bucket)
        start_us = (start - EPOCH) // _US
        bucket_us = self.config.bucket // _US
        if self._last_us is not None:
            if start_us <= self._last_us:
                return None
            gap = (start_us - self._last_us) // bucket_us - 1
            for _ in range(min(gap, self.config.max_gap_buckets)):
                self._step(0.0, 0)
        self._last_us = start_us
        z, std, mean = self._step(float(value), count)
        if z is None:
            return None
        c = self.config
        return Spike(
            bucket_start=start,
            bucket_end=start + c.bucket,
            value=float(value),
            count=count,
            baseline=mean,
            baseline_std=std,
            z_score=z,
            severity=Severity.CRITICAL if z >= c.critical_z else Severity.WARNING,
        )

    def _step(self, value: float, count: int) -> tuple[float | None, float, float]:
        """One bucket: decides on a spike, then updates the baseline. Returns (z if spike, std, mean)."""
        c = self.config
        mean, std = self._mean, self.std()
        z = (value - mean) / std
        warm = self._seen >= c.warmup_buckets
        spiked: float | None = None
        if self._armed:
            if warm and count >= c.min_count and z >= c.z_threshold:
                spiked = z
                self._armed = False
                self._calm = 0
        elif z < c.effective_rearm_z:
            self._calm += 1
            if self._calm >= c.cooldown_buckets:
                self._armed = True
                self._calm = 0
        else:
            self._calm = 0
        self._seen += 1
        a = max(c.alpha, 1.0 / self._seen)
        if warm and z >= c.z_threshold:
            # An outlier: the mean moves towards it only as far as the threshold, the variance not
            # at all (a squared outlier would inflate it and blind the detector for hours).
            self._mean += a * c.z_threshold * std
        else:
            d = value - self._mean
            self._mean += a * d
            self._var = (1.0 - a) * (self._var + a * d * d)
        return spiked, std, mean

    def to_state(self) -> dict[str, Any]:
        """JSON-safe state, the config included."""
        return {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "mean": self._mean,
            "var": self._var,
            "seen": self._seen,
            "armed": self._armed,
            "calm": self._calm,
            "last_us": self._last_us,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], config: SpikeConfig | None = None) -> SpikeDetector:
        """The detector :meth:`to_state` saved; ``config`` replaces the saved config (a deploy that
        changed the tuning keeps the learnt baseline)."""
        try:
            if state["version"] != STATE_VERSION:
                raise InvalidStateError(f"spike state version {state['version']!r} is not {STATE_VERSION}")
            detector = cls(config or SpikeConfig.from_dict(state["config"]))
            detector._mean = float(state["mean"])
            detector._var = float(state["var"])
            detector._seen = int(state["seen"])
            detector._armed = bool(state["armed"])
            detector._calm = int(state["calm"])
            last = state["last_us"]
            detector._last_us = None if last is None else int(last)
        except InvalidStateError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidStateError(f"not a spike detector state: {exc!r}") from exc
        if not (math.isfinite(detector._mean) and math.isfinite(detector._var)) or detector._seen < 0:
            raise InvalidStateError("spike detector state has a non-finite baseline or negative count")
        return detector
