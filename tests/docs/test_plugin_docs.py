"""Every hook specification is documented in the plugin author's guide (datasette's test_docs style)."""

from __future__ import annotations

import inspect
from pathlib import Path

from resonanz_sdk.plugins import hookspecs

GUIDE = Path(__file__).parents[2] / "docs" / "plugin-authors-guide.md"


def hook_names() -> list[str]:
    return [
        name
        for name, obj in inspect.getmembers(hookspecs, inspect.isfunction)
        if getattr(obj, "resonanz_spec", None) is not None
    ]


def test_there_are_hooks() -> None:
    assert "register_networks" in hook_names()


def test_every_hook_has_a_reference_section() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    reference = text.split("## Hook reference", 1)[1]
    for name in hook_names():
        assert f"### `{name}(" in reference, f"hook {name} is missing from the hook reference"
