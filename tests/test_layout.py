"""The repository layout and the dependency direction: schemas imports none of the other halves."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OTHER_PACKAGES = {"filters", "pipelines", "kosmos_train"}
SCHEMAS_MAY_IMPORT = {"pyarrow", "PIL", "fsspec", "webdataset", "schemas", "__future__"}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_top_level_layout():
    for name in (
        "pyproject.toml",
        "README.md",
        "pipelines",
        "filters",
        "kosmos_train",
        "schemas",
        "tests",
        "infra",
        "benchmarks",
    ):
        assert (ROOT / name).exists(), f"{name} is missing"
    assert (ROOT / ".ci" / "run").exists()


def test_schemas_imports_only_the_standard_library_and_its_four_packages():
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / "schemas").rglob("*.py"):
        imports = imported_top_levels(path)
        assert not imports & OTHER_PACKAGES, f"{path.name} imports {imports & OTHER_PACKAGES}"
        foreign = imports - stdlib - SCHEMAS_MAY_IMPORT
        assert not foreign, f"{path.name} imports {foreign}"


def test_filters_never_import_beam_or_pipelines():
    for path in (ROOT / "filters").rglob("*.py"):
        imports = imported_top_levels(path)
        assert "apache_beam" not in imports and "pipelines" not in imports, path.name


def test_kosmos_train_does_not_import_the_corpus_builder():
    for path in (ROOT / "kosmos_train").rglob("*.py"):
        imports = imported_top_levels(path)
        assert not imports & {"pipelines", "filters"}, path.name
