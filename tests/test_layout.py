"""The repository layout and its dependency rules, checked on the source tree with `ast`.

Rules (pipelines/README.md explains why):
- `schemas` imports none of the other halves and only its few third-party packages.
- `filters` and `pipelines/io` never import Beam (or `pipelines`, for filters): they run anywhere.
- `kosmos_train` never imports the corpus builder.
- Inside `pipelines`, imports point one way: io <- common <- dedup <- one folder per pipeline <- cli;
  a pipeline's folder never imports another pipeline's folder.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OTHER_PACKAGES = {"filters", "pipelines", "kosmos_train"}
SCHEMAS_MAY_IMPORT = {"pyarrow", "PIL", "fsspec", "webdataset", "schemas", "__future__"}
PIPELINE_FOLDERS = {"text", "image_text", "interleaved"}
# What each sub-package of pipelines may import from pipelines (besides itself).
PIPELINES_MAY_IMPORT = {
    "io": set(),
    "common": {"io"},
    "dedup": {"io", "common"},
    "text": {"io", "common", "dedup"},
    "image_text": {"io", "common", "dedup"},
    "interleaved": {"io", "common", "dedup"},
    "demo": {"io"},
}


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported anywhere in a file (function-level imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def top_levels(path: Path) -> set[str]:
    return {m.split(".")[0] for m in imported_modules(path)}


def layout_violations(root: Path) -> list[str]:
    """Every broken rule in the tree at `root`, one line each (empty when the layout holds)."""
    problems = []
    stdlib = set(sys.stdlib_module_names)
    for path in (root / "schemas").rglob("*.py"):
        imports = top_levels(path)
        if imports & OTHER_PACKAGES:
            problems.append(f"{path.relative_to(root)} imports {sorted(imports & OTHER_PACKAGES)}")
        foreign = imports - stdlib - SCHEMAS_MAY_IMPORT
        if foreign:
            problems.append(f"{path.relative_to(root)} imports third-party {sorted(foreign)}")
    for folder in (root / "filters", root / "pipelines" / "io"):
        for path in folder.rglob("*.py"):
            imports = top_levels(path)
            if "apache_beam" in imports:
                problems.append(f"{path.relative_to(root)} imports apache_beam")
            if folder.name == "filters" and "pipelines" in imports:
                problems.append(f"{path.relative_to(root)} imports pipelines")
    for path in (root / "kosmos_train").rglob("*.py"):
        imports = top_levels(path)
        if imports & {"pipelines", "filters"}:
            problems.append(f"{path.relative_to(root)} imports the corpus builder")
    for sub, allowed in PIPELINES_MAY_IMPORT.items():
        for path in (root / "pipelines" / sub).rglob("*.py"):
            for module in imported_modules(path):
                parts = module.split(".")
                if parts[0] != "pipelines":
                    continue
                target = parts[1] if len(parts) > 1 else ""
                if target != sub and target not in allowed:
                    problems.append(
                        f"{path.relative_to(root)} imports {module} ({sub} may not import {target})"
                    )
    return problems


def test_top_level_layout():
    missing = [
        name
        for name in ("pyproject.toml", "README.md", "pipelines", "filters", "kosmos_train", "schemas")
        + ("tests", "infra", "benchmarks", "docs", ".ci/run")
        if not (ROOT / name).exists()
    ]
    assert missing == []
    for sub in PIPELINES_MAY_IMPORT:
        assert (ROOT / "pipelines" / sub / "__init__.py").exists(), f"pipelines/{sub}/ is missing"
    flat = sorted(p.name for p in (ROOT / "pipelines").glob("*.py"))
    assert flat == ["__init__.py", "cli.py", "holdout.py", "runner.py"], f"modules outside a folder: {flat}"


def test_the_layout_rules_hold():
    assert layout_violations(ROOT) == []


def _copy_tree(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    for name in ("schemas", "filters", "pipelines", "kosmos_train"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_rules_catch_planted_violations(tmp_path: Path):
    copy = _copy_tree(tmp_path)
    assert layout_violations(copy) == []
    (copy / "pipelines" / "io" / "planted_beam.py").write_text("import apache_beam as beam\n")
    (copy / "pipelines" / "interleaved" / "planted_sideways.py").write_text(
        "def f():\n    from pipelines.image_text.graph import ImageTextConfig\n"
    )
    (copy / "pipelines" / "common" / "planted_up.py").write_text("from pipelines.dedup import Dedup\n")
    (copy / "filters" / "planted.py").write_text("from pipelines.common.drops import drop_of\n")
    (copy / "schemas" / "planted.py").write_text("import torch\n")
    (copy / "kosmos_train" / "planted.py").write_text("import filters.base\n")
    found = "\n".join(layout_violations(copy))
    for planted in (
        "pipelines/io/planted_beam.py imports apache_beam",
        "pipelines/interleaved/planted_sideways.py imports pipelines.image_text.graph",
        "pipelines/common/planted_up.py imports pipelines.dedup",
        "filters/planted.py imports pipelines",
        "schemas/planted.py imports third-party ['torch']",
        "kosmos_train/planted.py imports the corpus builder",
    ):
        assert planted in found, f"not caught: {planted}\n{found}"
