"""The simulated network is a plugin like any other: found by entry point, isolated from the core."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from resonanz_sdk.plugins import PluginManager
from resonanz_simulated.network import SimulatedNetwork

ROOT = Path(__file__).resolve().parents[3]
CORE = ("sdk", "services", "cli", "embedded")
PLUGIN_SRC = ROOT / "plugins" / "simulated" / "src" / "resonanz_simulated"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _sources(*dirs: Path) -> list[Path]:
    return [p for d in dirs if d.exists() for p in sorted(d.rglob("*.py")) if ".venv" not in p.parts]


def test_the_entry_point_registers_the_simulated_network() -> None:
    pm = PluginManager.from_setting("simulated")
    pm.load_entry_points()
    assert pm.plugin_names() == ["simulated"]
    network = pm.network("simulated")
    assert isinstance(network, SimulatedNetwork)
    assert pm.plugin_of("simulated") == "simulated"


def _names_plugin(path: Path) -> bool:
    """An import of the plugin, or a string naming its module (``importlib.import_module(...)``)."""
    for module in _imports(path):
        if module == "resonanz_simulated" or module.startswith("resonanz_simulated."):
            return True
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("resonanz_simulated")
        for node in ast.walk(tree)
    )


def test_no_core_module_imports_the_simulated_plugin() -> None:
    sources = _sources(*(ROOT / d for d in CORE))
    assert any(p.parts[-2:] == ("plugins", "manager.py") for p in sources), "the scan sees the sdk"
    offenders = [str(p.relative_to(ROOT)) for p in sources if _names_plugin(p)]
    assert offenders == []


def test_the_scan_would_notice_an_import(tmp_path: Path) -> None:
    for text in (
        "import resonanz_simulated.world\n",
        "from resonanz_simulated import plugin\n",
        "import importlib\nimportlib.import_module('resonanz_simulated.plugin')\n",
    ):
        bad = tmp_path / "bad.py"
        bad.write_text(text, encoding="utf-8")
        assert _names_plugin(bad), text
    good = tmp_path / "good.py"
    good.write_text(
        '"""Talks to the plugins, e.g. resonanz_simulated, through entry points."""\n', encoding="utf-8"
    )
    assert not _names_plugin(good)


def test_the_plugin_imports_only_the_sdk_and_the_standard_library() -> None:
    sources = _sources(PLUGIN_SRC)
    assert len(sources) >= 5
    allowed = {"resonanz_sdk", "resonanz_simulated", "__future__"}
    for path in sources:
        for module in _imports(path):
            top = module.split(".")[0]
            assert top in allowed or top in sys.stdlib_module_names, f"{path.name} imports {module}"
