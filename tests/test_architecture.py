"""The import layering of idscope (brief rule 6, style.md), checked on the source with ``ast``.

leaves (_errors, _validation, _atomic, _fileio, _random) → data → neighbors → estimators →
{dataset, representations} (siblings that do not import each other) → experiments → report
→ cli. A module may import only from its own layer or layers to its left. Only report/
imports matplotlib; ``import idscope`` loads no matplotlib, pandas, ray or transformers.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import idscope

SRC = Path(idscope.__file__).parent

LAYERS = {
    "_errors": 0, "_validation": 0, "_atomic": 0, "_fileio": 0, "_random": 0, "_typing": 0,
    "_lock": 0, "_processes": 0,
    "data": 1,
    "neighbors": 2,
    "estimators": 3,
    "dataset": 4, "representations": 4,
    "geometry": 4.5,  # overlap, CKA, local ID, monitor: above both siblings, below experiments
    "experiments": 5,
    "analysis": 5,  # idscope.analysis: the public name of experiments.analysis
    "report": 6,
    "cli": 7,
    "__init__": 7,  # the package facade re-exports; only the CLI may import it
}
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
    assert [LAYERS[component(t)] for t in got] == [3, 3, 7, 2, 6, 7]


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


def test_import_idscope_is_light():
    code = ("import sys, idscope\n"
            "heavy = [m for m in ('matplotlib', 'pandas', 'ray', 'transformers', "
            "'torchvision', 'timm') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"import idscope loaded: {proc.stdout.strip()}"
