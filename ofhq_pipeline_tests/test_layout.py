"""Imports go one way: the domain libraries never import Dagster, the resources or the wiring
(`defs/`); only the wiring, the resources and the commands do."""

from __future__ import annotations

import ast
from pathlib import Path

import ofhq_pipeline

PACKAGE = Path(ofhq_pipeline.__file__).parent
# Where Dagster belongs: the wiring, the resources, the code location, and the commands that
# start runs (entry points, like the `ofhq` command itself).
WIRING = ("defs", "resources")
ENTRY_POINTS = {"definitions.py", "cli.py", "sync.py", "commands.py", "daemon.py"}
FORBIDDEN = ("dagster", "dagster_postgres", "ofhq_pipeline.defs", "ofhq_pipeline.resources",
             "ofhq_pipeline.definitions")


def domain_modules() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py"))
            if path.relative_to(PACKAGE).parts[0] not in WIRING
            and path.name not in ENTRY_POINTS]


def module_level_imports(path: Path) -> list[str]:
    """Imports run when the module loads (not those inside a function, nor TYPE_CHECKING)."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_domain_code_never_imports_the_wiring():
    offending = {
        str(path.relative_to(PACKAGE)): name
        for path in domain_modules() for name in module_level_imports(path)
        if name in FORBIDDEN or name.startswith(tuple(f"{f}." for f in FORBIDDEN))
    }
    assert offending == {}


def test_the_rule_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "leaky.py"
    module.write_text("import duckdb\nfrom ofhq_pipeline.defs.models import spec\n"
                      "def later():\n    import dagster\n")
    assert module_level_imports(module) == ["duckdb", "ofhq_pipeline.defs.models"]
