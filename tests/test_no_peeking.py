"""No peeking: the simulator's hidden `stability` is the ground truth scoring is verified
against, so no library module outside workbench/simulator/ may read it, nor the functions that
apply it (`person_style`: a style drifted by it; `drift_amounts`: the drift's size). Ruff's
banned-api says the same for direct imports; this also catches `sim.stability` through any
alias."""

from __future__ import annotations

import ast
from pathlib import Path

import workbench

# Every name that reads or applies the hidden truth.
TRUTH = ("stability", "person_style", "drift_amounts")


def _readers_of_stability(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [
                f"{path}:{node.lineno} imports {a.name}" for a in node.names if a.name in TRUTH
            ]
        elif isinstance(node, ast.Attribute) and node.attr in TRUTH:
            found.append(f"{path}:{node.lineno} reads .{node.attr}")
        elif isinstance(node, ast.Constant) and node.value in TRUTH:
            found.append(f"{path}:{node.lineno} names {node.value!r} (getattr?)")
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


def test_the_check_covers_every_function_that_applies_the_truth(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "from workbench.simulator.style import person_style\n"
        "import workbench.simulator.style as s\n"
        "s.drift_amounts(0.5)\n"
    )
    assert _readers_of_stability(sneaky) == [
        f"{sneaky}:1 imports person_style",
        f"{sneaky}:3 reads .drift_amounts",
    ]
