"""Every setting comes from a RESONANZ_* environment variable; defaults are the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from resonanz_sdk.settings import Settings


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESONANZ_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("RESONANZ_DATABASE_URL", "postgresql+asyncpg://u@db/resonanz")
    monkeypatch.setenv("RESONANZ_PLUGINS", "")
    settings = Settings()
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.database_url_for("publishing") == "postgresql+asyncpg://u@db/resonanz"
    assert settings.plugins == ""


def test_embedded_default_uses_one_sqlite_file_per_service(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.kafka_bootstrap == ""
    assert settings.plugins is None
    assert settings.database_url_for("scoring") == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'scoring.db'}"


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESONANZ_PUBLISHING_PORT", "70000")
    with pytest.raises(ValidationError, match="publishing_port"):
        Settings()
