"""The package's shape: no import cycles, one owner of the FEATURES paths, dependencies that say what is used.

Read from the source with `ast`, so a function-level import counts as much as a top-level one.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "pose_action"

# Third-party import name -> the distribution that provides it (a new import must be added here,
# and so to pyproject.toml).
DISTRIBUTIONS = {
    "cv2": "opencv-contrib-python", "numpy": "numpy", "pandas": "pandas", "mediapipe": "mediapipe",
    "tqdm": "tqdm", "matplotlib": "matplotlib", "PIL": "pillow", "sklearn": "scikit-learn", "keras": "keras",
    "tensorflow": "tensorflow", "ai_edge_litert": "ai-edge-litert", "dask": "dask", "distributed": "dask",
    "psutil": "psutil", "pytest": "pytest", "scipy": "scipy",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(path): ast.parse(path.read_text(encoding="utf-8"), str(path))
            for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(tree: ast.Module, module: str, known: set[str]) -> set[str]:
    """Package modules that `module` imports anywhere in its source (top level or inside functions)."""
    found = set()
    is_package = (PACKAGE / Path(*module.split(".")[1:]) / "__init__.py").is_file()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if base in known:
                found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    found.discard(module)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imported(tree, name, set(modules)) for name, tree in modules.items()}
    assert graph["pose_action.extraction.run"] >= {"pose_action.extraction.settings", "pose_action.extraction.pool"}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# Names of the FEATURES folder: only pose_action/layout.py spells them.
FEATURES_FILES = {"manifest.csv", "extract_config.json", "extract_workers.log", ".extract.lock", "inspect_report.csv"}
FEATURES_DIRS = {"landmarks", "frames", "embeddings", "motion"}


def _path_literals(tree: ast.Module) -> list[tuple[int, str]]:
    """String literals used as FEATURES paths: a file name, `x / "landmarks"`, or an f-string "landmarks/...".

    "frames", "embeddings" and "motion" also name model inputs and appearance kinds, so only their use in
    a path counts; "landmarks" alone is always the folder.
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in FEATURES_FILES or node.value == "landmarks":
                found.append((node.lineno, node.value))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and side.value in FEATURES_DIRS | FEATURES_FILES:
                    found.append((node.lineno, side.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(part.value for part in node.values if isinstance(part, ast.Constant))
            if re.search(r"(^|/)(landmarks|frames|embeddings|motion)/", text):
                found.append((node.lineno, text))
    return found


def test_features_paths_are_spelled_only_in_layout():
    offenders = [f"{name}:{line}: {text!r}" for name, tree in _modules().items() if name != "pose_action.layout"
                 for line, text in _path_literals(tree)]
    assert offenders == []
    layout = _modules()["pose_action.layout"]
    assert {text for _, text in _path_literals(layout)} >= {"manifest.csv", "extract_config.json", "landmarks"}


def _requirement_names(requirements: list[str]) -> set[str]:
    names = {re.split(r"[\s\[<>=;!~]", requirement, maxsplit=1)[0].lower() for requirement in requirements}
    return {"tensorflow" if name == "tensorflow-cpu" else name for name in names}


def _third_party(paths: list[Path]) -> set[str]:
    names = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    local = {"pose_action"} | {path.stem for path in (REPO / "tests").rglob("*.py")}
    return {name for name in names if name not in sys.stdlib_module_names and name not in local}


def test_dependencies_say_what_is_used():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = _requirement_names(project["dependencies"])
    extras = {name: _requirement_names(values) for name, values in project["optional-dependencies"].items()}
    package = _third_party(list(PACKAGE.rglob("*.py")))
    tools = _third_party(list((REPO / "scripts").rglob("*.py")) + list((REPO / "tests").rglob("*.py")))
    unknown = (package | tools) - set(DISTRIBUTIONS)
    assert not unknown, f"add these imports to DISTRIBUTIONS and pyproject.toml: {sorted(unknown)}"
    used = {DISTRIBUTIONS[name] for name in package}
    optional = extras["train"] | extras["lite"] | extras["distributed"]
    assert used - runtime - optional == set(), "imported by pose_action but not declared"
    assert runtime - used == set(), "declared as runtime dependencies but not imported by pose_action"
    only_tools = {DISTRIBUTIONS[name] for name in tools} - used
    assert only_tools - runtime - optional - extras["dev"] == set(), "used by scripts/tests but not in the dev extra"
    assert {"scikit-learn", "tensorflow", "keras"} <= extras["train"] and "scikit-learn" not in runtime
