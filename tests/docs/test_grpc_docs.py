"""docs/grpc.md names every error class of resonanz_sdk.errors and states the mapping the code applies."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from google.rpc import code_pb2  # type: ignore[import-untyped,unused-ignore]
from resonanz_sdk import errors
from resonanz_sdk.grpc import status_for

DOC = Path(__file__).parents[2] / "docs" / "grpc.md"


def _error_classes() -> list[type[errors.ResonanzError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.ResonanzError) and cls is not errors.ResonanzError
    ]


def _table_rows() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def _example(cls: type[errors.ResonanzError]) -> errors.ResonanzError:
    if issubclass(cls, errors.ValidationError):
        return cls.single("f", "bad")
    if issubclass(cls, errors.PluginError | errors.NetworkError):
        return cls("x", "failed")
    return cls("failed")


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_has_a_documented_code(cls: type[errors.ResonanzError]) -> None:
    rows = [row for row in _table_rows() if f"`{cls.__name__}`" in row]
    assert len(rows) == 1, f"{cls.__name__} must appear in exactly one row of the error table in docs/grpc.md"
    documented = rows[0].split("|")[2].strip().strip("`")
    actual = code_pb2.Code.Name(status_for(_example(cls)).code)
    assert documented == actual, f"{cls.__name__}: docs say {documented}, the interceptor answers {actual}"
