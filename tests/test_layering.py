"""The package's layering: cli/ imports the package and never the other way round; the CLI loads
torch and Lightning only inside the commands that need them; benchmarks use public names only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "maskaae_cli"


def imported_modules(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import statement in a file, function-local ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_nothing_in_the_package_imports_the_cli():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "cli" or rel.name == "__main__.py":
            continue
        for module, names in imported_modules(path):
            if module.startswith("maskaae_cli.cli") or (module == "maskaae_cli" and "cli" in names):
                offenders.append(f"{rel} imports {module}")
    assert offenders == []


def test_benchmarks_use_public_names_only():
    offenders = [f"{path.name}: {module}.{name}" for path in (ROOT / "benchmarks").glob("*.py")
                 for module, names in imported_modules(path) if module.startswith("maskaae_cli")
                 for name in names if name.startswith("_")]
    assert offenders == []


def test_the_cli_starts_without_torch_or_lightning():
    probe = ("import sys; from maskaae_cli.cli import app; app._register(); "
             "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
