"""The standing fuzz suite (issue #12): random arrays, files, manifests and configurations
through the API and the CLI.

The property everywhere: a correct result (checked against a brute force or an invariant
where one exists, else finite and consistent) or one :class:`IdscopeError` (exit status 2
and one line on the CLI); never another exception, a traceback, a crash, a NaN without an
error, or a file written outside the output folder.

In CI every test has a small fixed budget (``derandomize=True``: the same cases each run).
``benchmarks/fuzz_long.py`` runs the same tests with ``IDSCOPE_FUZZ_SCALE`` (a multiplier
of every budget) and fresh random cases; its record is ``benchmarks/results/fuzz_long.md``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import idscope
from idscope import IdscopeError
from idscope.cli.main import main
from idscope.data import load
from idscope.representations import ActivationStore, activations, profile_store
from idscope.sweeps.config import parse_config

SCALE = float(os.environ.get("IDSCOPE_FUZZ_SCALE", "0") or 0)  # 0: the CI budget


def budget(n: int):
    """``n`` examples in CI (the same ones every run); ``n * SCALE`` fresh ones in the long
    run."""
    return settings(max_examples=max(1, int(n * SCALE)) if SCALE else n, deadline=None,
                    derandomize=not SCALE, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


@contextlib.contextmanager
def quiet():
    """Warnings are allowed (small samples, saturation); they must not turn into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            yield


def attempt(fn, *args, **kwargs):
    """The result, or None after an :class:`IdscopeError`; any other exception fails."""
    try:
        with quiet():
            return fn(*args, **kwargs)
    except IdscopeError as exc:
        assert str(exc) and "\n" not in str(exc), f"error message not one line: {exc!r}"
        return None


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------------------------------
# random arrays
# ---------------------------------------------------------------------------------------
DTYPES = ["float64", "float32", "float16", "int64", "int32", "uint8", "bool", "complex128"]


@st.composite
def arrays(draw, max_n: int = 40, max_d: int = 6):
    """Point clouds: Gaussian, low-dimensional, grid or constant; scales 1e-300..1e300;
    duplicates; NaN/inf; every dtype; C or Fortran order; sometimes not 2-D."""
    n = draw(st.integers(0, max_n))
    d = draw(st.integers(0, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["gauss", "lowdim", "grid", "constant"]))
    if kind == "gauss":
        X = rng.normal(size=(n, d))
    elif kind == "lowdim":
        X = rng.normal(size=(n, 1)) @ rng.normal(size=(1, d)) if d else np.zeros((n, 0))
    elif kind == "grid":
        X = rng.integers(0, 3, size=(n, d)).astype(np.float64)
    else:
        X = np.ones((n, d))
    with quiet():
        X = X * 10.0 ** draw(st.integers(-300, 300)) + draw(st.sampled_from([0.0, 1.0, 1e8]))
        n_dup = draw(st.integers(0, 5))
        if n and n_dup:
            X = np.concatenate([X, X[rng.integers(0, n, n_dup)]])
        special = draw(st.sampled_from([None, None, None, np.nan, np.inf, -np.inf]))
        if special is not None and X.size:
            X.flat[rng.integers(0, X.size)] = special
        X = X.astype(draw(st.sampled_from(DTYPES)))
    if draw(st.booleans()):
        X = np.asfortranarray(X)
    shape = draw(st.sampled_from(["2d"] * 8 + ["1d", "3d"]))
    if shape == "1d":
        X = X.ravel()
    elif shape == "3d":
        X = X[:, :, None]
    if draw(st.integers(0, 4)) == 0:
        X = torch.from_numpy(np.ascontiguousarray(X))
    return X


def _check_result(r, n_rows: int) -> None:
    assert np.isfinite(r.dimension) and r.dimension > 0, r
    assert 0 < r.n_points <= n_rows
    lo, hi = r.ci_low, r.ci_high
    if np.isfinite(lo) and np.isfinite(hi):
        assert lo <= hi, r


ESTIMATORS = {
    "twonn": lambda X: idscope.twonn(X, n_bootstrap=20),
    "twonn-mle": lambda X: idscope.twonn(X, method="mle", duplicates="drop-ties"),
    "mle": lambda X: idscope.mle(X, k=3),
    "mle-pope": lambda X: idscope.mle(X, k=(3, 5), normalization="k-2"),
    "gride": lambda X: idscope.gride(X),
    "pca": lambda X: idscope.pca_id(X, n_bootstrap=3),
}


@budget(60)
@given(X=arrays())
def test_fuzz_estimators(X):
    n_rows = int(X.shape[0]) if X.ndim else 0
    for estimate in ESTIMATORS.values():
        r = attempt(estimate, X)
        if r is not None:
            _check_result(r, n_rows)
    # the exact engine: scaling by 2**s scales every distance by 2**s, so TwoNN's ratios
    # (and its estimate) are unchanged
    r = attempt(ESTIMATORS["twonn"], X)
    if r is not None and isinstance(X, np.ndarray) and X.dtype == np.float64:
        nz = np.abs(X[X != 0])
        if nz.size and nz.max() < 1e290 and nz.min() > 1e-290:
            again = attempt(ESTIMATORS["twonn"], X * 2.0**17)
            assert again is not None
            np.testing.assert_allclose(again.dimension, r.dimension, rtol=1e-12)


@budget(40)
@given(X=arrays(max_n=30, max_d=5), k=st.integers(-1, 6))
def test_fuzz_kneighbors_against_brute_force(X, k):
    knn = attempt(idscope.kneighbors, X, k)
    if knn is None:
        return
    A = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    # the float64 brute force is itself exact only away from overflow and underflow
    if not (np.abs(A).max(initial=0) < 1e150 and np.abs(A[A != 0]).min(initial=1) > 1e-150):
        assert np.isfinite(knn.distances).all() and (knn.distances >= 0).all()
        return
    diff = A[:, None, :] - A[None, :, :]
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    np.fill_diagonal(dist, np.inf)
    want = np.sort(dist, axis=1)[:, :k]
    np.testing.assert_allclose(knn.distances, want, rtol=1e-9, atol=0)
    got = dist[np.arange(len(A))[:, None], knn.indices]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)  # the listed rows are those


@budget(40)
@given(X=arrays(max_n=30, max_d=4), labels=st.sampled_from(["two", "many", "real", "nan",
                                                             "text", "short", "long"]),
       seed=st.integers(0, 1000))
def test_fuzz_label_sharpness(X, labels, seed):
    n = int(X.shape[0]) if X.ndim else 0
    rng = np.random.default_rng(seed)
    m = {"short": max(0, n - 3), "long": n + 3}.get(labels, n)
    y = {"two": rng.integers(0, 2, m), "many": rng.integers(0, 4, m),
         "real": rng.normal(size=m), "text": rng.choice(["cat", "dog"], m)}.get(
        labels, rng.integers(0, 2, m).astype(float))
    if labels == "nan" and m:
        y[rng.integers(0, m)] = np.nan
    r = attempt(idscope.label_sharpness, X, y)
    if r is None:
        return
    assert labels not in ("short", "long", "nan"), "a bad pairing was accepted"
    assert not np.isnan(r.value) and r.value >= 0
    A = np.asarray(X, dtype=np.float64).reshape(n, -1)
    if labels in ("two", "many", "text") and np.abs(A).max(initial=0) < 1e150 and \
            np.abs(A[A != 0]).min(initial=1) > 1e-150:
        dist = np.linalg.norm(A[:, None] - A[None], axis=-1)
        other = y[:, None] != y[None, :]
        best = dist[other].min()
        np.testing.assert_allclose(r.value, np.inf if best == 0 else 1 / best, rtol=1e-9)


# ---------------------------------------------------------------------------------------
# random files through load() and the CLI
# ---------------------------------------------------------------------------------------
def _png(rng, draw, path: Path) -> None:
    kind = draw(st.sampled_from(["L", "RGB", "16", "truncated", "garbage", "empty"]))
    size = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind in ("L", "RGB"):
        shape = size + ((3,) if kind == "RGB" else ())
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    elif kind == "16":
        Image.fromarray(rng.integers(0, 65536, size).astype(np.uint16)).save(path)
    else:
        good = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(good, "PNG")
        data = good.getvalue()
        path.write_bytes({"truncated": data[: int(rng.integers(8, len(data)))],
                          "garbage": rng.bytes(int(rng.integers(1, 200))),
                          "empty": b""}[kind])


def _npy(rng, draw, path: Path) -> None:
    kind = draw(st.sampled_from(["ok", "ok", "int", "fortran", "object", "truncated",
                                 "huge_header", "garbage", "1d", "nan"]))
    X = rng.normal(size=(int(rng.integers(0, 30)), int(rng.integers(1, 5))))
    if kind == "int":
        X = (X * 10).astype(np.int32)
    elif kind == "fortran":
        X = np.asfortranarray(X)
    elif kind == "1d":
        X = X[:, 0].copy()
    elif kind == "nan" and X.size:
        X.flat[0] = np.nan
    if kind == "object":
        np.save(path, np.array([{"a": 1}, [2]], dtype=object), allow_pickle=True)
    elif kind == "huge_header":
        header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), " + " " * 200_000
        path.write_bytes(b"\x93NUMPY\x02\x00" + len(header).to_bytes(4, "little")
                         + header.encode() + b"\n" + bytes(48))
    elif kind == "garbage":
        path.write_bytes(rng.bytes(int(rng.integers(0, 300))))
    else:
        np.save(path, X)
        if kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: int(rng.integers(0, len(data)))])


def _npz(rng, draw, path: Path) -> None:
    n = int(rng.integers(0, 30))
    X = rng.normal(size=(n, int(rng.integers(1, 4))))
    y = rng.integers(0, 2, max(0, n + int(draw(st.sampled_from([0, 0, 0, -2, 3])))))
    kind = draw(st.sampled_from(["xy", "xy", "x", "other_keys", "object", "truncated"]))
    if kind == "xy":
        np.savez(path, X=X, y=y)
    elif kind == "x":
        np.savez(path, X=X)
    elif kind == "other_keys":
        np.savez(path, a=X, b=y, c=X)
    elif kind == "object":
        np.savez(path, X=np.array([None, 1], dtype=object), y=y)
    else:
        np.savez(path, X=X, y=y)
        data = path.read_bytes()
        path.write_bytes(data[: int(rng.integers(0, len(data)))])


def _csv(rng, draw, path: Path) -> None:
    rows = int(rng.integers(0, 25))
    cols = int(rng.integers(1, 4))
    sep = draw(st.sampled_from([",", ",", ";", "\t"]))
    header = draw(st.booleans())
    cells = [[repr(float(v)) for v in rng.normal(size=cols)] for _ in range(rows)]
    for r in cells:
        if rng.random() < 0.1:
            r[int(rng.integers(0, cols))] = draw(st.sampled_from(["", "nan", "x", "1e999",
                                                                  '"q"', "inf"]))
    lines = ([sep.join(f"c{i}" for i in range(cols))] if header else []) + [
        sep.join(r) for r in cells]
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = text[: int(rng.integers(0, len(text) + 1))]
    path.write_text(text)


MAKERS = {"npy": _npy, "npz": _npz, "csv": _csv, "png": None}


@budget(40)
@given(kind=st.sampled_from(list(MAKERS)), seed=st.integers(0, 2**32 - 1),
       method=st.sampled_from(["twonn", "mle", "gride", "pca"]), data=st.data())
def test_fuzz_files_through_load_and_the_cli(kind, seed, method, data):
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if kind == "png":
            src = root / "images"
            for c in range(int(rng.integers(1, 3))):
                for i in range(int(rng.integers(1, 4))):
                    _png(rng, data.draw, src / f"class{c}" / f"{i}.png")
        else:
            src = root / f"data.{kind}"
            MAKERS[kind](rng, data.draw, src)
        ds = attempt(load, src, cache_dir=root / "cache") if kind == "png" else attempt(
            load, src)
        if ds is not None:
            assert ds.y is None or len(ds.y) == ds.n_samples
        before = tree(root)
        out = root / "out"
        args = ["estimate", str(src), "--method", method, "--json", "--no-progress"]
        if method == "mle":
            args += ["--k", "3"]
        code, stdout, stderr = _run_main(args, cwd=root, cache=root / "cache")
        _check_cli(code, stderr)
        if code == 0:
            json.loads(stdout, parse_constant=_no_nan)
        if kind in ("npz", "png"):
            code, _, stderr = _run_main(["dataset", str(src), "--json", "--k", "3",
                                         "--out", str(out)], cwd=root, cache=root / "cache")
            _check_cli(code, stderr)
        after = tree(root)
        changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
        assert all(p.startswith(("out", "cache")) for p in changed), changed


def _no_nan(token: str):
    raise AssertionError(f"the CLI printed {token} in its JSON")


def _run_main(args: list[str], cwd: Path, cache: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old_cwd, old_cache = os.getcwd(), os.environ.get("IDSCOPE_CACHE_DIR")
    os.chdir(cwd)
    os.environ["IDSCOPE_CACHE_DIR"] = str(cache)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), quiet():
            code = main(args)
    finally:
        os.chdir(old_cwd)
        if old_cache is None:
            os.environ.pop("IDSCOPE_CACHE_DIR", None)
        else:
            os.environ["IDSCOPE_CACHE_DIR"] = old_cache
    return code, out.getvalue(), err.getvalue()


def _check_cli(code: int, stderr: str) -> None:
    assert code in (0, 2), (code, stderr)
    assert "Traceback" not in stderr
    if code == 2:
        errors = [line for line in stderr.splitlines() if ": error: " in line]
        assert len(errors) == 1, stderr


# ---------------------------------------------------------------------------------------
# random manifests
# ---------------------------------------------------------------------------------------
class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = torch.nn.Linear(4, 6)
        self.fc2 = torch.nn.Linear(6, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 100), st.floats(),
                    st.text(max_size=12), st.sampled_from(
                        ["../outside.bin", "/etc/passwd", "000_input.npy", "001_fc1.npy",
                         "object", "float64", "float16", "int8", "..", "manifest.json"]),
                    st.lists(st.integers(-2, 40), max_size=3), st.just({}), st.just([]))


@budget(40)
@given(edits=st.lists(st.tuples(st.sampled_from(
    ["top", "layer", "batches", "drop_top", "drop_layer", "list", "symlink", "delete",
     "rewrite_file"]),
    st.sampled_from(["version", "n_samples", "dtype", "complete", "model", "data", "layers",
                     "batches", "format", "name", "file", "shape", "offset", "raw_shape",
                     "depth", "relative_depth", "kind", "module_type", "total", "done",
                     "size"]), _VALUES, st.integers(0, 2)), min_size=1, max_size=3))
def test_fuzz_manifests(edits):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        X = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))
        activations(_Tiny(), X, layers=["input", "fc1", "output"], batch_size=8,
                    store=root / "s")
        (root / "outside.bin").write_bytes(b"sentinel" * 64)
        mpath = root / "s" / "manifest.json"
        man = json.loads(mpath.read_text())
        for what, key, value, i in edits:
            man = _edit(man, root / "s", what, key, value, i)
        mpath.write_text(json.dumps(man, default=str))
        before = {p: b for p, b in tree(root).items() if not p.startswith("s/")}
        st_ = attempt(ActivationStore.open, root / "s")
        if st_ is not None:
            for name in st_.layers:
                arr = attempt(lambda n=name: np.asarray(st_[n]))
                assert arr is None or arr.shape == tuple(st_.info(name)["shape"])
            prof = attempt(profile_store, st_, n_resamples=2, pca_threshold=None)
            if prof is not None:
                assert all(np.isfinite(r.twonn) or r.notes for r in prof.rows)
        # a rerun that resumes or rebuilds the store never touches anything outside it
        attempt(activations, _Tiny(), X, layers=["input", "fc1", "output"], batch_size=8,
                store=root / "s")
        attempt(activations, _Tiny(), X, layers=["input", "fc1", "output"], batch_size=8,
                store=root / "s", resume=False)
        after = {p: b for p, b in tree(root).items() if not p.startswith("s/")}
        assert after == before


def _edit(man, store: Path, what, key, value, i):
    layers = man.get("layers") if isinstance(man, dict) else None
    entry = layers[i % len(layers)] if isinstance(layers, list) and layers else None
    if what == "top" and isinstance(man, dict):
        man[key] = value
    elif what == "layer" and isinstance(entry, dict):
        entry[key] = value
    elif what == "batches" and isinstance(man, dict) and isinstance(man.get("batches"), dict):
        man["batches"][key] = value
    elif what == "drop_top" and isinstance(man, dict):
        man.pop(key, None)
    elif what == "drop_layer" and isinstance(entry, dict):
        entry.pop(key, None)
    elif what == "list":
        man = [man]
    elif isinstance(entry, dict) and isinstance(entry.get("file"), str) and \
            "/" not in entry["file"] and entry["file"] not in ("", ".", ".."):
        f = store / entry["file"]
        if what == "symlink" and f.is_file():
            f.unlink()
            f.symlink_to(store.parent / "outside.bin")
        elif what == "delete":
            f.unlink(missing_ok=True)
        elif what == "rewrite_file" and f.is_file():
            np.save(f, np.zeros((3, 2), dtype=["float16", "float64", "int8"][i]))
    return man


# ---------------------------------------------------------------------------------------
# random sweep configurations (parsed and validated; nothing is trained)
# ---------------------------------------------------------------------------------------
_CONFIG_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6),
                           st.floats(allow_nan=True, allow_infinity=True),
                           st.text(max_size=10), st.sampled_from(
                               ["../../../X", "/abs", "a/b", "ok-name", "adam", "sgd", "all-pairs",
                                "last", "cpu", "unit"]),
                           st.lists(st.integers(-3, 300), max_size=3))


@budget(40)
@given(edits=st.lists(st.tuples(st.sampled_from(
    ["name", "training", "model", "dataset", "measure", "executor"]),
    st.sampled_from(["name", "sizes", "test_size", "seeds", "epochs", "batch_size", "lr",
                     "threads", "optimizer", "weight_decay", "width", "depth", "tasks",
                     "source", "scale", "robustness", "kind", "workers", "label"]),
    _CONFIG_VALUES), max_size=4))
def test_fuzz_configs(edits):
    raw = {"name": "fuzz",
           "datasets": [{"name": "digits", "source": "sklearn:digits", "tasks": [[0, 1]]}],
           "models": [{"name": "mlp", "kwargs": {"depth": 1, "width": 8}}],
           "training": {"sizes": [20], "test_size": 20, "seeds": [0], "epochs": 1}}
    for where, key, value in edits:
        if where == "name":
            raw["name"] = value
        elif where == "training":
            raw["training"][key] = value
        elif where == "model":
            raw["models"][0]["kwargs" if key in ("width", "depth") else key] = (
                dict(raw["models"][0]["kwargs"], **{key: value})
                if key in ("width", "depth") else value)
        elif where == "dataset":
            raw["datasets"][0][key] = value
        else:
            raw.setdefault(where, {})[key] = value
    cfg = attempt(parse_config, raw)
    if cfg is None:
        return
    # an accepted name is a plain folder name: results stay inside the chosen folder
    name = cfg.name
    assert name and "/" not in name and "\\" not in name and name not in (".", "..")
    assert all(np.isfinite(v) and v > 0 for v in (cfg.training.lr,))


# ---------------------------------------------------------------------------------------
# a few real processes: crashes (signals) and tracebacks are visible only from outside
# ---------------------------------------------------------------------------------------
DRIVER = """
import contextlib, io, json, sys
from idscope.cli.main import main
out = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except BaseException as exc:  # a traceback: reported, not hidden
            code = f"{type(exc).__name__}: {exc}"
    out.append([code, err.getvalue()])
print(json.dumps(out))
"""


def test_fuzz_cli_in_a_subprocess(tmp_path):
    """Hostile inputs in a real process (one, for the import cost): a crash by a signal,
    like the segfault of an object-dtype manifest (exit 139), shows only from outside."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    activations(_Tiny(), torch.from_numpy(X), layers=["input", "fc1", "output"],
                store=tmp_path / "s")
    man = json.loads((tmp_path / "s" / "manifest.json").read_text())
    man["dtype"] = "object"
    (tmp_path / "s" / "manifest.json").write_text(json.dumps(man))
    (tmp_path / "m.py").write_text(
        "import torch\n\ndef build():\n    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(),\n"
        "                               torch.nn.Linear(6, 2))\n")
    cases = [["profile", "--model", f"{tmp_path / 'm.py'}:build", "--data",
              str(tmp_path / "x.npy"), "--store", str(tmp_path / "s"), "--no-progress"]]
    for kind in ("object", "huge_header", "truncated"):
        _npy(np.random.default_rng(1), lambda s, k=kind: k, tmp_path / f"{kind}.npy")
        cases.append(["estimate", str(tmp_path / f"{kind}.npy")])
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(cases)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    for (code, err), args in zip(json.loads(proc.stdout), cases):
        assert code == 2, (args, code, err)
        assert "Traceback" not in err
        assert len([ln for ln in err.splitlines() if ": error: " in ln]) == 1, err


def test_npz_claiming_a_huge_shape_is_refused(tmp_path):
    """In the same spirit: a 200-byte .npz whose array header claims 256 GB."""
    import zipfile

    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000, 8), }"
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    payload = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as z:
        z.writestr("X.npy", payload)
    assert attempt(load, tmp_path / "bomb.npz") is None
