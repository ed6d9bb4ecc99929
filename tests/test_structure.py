"""The building's rules, read from the source tree with ast: layers point down, no import circle, ruff is clean.

- The top-level modules are the design document's front doors: they import `scoring/`, and nothing
  under `scoring/`, `syncnet_python/` or `training/` imports them.
- `syncnet_python/` is SyncNet itself, a leaf library: it imports nothing from `scoring/`.
- `training/` never imports `tools/`: training reads files, it needs no HTTP client.
- No two modules of the project import each other, directly or round a longer circle (imports
  inside functions count: a circle that only closes at run time is still a circle).
- Inside `scoring/`, layers point down (`LAYERS`, bottom first): every module has its layer, and
  imports only from its own layer or those below. The contract sits under the detectors, which
  implement it; the register of detectors (`scoring.detectors`) over them.
- `scoring/` imports nothing from `tools/` (off the request path) or `training/`.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

LAYERED_PACKAGES = ("scoring", "syncnet_python", "training", "tools")
FRONT_DOORS = {path.stem for path in ROOT.glob("*.py")}
# scoring/'s layers, bottom first: (name, the modules and packages in it).
LAYERS = (
    ("weights, runtime and errors", ("scoring", "scoring.errors", "scoring.runtime", "scoring.weights", "scoring.verdict")),
    ("settings", ("scoring.settings",)),
    ("media, faces and operations", ("scoring.media", "scoring.faces", "scoring.liveness", "scoring.operations")),
    ("the detector contract", ("scoring.contract",)),
    ("detectors", ("scoring.frames", "scoring.syncnet", "scoring.voice")),
    ("the register of detectors", ("scoring.detectors",)),
    ("service", ("scoring.service", "scoring.queue", "scoring.live")),
    ("web", ("scoring.web",)),
    ("commands", ("scoring.provision",)),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [*ROOT.glob("*.py"), *(p for package in (*LAYERED_PACKAGES, "tests") for p in (ROOT / package).rglob("*.py"))]
    return {module_name(path): path for path in files}


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports, wherever in the file (`from a import b` counts as a.b when
    a.b is a module, else as a)."""
    package = module_name(path).rpartition(".")[0] if path.name != "__init__.py" else module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {name for name in found if name in known}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imported_modules(path, set(modules)) for name, path in modules.items()}


def test_the_graph_sees_the_project(graph):
    """Guards the other tests: a parser that found no edges would pass them all."""
    assert "scoring.service" in graph["app"]
    assert "scoring.syncnet.detector" in graph["syncnet_wrapper"]
    assert "syncnet_python.model" in graph["scoring.syncnet.inference"]


def test_packages_never_import_a_front_door(graph):
    offenders = {
        (name, target) for name, targets in graph.items() if name.split(".")[0] in LAYERED_PACKAGES for target in targets if target in FRONT_DOORS
    }
    assert offenders == set()


def test_syncnet_python_is_a_leaf_library(graph):
    offenders = {(name, target) for name, targets in graph.items() if name.startswith("syncnet_python") for target in targets}
    assert {(name, target) for name, target in offenders if not target.startswith("syncnet_python")} == set()


def test_training_never_imports_the_http_client(graph):
    offenders = {(name, target) for name, targets in graph.items() if name.startswith("training") for target in targets if target.split(".")[0] == "tools"}
    assert offenders == set()


def test_no_import_circle(graph):
    circles = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph.get(name, ())):
            if state.get(target) == "open":
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the most specific entry naming `module` or a package above it (the
    package `scoring` itself names only its own `__init__`)."""
    placed = [
        (len(prefix), index)
        for index, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or (prefix != "scoring" and module.startswith(prefix + "."))
    ]
    return max(placed)[1] if placed else None


def test_every_module_of_scoring_has_a_layer(graph):
    assert [name for name in graph if name.split(".")[0] == "scoring" and layer_of(name) is None] == []


def test_scoring_layers_point_down(graph):
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for name, targets in graph.items()
        if name.split(".")[0] == "scoring" and layer_of(name) is not None
        for target in targets
        if target.split(".")[0] == "scoring" and layer_of(target) is not None and layer_of(target) > layer_of(name)
    ]
    assert upward == []


def test_scoring_never_imports_tools_or_training(graph):
    assert {(name, target) for name, targets in graph.items() if name.split(".")[0] == "scoring" for target in targets if target.split(".")[0] in ("tools", "training")} == set()


def defined_names(path: Path) -> set[str]:
    """The names a module defines or imports at its top level (what `from it import name` can take)."""
    names = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def test_every_import_of_the_project_names_what_exists():
    """A moved module leaves no import of its old name behind, not even one inside a function that
    only runs in gunicorn's master."""
    modules = project_modules()
    packages = (*LAYERED_PACKAGES, "tests")
    broken = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in (*packages, *FRONT_DOORS):
                if node.module not in modules:
                    broken.append(f"{name}: no module {node.module}")
                    continue
                exported = defined_names(modules[node.module])
                broken += [f"{name}: {node.module} has no {a.name}" for a in node.names if f"{node.module}.{a.name}" not in modules and a.name not in exported]
            elif isinstance(node, ast.Import):
                broken += [f"{name}: no module {a.name}" for a in node.names if a.name.split(".")[0] in packages and a.name not in modules]
    assert broken == []
