"""Crisis spikes: one wave -> one spike, noise -> none, two waves -> two; gaps, redelivery, state."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from resonanz_scoring.analytics.alerts import Severity, Spike, SpikeConfig, SpikeDetector
from resonanz_scoring.analytics.errors import InvalidInputError, InvalidStateError

T0 = datetime(2026, 6, 1, tzinfo=UTC)
BUCKET = timedelta(minutes=15)
WAVE = [30, 60, 90, 70, 50, 30, 15]  # extra negative mentions per bucket during a crisis


def series(seed: int, buckets: int, baseline: float, waves: dict[int, list[int]]) -> list[int]:
    """Poisson negative mentions around ``baseline`` per bucket, plus waves starting at given buckets."""
    rng = np.random.default_rng(seed)
    values = [int(v) for v in rng.poisson(baseline, size=buckets)]
    for start, wave in waves.items():
        for i, extra in enumerate(wave):
            values[start + i] += extra
    return values


def feed(detector: SpikeDetector, values: list[int], first: int = 0) -> list[Spike]:
    spikes = []
    for i, value in enumerate(values):
        spike = detector.observe(T0 + (first + i) * BUCKET, float(value), value)
        if spike is not None:
            spikes.append(spike)
    return spikes


@pytest.mark.parametrize("seed", range(5))
def test_a_negative_wave_over_a_steady_baseline_raises_exactly_one_spike(seed: int) -> None:
    values = series(seed, 200, 5.0, {120: WAVE})
    [spike] = feed(SpikeDetector(), values)
    assert spike.bucket_start == T0 + 120 * BUCKET
    assert spike.bucket_end == spike.bucket_start + BUCKET
    assert spike.value == values[120]
    assert 3 < spike.baseline < 8
    assert spike.z_score >= 4.0
    assert spike.severity is Severity.CRITICAL


@pytest.mark.parametrize("seed", range(5))
def test_noise_raises_no_spike(seed: int) -> None:
    assert feed(SpikeDetector(), series(seed, 2000, 5.0, {})) == []
    assert feed(SpikeDetector(), series(seed, 500, 200.0, {})) == []


@pytest.mark.parametrize("seed", range(5))
def test_two_separated_waves_raise_two_spikes(seed: int) -> None:
    spikes = feed(SpikeDetector(), series(seed, 300, 5.0, {100: WAVE, 200: WAVE}))
    assert [s.bucket_start for s in spikes] == [T0 + 100 * BUCKET, T0 + 200 * BUCKET]


def test_a_flat_baseline_does_not_alert_on_plus_one() -> None:
    detector = SpikeDetector(SpikeConfig(min_count=1))
    assert feed(detector, [10] * 50 + [11, 12, 13]) == []
    assert feed(SpikeDetector(SpikeConfig(min_count=1)), [0] * 50 + [1, 2, 3]) == []


def test_a_few_mentions_are_never_a_crisis_and_warm_up_is_respected() -> None:
    # From a baseline of 0, five negative mentions: z is huge, but min_count is 5 -> only the 5 counts.
    assert feed(SpikeDetector(), [0] * 20 + [4]) == []
    assert len(feed(SpikeDetector(), [0] * 20 + [5])) == 1
    # The same jump during warm-up (8 buckets) raises nothing.
    assert feed(SpikeDetector(), [0] * 5 + [50]) == []


def test_a_lasting_crisis_is_one_spike_and_rearms_after_the_cooldown() -> None:
    config = SpikeConfig(cooldown_buckets=3)
    detector = SpikeDetector(config)
    feed(detector, [5] * 20)
    assert len(feed(detector, [80] * 6, first=20)) == 1
    assert not detector.armed
    feed(detector, [5, 5], first=26)
    assert not detector.armed  # two calm buckets of three
    feed(detector, [5], first=28)
    assert detector.armed


def test_empty_buckets_between_observations_count_as_zero() -> None:
    gapped = SpikeDetector()
    feed(gapped, [20] * 20)
    gapped.observe(T0 + 40 * BUCKET, 20.0, 20)  # buckets 20..39 were empty
    dense = SpikeDetector()
    feed(dense, [20] * 20 + [0] * 20 + [20])
    assert gapped.to_state() == dense.to_state()
    assert gapped.baseline < 5


def test_a_redelivered_bucket_is_ignored() -> None:
    detector = SpikeDetector()
    feed(detector, [5] * 20)
    spike = detector.observe(T0 + 20 * BUCKET, 90.0, 90)
    assert spike is not None
    state = detector.to_state()
    assert detector.observe(T0 + 20 * BUCKET, 90.0, 90) is None
    assert detector.observe(T0 + 3 * BUCKET, 90.0, 90) is None
    assert detector.to_state() == state
    # Times inside a bucket are aligned to its start.
    assert detector.observe(T0 + 21 * BUCKET + timedelta(minutes=7), 5.0, 5) is None
    assert detector.last_bucket_start == T0 + 21 * BUCKET


def test_state_survives_a_restart_through_json() -> None:
    values = series(7, 200, 5.0, {150: WAVE})
    whole = feed(SpikeDetector(), values)
    first = SpikeDetector()
    feed(first, values[:149])
    restored = SpikeDetector.from_state(json.loads(json.dumps(first.to_state())))
    assert restored.config == first.config
    assert feed(restored, values[149:], first=149) == whole


def test_a_new_config_keeps_the_learnt_baseline() -> None:
    detector = SpikeDetector()
    feed(detector, [10] * 30)
    restored = SpikeDetector.from_state(detector.to_state(), SpikeConfig(z_threshold=5.0, critical_z=9.0))
    assert restored.config.z_threshold == 5.0
    assert restored.baseline == pytest.approx(detector.baseline)


def test_bad_input_and_state_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        SpikeConfig(alpha=0.0)
    with pytest.raises(InvalidInputError):
        SpikeConfig(z_threshold=3.0, critical_z=2.0)
    with pytest.raises(InvalidInputError):
        SpikeDetector().observe(T0, -1.0, 0)
    with pytest.raises(InvalidStateError):
        SpikeDetector.from_state({"version": 1})
    with pytest.raises(InvalidStateError):
        SpikeDetector.from_state({"version": 2})
    state = SpikeDetector().to_state() | {"mean": float("nan")}
    with pytest.raises(InvalidStateError):
        SpikeDetector.from_state(state)


def test_a_lasting_level_shift_is_one_spike_and_becomes_the_new_normal() -> None:
    rng = np.random.default_rng(3)
    before = [int(v) for v in rng.poisson(5, 100)]
    after = [int(v) for v in rng.poisson(50, 300)]
    detector = SpikeDetector()
    spikes = feed(detector, before + after)
    assert [s.bucket_start for s in spikes] == [T0 + 100 * BUCKET]
    assert detector.armed
    assert 40 < detector.baseline < 60


@settings(deadline=None, max_examples=50)
@given(
    st.lists(st.integers(min_value=0, max_value=200), min_size=2, max_size=120),
    st.data(),
)
def test_a_restart_anywhere_changes_nothing(values: list[int], data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=1, max_value=len(values) - 1))
    whole = feed(SpikeDetector(), values)
    first = SpikeDetector()
    before = feed(first, values[:cut])
    restored = SpikeDetector.from_state(json.loads(json.dumps(first.to_state())))
    assert before + feed(restored, values[cut:], first=cut) == whole
    # Each spike is followed by at least cooldown_buckets buckets before the next one.
    starts = [(s.bucket_start - T0) // BUCKET for s in whole]
    assert all(b - a > SpikeConfig().cooldown_buckets for a, b in itertools.pairwise(starts))
