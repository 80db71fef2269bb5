"""Every third-party import is declared in the extra its package installs with.

`pip install .[pipelines]` is what a Dataflow worker runs; an import that only the dev environment
happens to have (httpx was one) breaks every subcommand there. The imports are read with `ast`
(function-level ones included: lazy imports run too), mapped to distributions with
importlib.metadata, and checked against pyproject.toml.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OWN = {"schemas", "filters", "pipelines", "kosmos_train"}
# Which extras a package of ours is installed with (besides the base dependencies).
EXTRAS_OF = {
    "schemas": (),
    "filters": ("pipelines",),
    "pipelines": ("pipelines",),
    "kosmos_train": ("train",),
}
# Modules that need an extra of their own on top (tools a worker or a trainer never runs).
EXTRA_EXTRAS = {"pipelines/demo": ("demo",), "kosmos_train/model/convert_kosmos2.py": ("convert",)}


def extras_of(relative: str) -> tuple[str, ...]:
    """The extras the module at this path (relative to the root) is installed with."""
    package = relative.split("/")[0]
    more = next((e for prefix, e in EXTRA_EXTRAS.items() if relative.startswith(prefix)), ())
    return (*EXTRAS_OF[package], *more)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of the modules a file imports, other than ours and the standard library."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - OWN - set(sys.stdlib_module_names) - {"__future__"}


def declared(extras: tuple[str, ...]) -> set[str]:
    """Distributions the base dependencies and the given extras install (extras of ours expanded)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    out, todo = set(), [*project["dependencies"], *(r for e in extras for r in optional[e])]
    while todo:
        req = Requirement(todo.pop())
        if normalize(req.name) == normalize(project["name"]):
            todo += [r for e in req.extras for r in optional[e]]
        else:
            out.add(normalize(req.name))
    return out


def undeclared(root: Path = ROOT) -> list[str]:
    """`file: module (distribution)` for each import no declared distribution provides."""
    providers = importlib.metadata.packages_distributions()
    problems = []
    for package in EXTRAS_OF:
        for path in sorted((root / package).rglob("*.py")):
            extras = extras_of(path.relative_to(root).as_posix())
            allowed = declared(extras)
            for module in sorted(third_party_imports(path)):
                dists = {normalize(d) for d in providers.get(module, [])}
                if not dists:
                    problems.append(
                        f"{path.relative_to(root)}: {module} (no installed distribution provides it)"
                    )
                elif not dists & allowed:
                    extra = " or ".join(f"[{e}]" for e in extras) or "the base dependencies"
                    problems.append(
                        f"{path.relative_to(root)}: {module} ({', '.join(sorted(dists))} not in {extra})"
                    )
    return problems


def test_every_third_party_import_is_declared_in_its_extra() -> None:
    assert undeclared() == []


def test_an_undeclared_import_is_found(tmp_path: Path) -> None:
    """The check can fail: a planted import of a package no extra declares is reported."""
    for package in EXTRAS_OF:
        (tmp_path / package).mkdir()
    (tmp_path / "pipelines" / "x.py").write_text("def f():\n    import pytest  # dev only\n    import json\n")
    (tmp_path / "schemas" / "y.py").write_text("from pyarrow import parquet\nimport httpx\n")
    assert undeclared(tmp_path) == [
        "schemas/y.py: httpx (httpx not in the base dependencies)",
        "pipelines/x.py: pytest (pytest not in [pipelines])",
    ]
