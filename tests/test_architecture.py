"""The folder tree is the architecture: packages import only packages below them, and no module
imports itself back through a cycle. Imports inside functions count (a lazy import is still a
dependency)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mmphase_bench"
#: package -> the packages it may import (the bottom modules at the top level are open to everyone)
#: ``examples`` (submissions written as a user would, shipped with the package) is on top: nothing
#: in the library imports it. ``distributed`` (launchers that run the harness elsewhere: torchrun, Ray)
#: sits right above the harness, so that the leaderboard's and the reproduction's re-runs can use it.
LAYERS = ["_base", "io", "theory", "data", "models", "harness", "distributed", "leaderboard", "reproduction", "cli",
          "examples"]
BASE = {"errors", "validation", "_version", "_lazy"}


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in BASE:
        return "_base"
    return parts[1] if parts[1] in LAYERS else parts[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The ``mmphase_bench`` modules a file imports, at the top or inside functions."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if (ROOT.parent / Path(*candidate.split("."))).with_suffix(".py").exists()
                          or (ROOT.parent / Path(*candidate.split("."))).is_dir() else base)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name == "mmphase_bench" or name.startswith("mmphase_bench.")}


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_packages_import_only_lower_layers(module):
    own = package_of(module)
    if own not in LAYERS:
        pytest.skip(f"{module} is a top-level module")
    for target in imports_of(MODULES[module]):
        other = package_of(target)
        if target == "mmphase_bench" or other == own or other == "_base":
            continue
        assert other in LAYERS, f"{module} imports {target}, which is in no layer"
        assert LAYERS.index(other) < LAYERS.index(own), f"{module} ({own}) imports {target} ({other}), a higher layer"


def test_no_import_cycles_between_modules():
    graph = {module: {t for t in imports_of(path) if t in MODULES and t != module} for module, path in MODULES.items()}
    # Package __init__ files re-export their children; an edge child -> parent package is not a cycle
    # of concepts, so only edges between leaf modules are followed.
    leaves = {m for m, p in MODULES.items() if p.name != "__init__.py"}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node] & leaves):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(leaves):
        if module not in state:
            visit(module, [module])


def test_the_scanner_sees_lazy_and_relative_imports(tmp_path):
    path = ROOT / "harness" / "runner.py"
    assert "mmphase_bench.harness.submission" in imports_of(path)
    assert "mmphase_bench.models.interface" in imports_of(ROOT / "models" / "reference.py")


def test_reproduction_does_not_depend_on_the_leaderboard():
    """``mmphase reproduce`` regenerates the paper's numbers from the harness, never from the public
    record: the two are siblings, although the layer list puts one above the other."""
    for module, path in MODULES.items():
        if package_of(module) == "reproduction":
            assert not [t for t in imports_of(path) if package_of(t) == "leaderboard"], module
