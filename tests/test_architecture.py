"""The architecture of docs/design.md, checked: layers, no import cycles, the module map."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "streetlevel"
PYPROJECT = ROOT / "pyproject.toml"


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return list(config["tool"]["importlinter"]["contracts"])


def _layered() -> set[str]:
    layers = next(c for c in _contracts() if c["type"] == "layers")["layers"]
    assert isinstance(layers, list)
    return {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}


def test_the_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    """The layers and the acyclic-siblings contract of pyproject.toml (lint-imports), which
    count imports under ``TYPE_CHECKING`` too."""
    code = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out


def test_every_package_and_top_module_is_in_a_layer() -> None:
    """A new package outside the layers would escape the contract unnoticed."""
    tops = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")
    }
    outside = {f"streetlevel.{name}" for name in tops} - _layered()
    assert outside == {"streetlevel.__init__", "streetlevel.__main__"}


def test_only_the_cli_imports_the_dashboard_and_only_lazily() -> None:
    graph = grimp.build_graph("streetlevel", cache_dir=None)
    importers = {
        m
        for m in graph.find_downstream_modules("streetlevel.dashboard", as_package=True)
        if not m.startswith("streetlevel.dashboard")
    }
    assert importers <= {"streetlevel.cli", "streetlevel.cli.app", "streetlevel.__main__"}, (
        importers
    )
    for module in (PACKAGE / "cli").glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in tree.body:  # module level: no import of the dashboard
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("streetlevel.dashboard"), module


def test_every_package_says_what_it_holds_and_may_import() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "import" in doc, f"{init.relative_to(ROOT)}: say what the package may import"


def test_every_module_is_in_the_module_map() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    mapped = set(re.findall(r"^\| `([\w/]+\.py)` \|", design, flags=re.MULTILINE))
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert modules - mapped == set(), "add these to the module map of docs/design.md"
    assert mapped - modules == set(), "these modules of docs/design.md no longer exist"


def test_the_public_api_is_importable_from_the_root() -> None:
    """What a notebook user needs, and every import line of the README's Python examples."""
    import streetlevel

    for name in ("load_scenario", "run_scenario", "summarize", "with_values", "__version__"):
        assert name in streetlevel.__all__
        assert getattr(streetlevel, name) is not None
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    imports = [line for b in blocks for line in b.splitlines() if line.startswith("from ")]
    assert imports, "the README shows no Python example"
    for line in imports:
        exec(line, {})
