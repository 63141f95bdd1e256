"""Estimators on data: known manifolds, duplicate policies, PCA-ID, and the contract every
estimator class honours (scikit-learn style)."""

import json

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import idscope
from idscope import GRIDE, MLE, PCAID, DuplicatePointsError, IDResult, InputError, TwoNN
from idscope.estimators import twonn_from_ratios


# --------------------------------------------------------------------------------------
# manifolds of known dimension
# --------------------------------------------------------------------------------------
def embed(Z, D, rng):
    """Z placed in R^D by a random rotation and a translation (distances unchanged)."""
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    out = np.zeros((Z.shape[0], D))
    out[:, : Z.shape[1]] = Z
    return out @ Q + 3.0 * rng.normal(size=D)


def sphere(n, d, rng):
    """Uniform on the unit sphere S^d ⊂ R^(d+1): boundaryless, uniform density."""
    Z = rng.normal(size=(n, d + 1))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


def ball(n, d, rng):
    """Uniform in the unit ball B^d: has a boundary."""
    Z = rng.normal(size=(n, d))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True) * rng.uniform(size=(n, 1)) ** (1 / d)


def mlp_embedding(Z, D, rng, width=64):
    """A curved, nonlinear embedding: a random one-hidden-layer tanh network R^m → R^D."""
    W1 = rng.normal(size=(Z.shape[1], width)) / np.sqrt(Z.shape[1])
    b = 0.1 * rng.normal(size=width)
    W2 = rng.normal(size=(width, D)) / np.sqrt(width)
    return np.tanh(Z @ W1 + b) @ W2


MANIFOLDS = {
    "sphere": lambda n, d, rng: embed(sphere(n, d, rng), d + 6, rng),
    "gaussian": lambda n, d, rng: embed(rng.normal(size=(n, d)), d + 6, rng),
    "ball": lambda n, d, rng: embed(ball(n, d, rng), d + 6, rng),
    "mlp-sphere": lambda n, d, rng: mlp_embedding(sphere(n, d, rng), 3 * d + 10, rng),
}
N = 2000


def expected_band(estimator, manifold, d):
    """Documented tolerance (docs/science.md §5) for one estimate at N = 2 000.

    - d <= 5, no boundary: |d̂ − d| <= 0.3. TwoNN and GRIDE have a sampling sd of about
      d/√N (0.11 at d = 5), so their tolerance is max(0.3, 3·d/√N).
    - balls have a boundary, where neighbours are missing on one side: every kNN estimator
      reads low there; the lower tolerance is 0.5 more (measured: MLE ≈ 4.6 at d = 5,
      ≈ 8.5 at d = 10).
    - d = 10: finite-sample bias, every kNN estimator reads ≈ 8.3–9.5 (MLE, k = 20, whose
      sd is ≈ 0.05, exactly this band); TwoNN and GRIDE widen it by 3·d/√N ≈ 0.67.
    """
    sd3 = 0.0 if estimator == "mle" else 3 * d / np.sqrt(N)
    boundary = 0.5 if manifold == "ball" else 0.0
    if d >= 10:
        return 8.3 - sd3 - boundary, 9.5 + sd3
    tol = max(0.3, sd3)
    return d - tol - boundary, d + tol


ESTIMATES = {
    "twonn": lambda knn: idscope.twonn(knn, n_bootstrap=0).dimension,
    "twonn-ml": lambda knn: idscope.twonn(knn, method="mle").dimension,
    "mle": lambda knn: idscope.mle(knn, k=20).dimension,
    "gride": lambda knn: idscope.gride(knn, n1=2, n2=4).dimension,
}


@pytest.mark.parametrize("d", [2, 5, 10])
@pytest.mark.parametrize("manifold", list(MANIFOLDS))
def test_known_manifolds(manifold, d):
    rng = np.random.default_rng(1000 + d)
    X = MANIFOLDS[manifold](N, d, rng)
    knn = idscope.kneighbors(X, 20)  # one search, shared by all four estimates
    got = {name: f(knn) for name, f in ESTIMATES.items()}
    for name, value in got.items():
        low, high = expected_band(name.split("-")[0], manifold, d)
        assert low <= value <= high, (name, manifold, d, value, (low, high), got)


def test_twonn_default_on_data_matches_precomputed():
    X = MANIFOLDS["sphere"](500, 3, np.random.default_rng(0))
    a = idscope.twonn(X)
    b = idscope.twonn(idscope.kneighbors(X, 6))  # the graph interval reads 6 neighbours
    assert a.to_dict() == b.to_dict()
    assert a.params["interval"] == "bootstrap(200)-graph"
    assert a.ci_low < a.dimension < a.ci_high


# --------------------------------------------------------------------------------------
# PCA-ID
# --------------------------------------------------------------------------------------
def exact_spectrum_data(variances, n=400, D=12, seed=0):
    """Points whose sample covariance has exactly the given eigenvalues (then rotated)."""
    rng = np.random.default_rng(seed)
    r = len(variances)
    Z = rng.normal(size=(n, r))
    Z -= Z.mean(0)
    Q, _ = np.linalg.qr(Z)  # orthonormal, centred columns
    Z = Q * np.sqrt(np.asarray(variances) * (n - 1))
    return embed(Z, D, rng)


@pytest.mark.parametrize(("threshold", "expected"), [
    (0.5, 1), (0.6, 2), (0.8, 2), (0.85, 3), (0.9, 3), (0.91, 4), (0.95, 4), (0.96, 5), (1.0, 5)
])
def test_pca_id_counts_components(threshold, expected):
    # cumulative variance fractions: 0.5, 0.8, 0.9, 0.95, 1.0
    X = exact_spectrum_data([5.0, 3.0, 1.0, 0.5, 0.5])
    res = idscope.pca_id(X, threshold=threshold, n_bootstrap=0)
    assert res.dimension == expected  # a count (Ansuini's code reports one less)
    assert np.isnan(res.stderr)


def test_pca_spectrum_both_routes():
    """D <= N uses the covariance, D > N the Gram matrix: same non-zero spectrum."""
    from idscope.estimators import pca_spectrum

    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 8)) @ rng.normal(size=(8, 50)) + 7.0
    ev = pca_spectrum(X)
    ref = np.linalg.svd(X - X.mean(0), compute_uv=False) ** 2 / (len(X) - 1)
    np.testing.assert_allclose(ev[:8], ref[:8], rtol=1e-9)
    np.testing.assert_allclose(pca_spectrum(X.T)[:8], np.linalg.svd(
        X.T - X.T.mean(0), compute_uv=False)[:8] ** 2 / (X.shape[1] - 1), rtol=1e-9)


@pytest.mark.parametrize("shape", [(60, 12), (12, 60)])
def test_pca_spectrum_streams_a_memmap_in_small_blocks(tmp_path, shape):
    """A memmap read in blocks of a few rows or features gives the SVD's spectrum of the
    standardised data (both routes)."""
    from idscope.estimators import pca_spectrum

    rng = np.random.default_rng(5)
    X = (rng.normal(size=(shape[0], 5)) @ rng.normal(size=(5, shape[1]))
         * rng.uniform(0.1, 10, shape[1]) + 3.0).astype(np.float32)
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                   shape=X.shape)
    mm[:] = X
    mm.flush()
    X64 = X.astype(np.float64)
    Z = (X64 - X64.mean(0)) / X64.std(0, ddof=1)
    ref = np.linalg.svd(Z, compute_uv=False) ** 2 / (len(X) - 1)
    for budget in (256, 1 << 20):
        ev = pca_spectrum(np.load(tmp_path / "x.npy", mmap_mode="r"), standardize=True,
                          budget=budget)
        np.testing.assert_allclose(ev[:5], ref[:5], rtol=1e-9)
        assert np.all(ev[5:] <= 1e-9 * ev[0])


def test_pca_standardize():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 4)) * np.array([100.0, 1.0, 1.0, 1.0])
    assert idscope.pca_id(X, threshold=0.9, n_bootstrap=0).dimension == 1
    assert idscope.pca_id(X, threshold=0.9, standardize=True, n_bootstrap=0).dimension == 4
    Xc = np.column_stack([X, np.full(500, 3.0)])  # a constant feature stays at zero variance
    assert idscope.pca_id(Xc, threshold=0.9, standardize=True, n_bootstrap=0).dimension == 4


def test_pca_bootstrap_interval_seeded():
    X = exact_spectrum_data([5.0, 3.0, 1.0, 0.5, 0.5], n=300)
    a = idscope.pca_id(X, n_bootstrap=10, seed=3)
    assert a.to_dict() == idscope.pca_id(X, n_bootstrap=10, seed=3).to_dict()
    assert a.ci_low <= a.dimension <= a.ci_high


# --------------------------------------------------------------------------------------
# duplicates
# --------------------------------------------------------------------------------------
def data_with_duplicates(seed=0):
    rng = np.random.default_rng(seed)
    U = MANIFOLDS["sphere"](300, 3, rng)
    copies = rng.choice(300, 25, replace=False)
    X = np.concatenate([U, U[copies], U[copies[:5]]])
    perm = rng.permutation(len(X))
    return X[perm], U, 30


@pytest.mark.parametrize("fn", ["twonn", "mle", "gride"])
def test_duplicates_removed_by_default(fn):
    X, U, n_dup = data_with_duplicates()
    f = getattr(idscope, fn)
    kwargs = {"n_bootstrap": 0} if fn == "twonn" else {}
    res = f(X, **kwargs)
    ref = f(U, **kwargs)
    assert res.n_duplicates == n_dup
    assert res.n_points == len(U)
    np.testing.assert_allclose(res.dimension, ref.dimension, rtol=1e-12)


@pytest.mark.parametrize("fn", ["twonn", "mle", "gride"])
def test_duplicates_error_policy(fn):
    X, _, n_dup = data_with_duplicates()
    with pytest.raises(DuplicatePointsError, match=f"{n_dup} duplicate row"):
        getattr(idscope, fn)(X, duplicates="error")
    assert issubclass(DuplicatePointsError, InputError)


def test_duplicates_drop_ties_policy_is_ansuinis():
    """Ansuini et al.: drop points with r1 = 0 or r1 = r2, keep everything else."""
    X, _, _ = data_with_duplicates()
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    r = np.sort(D, axis=1)[:, :2]
    keep = (r[:, 0] > 0) & (r[:, 1] > r[:, 0])
    res = idscope.twonn(X, duplicates="drop-ties", method="mle")
    assert res.n_duplicates == int((~keep).sum()) > 0
    np.testing.assert_allclose(res.dimension, twonn_from_ratios(
        r[keep, 1] / r[keep, 0], method="mle")[0], rtol=1e-12)


def test_drop_ties_on_integer_data_without_duplicates():
    """r1 = r2 ties without duplicates (integer data) are dropped too."""
    rng = np.random.default_rng(4)
    X = np.unique(rng.integers(0, 30, size=(400, 3)), axis=0).astype(float)
    res = idscope.twonn(X, duplicates="drop-ties", method="mle")
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    r = np.sort(D, axis=1)[:, :2]
    assert res.n_duplicates == int((r[:, 1] == r[:, 0]).sum()) > 0


def test_gride_ties_enter_the_likelihood():
    """μ = 1 ties (integer data) stay in: they count in params["ties"] and the estimate
    maximises the likelihood with their limit term (docs/science.md §2)."""
    from idscope.estimators.gride import gride_loglik

    rng = np.random.default_rng(5)
    X = np.unique(rng.integers(0, 8, size=(300, 3)), axis=0).astype(float)
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    r = np.sort(D, axis=1)[:, :4]
    ties = r[:, 3] == r[:, 1]
    res = idscope.gride(X, n1=2, n2=4)
    assert res.params["ties"] == int(ties.sum()) > 0
    assert res.n_points == len(X)
    mu = r[:, 3] / r[:, 1]
    best = gride_loglik(res.dimension, mu, 2, 4)
    assert best >= gride_loglik(res.dimension * (1 - 1e-4), mu, 2, 4)
    assert best >= gride_loglik(res.dimension * (1 + 1e-4), mu, 2, 4)


def _digits():
    from sklearn.datasets import load_digits

    return load_digits().data.astype(np.float64)


@pytest.mark.parametrize("transform", [lambda X: X, lambda X: X / 16, lambda X: X / 17,
                                       lambda X: (X / 255).astype(np.float32)],
                         ids=["X", "X/16", "X/17", "float32 X/255"])
def test_gride_1_2_equals_twonn_ml_on_tied_data(transform):
    """GRIDE(1, 2) is TwoNN's maximum likelihood on any data, ties included (issue 11: it
    read 8.954 / 8.979 / 9.044 on these while TwoNN-ML read 9.044)."""
    X = transform(_digits())
    np.testing.assert_allclose(idscope.gride(X).dimension,
                               idscope.twonn(X, method="mle").dimension, rtol=1e-6)


@pytest.mark.parametrize(("n1", "n2"), [(1, 2), (2, 4)])
def test_gride_unchanged_by_rotating_an_integer_cloud(n1, n2):
    """Rotation breaks exact ties into μ = 1 + O(1e-16); the likelihood's limit at μ = 1
    makes both give the same estimate (was 2.74 vs 13.99 for (1, 2))."""
    rng = np.random.default_rng(3)
    X = np.unique(rng.integers(0, 10, size=(200, 3)), axis=0).astype(float)
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a = idscope.gride(X, n1=n1, n2=n2).dimension
    b = idscope.gride(X @ Q, n1=n1, n2=n2).dimension
    np.testing.assert_allclose(b, a, rtol=0.02)


def test_gride_bracket_is_an_error_not_a_value():
    """A rotated 10×10 integer grid: r1 = r2 (almost) everywhere, the likelihood rises to
    the end of the bracket; no silent 1000."""
    g = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0)), -1).reshape(-1, 2)
    c, s = np.cos(0.3), np.sin(0.3)
    X = g @ np.array([[c, -s], [s, c]])
    with pytest.raises(InputError, match="(?i)no finite estimate|no maximum"):
        idscope.gride(X)


@pytest.mark.parametrize("scale", [1e160, 1e-160])
@pytest.mark.parametrize("fn", ["twonn", "mle", "gride"])
def test_estimates_do_not_depend_on_the_scale_of_the_data(fn, scale):
    """Every finite input gives the estimate of the data at scale 1 (the engine rescales by
    a power of two before squaring)."""
    X = MANIFOLDS["sphere"](400, 3, np.random.default_rng(9))
    f = getattr(idscope, fn)
    a, b = f(X), f(X * scale)
    np.testing.assert_allclose([b.dimension, b.ci_low, b.ci_high],
                               [a.dimension, a.ci_low, a.ci_high], rtol=1e-6)


def test_precomputed_neighbours_with_duplicates_need_data():
    X, _, _ = data_with_duplicates()
    with pytest.raises(InputError, match="needs the data"):
        idscope.twonn(idscope.kneighbors(X, 2))
    # "drop-ties" works on precomputed neighbours
    res = idscope.twonn(idscope.kneighbors(X, 2), duplicates="drop-ties", n_bootstrap=0)
    assert res.n_duplicates > 0


# --------------------------------------------------------------------------------------
# the contract of every estimator class
# --------------------------------------------------------------------------------------
CLASSES = [
    (TwoNN, idscope.twonn, {"method": "mle", "fraction": 0.8}),
    (MLE, idscope.mle, {"k": 10, "normalization": "k-2", "aggregate": "mean"}),
    (GRIDE, idscope.gride, {"n1": 2, "n2": 4}),
    (PCAID, idscope.pca_id, {"threshold": 0.8, "standardize": True, "n_bootstrap": 5}),
]
KNN_CLASSES = CLASSES[:3]


@pytest.fixture(scope="module")
def X32():
    rng = np.random.default_rng(6)
    return (mlp_embedding(sphere(300, 4, rng), 20, rng) * 10 + 50).astype(np.float32)


@pytest.mark.parametrize(("cls", "fn", "params"), CLASSES)
def test_params_round_trip(cls, fn, params):
    est = cls()
    defaults = est.get_params()
    assert type(est)(**defaults).get_params() == defaults
    assert est.set_params(**params) is est
    assert {k: est.get_params()[k] for k in params} == params
    assert cls(**est.get_params()).get_params() == est.get_params()
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(not_a_parameter=1)
    assert cls.__name__ in repr(est)


@pytest.mark.parametrize(("cls", "fn", "params"), CLASSES)
def test_fit_returns_self_and_matches_function(cls, fn, params, X32):
    for p in ({}, params):
        est = cls(**p)
        assert est.fit(X32) is est
        res = fn(X32, **p)
        assert isinstance(est.result_, IDResult)
        assert est.dimension_ == res.dimension
        assert est.stderr_ == res.stderr or (np.isnan(est.stderr_) and np.isnan(res.stderr))
        assert est.ci_ == res.ci
        assert est.n_features_in_ == X32.shape[1]


@pytest.mark.parametrize(("cls", "fn", "params"), CLASSES)
def test_deterministic(cls, fn, params, X32):
    a = cls(**params).fit(X32).result_.to_dict()
    b = cls(**params).fit(X32.copy()).result_.to_dict()
    assert json.dumps(a) == json.dumps(b)


@pytest.mark.parametrize(("cls", "fn", "params"), CLASSES)
def test_dtype_and_array_type_parity(cls, fn, params, X32):
    """float32, float64 holding the same values, and torch tensors give the same result."""
    X64 = X32.astype(np.float64)
    ref = cls(**params).fit(X32).result_
    for X in (X64, torch.from_numpy(X32), torch.from_numpy(X64)):
        res = cls(**params).fit(X).result_
        np.testing.assert_allclose([res.dimension, res.stderr, res.ci_low, res.ci_high],
                                   [ref.dimension, ref.stderr, ref.ci_low, ref.ci_high],
                                   rtol=1e-10)
        assert res.n_points == ref.n_points


@pytest.mark.parametrize(("cls", "fn", "params"), KNN_CLASSES)
def test_precomputed_kneighbors_parity(cls, fn, params, X32):
    # 80 = 4 × the largest rank used: every graph interval reads all the neighbours it
    # would search itself (docs/science.md §3)
    knn = idscope.kneighbors(X32, 80)
    for p in ({}, params):
        assert cls(**p).fit(knn).result_.to_dict() == fn(X32, **p).to_dict()


def test_precomputed_kneighbors_too_few():
    X = np.random.default_rng(7).normal(size=(100, 5))
    with pytest.raises(InputError, match="needs 20 neighbours"):
        idscope.mle(idscope.kneighbors(X, 5), k=20)


def test_result_object():
    X = MANIFOLDS["sphere"](300, 2, np.random.default_rng(8))
    res = idscope.twonn(X, method="mle")
    assert float(res) == res.dimension
    assert res.ci == (res.ci_low, res.ci_high)
    d = res.to_dict()
    assert set(d) >= {"method", "dimension", "stderr", "ci_low", "ci_high", "n_points",
                      "n_duplicates", "params"}
    json.dumps(d)
    assert "twonn" in str(res)
    with pytest.raises(AttributeError):
        res.dimension = 3.0  # frozen


def test_mle_k_range():
    X = MANIFOLDS["sphere"](800, 3, np.random.default_rng(9))
    res = idscope.mle(X, k=(10, 20))
    single = [idscope.mle(X, k=k).dimension for k in range(10, 21)]
    np.testing.assert_allclose(res.dimension, np.mean(single), rtol=1e-12)
    assert res.params["k"] == (10, 20)
    assert res.ci_low < res.dimension < res.ci_high


def test_a_convention_estimate_and_its_interval_for_d_are_labelled():
    """Pope's "k-2" MLE reads (k−2)/(k−1)·d and its interval is for d: printing and export
    say both, so an estimate outside its interval is no contradiction (issue 11)."""
    X = MANIFOLDS["sphere"](800, 4, np.random.default_rng(11))
    pope = idscope.mle(X, k=20, normalization="k-2")
    mk = idscope.mle(X, k=20)
    assert pope.convention_factor == pytest.approx(18 / 19)
    np.testing.assert_allclose(pope.d, mk.dimension, rtol=1e-12)
    assert pope.ci == mk.ci and pope.ci_low <= pope.d <= pope.ci_high
    text = str(pope)
    assert "[estimates 0.9474·d]" in text and "95% CI for d" in text
    out = pope.to_dict()
    assert out["estimate_of"] == "0.9474·d" and out["ci_of"] == "d"
    assert out["convention_factor"] == pope.convention_factor
    assert mk.estimate_of == "d" and "estimates" not in str(mk)
    # Levina–Bickel's "k-1" mean reads (k−1)/(k−2)·d
    lb = idscope.mle(X, k=20, aggregate="mean")
    assert lb.convention_factor == pytest.approx(19 / 18)
