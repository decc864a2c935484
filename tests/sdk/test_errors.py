"""The error hierarchy: one root, field violations, plugin and network context."""

from __future__ import annotations

import pytest
from resonanz_sdk.errors import (
    FieldViolation,
    NetworkError,
    PluginError,
    RateLimitedError,
    ResonanzError,
    TransientNetworkError,
    ValidationError,
)


def test_validation_error_lists_every_violation() -> None:
    error = ValidationError([FieldViolation("text", "must not be empty"), FieldViolation("targets", "none")])
    assert isinstance(error, ResonanzError)
    assert [v.field for v in error.violations] == ["text", "targets"]
    assert str(error) == "text: must not be empty; targets: none"


def test_validation_error_needs_a_violation() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ValidationError([])


def test_rate_limit_is_transient_and_carries_retry_after() -> None:
    error = RateLimitedError("mastodon", "429 Too Many Requests", retry_after=30)
    assert isinstance(error, TransientNetworkError)
    assert isinstance(error, NetworkError)
    assert error.retry_after == 30
    assert error.network == "mastodon"
    assert str(error) == "mastodon: 429 Too Many Requests"


def test_plugin_error_names_the_plugin() -> None:
    assert str(PluginError("acme", "boom")) == "plugin 'acme': boom"
