"""The architecture of idscope, checked on the source with ``ast`` (README "Layout").

leaves (_errors, _validation, _atomic, _fileio, _runtime, ...) → data → neighbors → estimators
→ {dataset, representations} (siblings that do not import each other) → geometry → training
→ sweeps → analysis → studies → report → cli. A module may import only from its own layer or
layers to its left; no module is over 600 lines; no import cycle between modules (imports
inside functions count); no package imports another package's private module or private name
(the leaves excepted). Only report/ imports matplotlib; ``import idscope`` loads no
matplotlib, pandas, ray or transformers.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

import idscope

SRC = Path(idscope.__file__).parent

LEAVES = ("_errors", "_validation", "_atomic", "_fileio", "_runtime", "_random", "_typing",
          "_lock", "_processes")
LAYERS = {
    **dict.fromkeys(LEAVES, 0),
    "data": 1,
    "neighbors": 2,
    "estimators": 3,
    "dataset": 4, "representations": 4,
    "geometry": 5,
    "training": 6,
    "sweeps": 7,
    "analysis": 8,
    "experiments": 8,  # deprecated re-exports of training/sweeps/analysis, for one release
    "studies": 9,
    "report": 10,
    "cli": 11,
    "__init__": 11,  # the package facade re-exports; only the CLI may import it
}
MAX_LINES = 600
SIBLINGS = {"dataset": "representations", "representations": "dataset"}
# package metadata any layer may read from the root (inside a function)
ROOT_METADATA = ("__version__",)
NEVER_HARD = ("torchvision", "timm")


def modules():
    """(dotted module name, path, is_package) for every source file."""
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), path, is_pkg


def component(dotted):
    """The top-level component of an ``idscope.*`` name (``"__init__"`` for the root)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def idscope_imports(name, path, is_pkg):
    """Every ``idscope.*`` module imported by a file, as (line, target dotted name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if is_pkg else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "idscope":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "idscope":
                continue
            for alias in node.names:
                if mod == "idscope" and alias.name in ROOT_METADATA:
                    continue
                sub = f"{mod}.{alias.name}"
                # ``from .. import estimators`` imports a module; ``from . import x`` a name
                target = sub if _is_module(sub) else mod
                yield node.lineno, target


def _is_module(dotted):
    rel = Path(*dotted.split(".")[1:])
    return (SRC / rel).with_suffix(".py").exists() or (SRC / rel / "__init__.py").exists()


def third_party_imports(path):
    """(line, top-level name, inside a function) of every non-idscope import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                out.extend((child.lineno, a.name.split(".")[0], in_function)
                           for a in child.names)
            elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                out.append((child.lineno, child.module.split(".")[0], in_function))
            visit(child, inner)

    visit(tree, False)
    return out


ALL = list(modules())


def test_every_module_has_a_layer():
    missing = sorted({component(n) for n, _, _ in ALL} - set(LAYERS))
    assert not missing, f"modules without a layer (add them to LAYERS): {missing}"


def test_imports_flow_one_way():
    bad = []
    for name, path, is_pkg in ALL:
        src = component(name)
        for line, target in idscope_imports(name, path, is_pkg):
            dst = component(target)
            if dst not in LAYERS or src not in LAYERS:
                continue  # reported by test_every_module_has_a_layer
            if LAYERS[dst] > LAYERS[src]:
                bad.append(f"{path.relative_to(SRC)}:{line}: {src} (layer {LAYERS[src]}) "
                           f"imports {target} (layer {LAYERS[dst]})")
            if SIBLINGS.get(src) == dst:
                bad.append(f"{path.relative_to(SRC)}:{line}: {src} imports its sibling "
                           f"{target}")
    assert not bad, "\n".join(bad)


def test_layering_checker_catches_violations(tmp_path):
    """The checker itself: a lower layer importing a higher one is found."""
    code = ("from ..estimators import scale_analysis\nfrom ..estimators import twonn\n"
            "from idscope.cli import main\nfrom . import engine\nimport idscope.report.scale\n"
            "from .. import __version__, kneighbors\n")
    p = tmp_path / "engine.py"
    p.write_text(code)
    got = [t for _, t in idscope_imports("idscope.neighbors.engine", p, False)]
    assert got == ["idscope.estimators", "idscope.estimators.twonn", "idscope.cli.main",
                   "idscope.neighbors.engine", "idscope.report.scale", "idscope"]
    assert [LAYERS[component(t)] for t in got] == [3, 3, 11, 2, 10, 11]



def imported_names(name, path, is_pkg):
    """(line, module, imported name) of every ``from idscope... import name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if is_pkg else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                mod = ".".join(base[: len(base) - (node.level - 1)]
                               + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "idscope":
                for alias in node.names:
                    yield node.lineno, mod, alias.name


def private_reach_ins(name, path, is_pkg):
    """Private modules or names of another package that a file imports."""
    src = component(name)
    for line, mod, alias in imported_names(name, path, is_pkg):
        target = f"{mod}.{alias}" if _is_module(f"{mod}.{alias}") else mod
        dst = component(target)
        if dst == src or dst in LEAVES or dst == "__init__":
            continue
        parts = target.split(".")[1:]
        if any(p.startswith("_") and p != "__init__" for p in parts):
            yield f"{_rel(path)}:{line}: private module {target}"
        elif alias.startswith("_") and not _is_module(f"{mod}.{alias}"):
            yield f"{_rel(path)}:{line}: private name {mod}.{alias}"


def _rel(path):
    return path.relative_to(SRC) if path.is_relative_to(SRC) else path.name


def _resolve(target):
    """The module file a dotted import target names (a package means its ``__init__``)."""
    return target if target in BY_NAME else None


BY_NAME = {n: (p, pkg) for n, p, pkg in ALL}


def find_cycle(graph):
    """One import cycle of ``graph`` (a list of module names), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def import_graph():
    graph = {}
    for name, path, is_pkg in ALL:
        graph[name] = {t for _, t in idscope_imports(name, path, is_pkg)
                       if _resolve(t) and t != name}
    return graph


def test_no_module_over_600_lines():
    long = [f"{path.relative_to(SRC)}: {n} lines" for _, path, _ in ALL
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split by concept): {long}"


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle (imports inside functions count): " + " → ".join(cycle)


def test_no_private_reach_ins():
    bad = [msg for name, path, is_pkg in ALL for msg in private_reach_ins(name, path, is_pkg)]
    assert not bad, "private names/modules imported across packages:\n" + "\n".join(bad)


def test_checkers_catch_cycles_and_reach_ins(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    p = tmp_path / "x.py"
    p.write_text("from ..estimators._neighbors import search\nfrom ..dataset import _flatten\n"
                 "from .._errors import InputError\nfrom ..estimators import twonn\n"
                 "from . import _helpers\n")
    got = list(private_reach_ins("idscope.representations.x", p, False))
    assert len(got) == 2 and "estimators._neighbors" in got[0] and "_flatten" in got[1]


def test_only_report_imports_matplotlib():
    bad = [f"{path.relative_to(SRC)}:{line}"
           for name, path, _ in ALL if component(name) != "report"
           for line, mod, _ in third_party_imports(path) if mod == "matplotlib"]
    assert not bad, f"matplotlib imported outside report/: {bad}"


@pytest.mark.parametrize("dep", NEVER_HARD)
def test_optional_vision_packages_never_imported_at_module_level(dep):
    bad = [f"{path.relative_to(SRC)}:{line}" for _, path, _ in ALL
           for line, mod, in_function in third_party_imports(path)
           if mod == dep and not in_function]
    assert not bad, f"{dep} must be imported inside a function (in try/except): {bad}"


def test_imports_are_light():
    """One subprocess: ``import idscope`` (public names load on first use) and the training
    and studies packages load no matplotlib, pandas, Ray, transformers, torchvision or timm.
    (The estimator classes inherit scikit-learn's ``BaseEstimator``; scikit-learn imports
    pandas itself when it is installed, so the test does not resolve them.)"""
    code = ("import sys, idscope\n"
            "import idscope.training, idscope.studies\n"
            "assert idscope.studies.DEMO\n"
            "heavy = [m for m in ('matplotlib', 'pandas', 'ray', 'transformers', "
            "'torchvision', 'timm') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing idscope loaded: {proc.stdout.strip()}"
