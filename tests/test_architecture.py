"""The shape of the code, as ARCHITECTURE.md draws it: imports point one way (no cycles), modules
and functions stay small, and no docstring cites a file outside the repository."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "edgekit"
MAX_MODULE_LINES = 420  # ~400, as the house style says
MAX_FUNCTION_LINES = 65  # ~60


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, package: str) -> set[str]:
    """Every edgekit module imported anywhere in ``tree`` (functions included), except inside
    ``if TYPE_CHECKING:`` blocks."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "edgekit")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([node.module] if node.module else []))
            if base.split(".")[0] == "edgekit":
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    out.add(sub if sub in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in out if m in MODULES}


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = _imports(ast.parse(path.read_text()), package) - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_import_graph_has_no_cycles() -> None:
    graph = _graph()
    assert len(graph) > 40 and "edgekit.cli" in graph and "edgekit.backends.ort" in graph
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    graph = _graph()
    graph["edgekit.result"] = graph["edgekit.result"] | {"edgekit.profile"}  # profile -> result
    assert ["edgekit.profile", "edgekit.result"] in _cycles(graph)


def test_type_checking_imports_are_not_edges() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from edgekit.profile import ProfileOptions\n"
                     "def f():\n    from edgekit import manifest\n")
    assert _imports(tree, "edgekit") == {"edgekit.manifest"}


def test_modules_and_functions_stay_small() -> None:
    big = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: k for n, k in big.items() if k > MAX_MODULE_LINES} == {}
    long_functions = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {n} lines")
    assert long_functions == []


@pytest.mark.parametrize("needle", ["STYLE.md", "shared/reference", "../shared"])
def test_no_docstring_cites_a_file_outside_the_repo(needle: str) -> None:
    root = PKG.parent
    texts = {p: p.read_text() for p in [*MODULES.values(), *root.glob("*.md"),
                                         *(root / "docs").rglob("*.md"),
                                         *(root / "Jetson").glob("*"), *(root / "docker").glob("*"),
                                         *[t for t in (root / "tests").rglob("*.py")
                                           if t != Path(__file__).resolve()],
                                         *(root / "bench").glob("*.py"),
                                         *(root / "scripts").glob("*.py")]}
    assert [str(p.relative_to(root)) for p, t in texts.items() if needle in t] == []


def test_no_tracked_file_is_over_5_mb() -> None:
    """Generated scratch (ORT's external-data files, stores, engines) never gets committed: a
    115 MB ``.data`` file once did. Fixtures stay small (<= 4 MB)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                           check=True).stdout.decode().split("\0")
    big = {f: (root / f).stat().st_size for f in files
           if f and (root / f).is_file() and (root / f).stat().st_size > 5 * 2**20}
    assert not big, f"tracked files over 5 MB: {big}"


RESOLVER = "edgekit.preprocessing"


def test_only_the_resolver_builds_a_preprocess_from_parts() -> None:
    """Every recipe comes from ``preprocessing.resolve`` (and its from_timm_cfg/
    from_torchvision/from_catalog/default_for); no other module calls ``Preprocess(...)``."""
    found = []
    for name, path in MODULES.items():
        if name == RESOLVER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(
                    f, ast.Attribute) else None
                if called == "Preprocess":
                    found.append(f"{name}:{node.lineno}")
    assert found == []


IDENTITY = "edgekit.identity"
_KEYED = {"backend", "batch", "dtype", "threads", "warmup", "iterations", "device_name"}


def _settings_key_builders(name: str, source: str) -> list[str]:
    """Functions of ``source`` that hash a measurement's settings: a hashlib call in a function
    that names two or more of the keyed fields (as strings or attributes)."""
    found = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        hashes = any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                     and n.value.id == "hashlib" for n in ast.walk(fn))
        named = {n.value for n in ast.walk(fn) if isinstance(n, ast.Constant)} | {
            n.attr for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
        if hashes and len(_KEYED & named) >= 2:
            found.append(f"{name}.{fn.name}")
    return found


def test_only_identity_builds_a_settings_key() -> None:
    """"The same measurement" is decided once (``identity.RunSettings.key``): no other module
    hashes a measurement's settings."""
    found = [f for name, path in MODULES.items() if name != IDENTITY
             for f in _settings_key_builders(name, path.read_text())]
    assert found == []
    assert _settings_key_builders(IDENTITY, MODULES[IDENTITY].read_text()) == [
        "edgekit.identity.key"]


def test_the_settings_key_rule_finds_a_planted_second_key() -> None:
    planted = ("import hashlib, json\n"
               "def my_key(opts):\n"
               "    src = {'backend': opts.backend, 'batch': opts.batch}\n"
               "    return hashlib.sha256(json.dumps(src).encode()).hexdigest()\n")
    assert _settings_key_builders("edgekit.planted", planted) == ["edgekit.planted.my_key"]
