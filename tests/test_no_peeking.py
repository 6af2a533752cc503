"""No peeking: the simulator's hidden `stability` is the ground truth scoring is verified
against, so no library module outside workbench/simulator/ may read it (ruff's banned-api says
the same for direct imports; this also catches `sim.stability` through any alias)."""

from __future__ import annotations

import ast
from pathlib import Path

import workbench


def _readers_of_stability(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "stability" for a in node.names):
            found.append(f"{path}:{node.lineno} imports stability")
        elif isinstance(node, ast.Attribute) and node.attr == "stability":
            found.append(f"{path}:{node.lineno} reads .stability")
        elif isinstance(node, ast.Constant) and node.value == "stability":
            found.append(f"{path}:{node.lineno} names 'stability' (getattr?)")
    return found


def test_only_the_simulator_reads_the_hidden_stability():
    package = Path(workbench.__file__).parent
    modules = [p for p in package.rglob("*.py") if "simulator" not in p.relative_to(package).parts]
    assert len(modules) > 10
    offenders = [line for path in modules for line in _readers_of_stability(path)]
    assert offenders == []


def test_the_check_catches_an_aliased_read(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import workbench.simulator as sim\nprint(sim.stability('a', 1))\n")
    assert _readers_of_stability(sneaky) == [f"{sneaky}:2 reads .stability"]
