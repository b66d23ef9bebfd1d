"""Layers run one way: datamodules/, models/ and callbacks/ import from lightning_app/ only its
shared leaves, and the leaves import nothing else from the project."""

import ast
from pathlib import Path

from lightning_app import SHARED_LEAVES

REPO = Path(__file__).resolve().parent.parent
PROJECT = ("lightning_app", "datamodules", "models", "callbacks")


def project_imports(path: Path) -> set[str]:
    """Every project module ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        found.update(name for name in names if name.split(".")[0] in PROJECT)
    return found


def test_lower_packages_import_only_the_shared_leaves_of_lightning_app():
    crossing = {}
    for package in ("datamodules", "models", "callbacks"):
        for path in sorted((REPO / package).rglob("*.py")):
            upward = {name for name in project_imports(path) if name.split(".")[0] == "lightning_app"} - set(SHARED_LEAVES)
            if upward:
                crossing[str(path.relative_to(REPO))] = sorted(upward)
    assert not crossing


def test_the_shared_leaves_import_only_each_other():
    for leaf in SHARED_LEAVES:
        path = REPO / Path(*leaf.split(".")).with_suffix(".py")
        assert project_imports(path) <= set(SHARED_LEAVES), leaf
