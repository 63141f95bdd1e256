"""Estimators against their exact sampling distributions and against published fixtures.

docs/science.md §5: under a locally constant density (a Poisson process)
- TwoNN: μ = r2/r1 is Pareto, μ = U^(−1/d) with U uniform;
- MLE: neighbour distances are T_j = Γ_j^(1/d), Γ_j the cumulative sums of Exp(1);
- GRIDE: μ = r_{n2}/r_{n1} = B^(−1/d), B ~ Beta(n1, n2 − n1).
Every estimator must recover d within 3 standard errors, and its 95 % interval must cover the
true d in 93–97 % of seeded repetitions.
"""

from pathlib import Path

import numpy as np
import pytest
from scipy import optimize
from scipy.spatial.distance import cdist
from scipy.special import betaln, gammainc

import idscope
from idscope import KNeighbors
from idscope.estimators import gride_from_ratios, mle_from_distances, twonn_from_ratios
from idscope.estimators.gride import gride_loglik

DATA = Path(__file__).parents[1] / "fixtures"
DIMS = (2.0, 7.0, 20.0)


# --------------------------------------------------------------------------------------
# exact samplers
# --------------------------------------------------------------------------------------
def pareto_ratios(rng, shape, d):
    return rng.uniform(size=shape) ** (-1.0 / d)


def poisson_distances(rng, shape, k, d):
    """(..., k) distances to the first k neighbours of a unit-rate Poisson process in d
    dimensions (volume-normalised): T_j = Γ_j^(1/d)."""
    return np.cumsum(rng.exponential(size=(*shape, k)), axis=-1) ** (1.0 / d)


def beta_ratios(rng, shape, n1, n2, d):
    return rng.beta(n1, n2 - n1, size=shape) ** (-1.0 / d)


def coverage(estimates, truth):
    """Fraction of (d, se, lo, hi) tuples whose interval contains the truth."""
    est = np.asarray(estimates)
    return float(np.mean((est[:, 2] <= truth) & (truth <= est[:, 3])))


# --------------------------------------------------------------------------------------
# recovery within 3 standard errors
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("d", DIMS)
def test_twonn_ml_recovers_d_within_3_se(d):
    rng = np.random.default_rng(int(d))
    mu = pareto_ratios(rng, 2000, d)
    est, se, lo, hi = twonn_from_ratios(mu, method="mle")
    assert abs(est - d) <= 3 * se
    assert lo < est < hi
    # se = d/√(N−2) (docs/science.md §5: 7.00 ± 0.31 at d = 7, N = 500)
    np.testing.assert_allclose(se, est / np.sqrt(2000 - 2), rtol=1e-12)


@pytest.mark.parametrize("d", DIMS)
def test_twonn_linear_recovers_d_within_3_se(d):
    rng = np.random.default_rng(100 + int(d))
    mu = pareto_ratios(rng, 2000, d)
    est, se, lo, hi = twonn_from_ratios(mu, method="linear", n_bootstrap=200, seed=1)
    assert abs(est - d) <= 3 * se
    assert lo < est < hi


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("k", [5, 20])
def test_mle_recovers_d_within_3_se(d, k):
    rng = np.random.default_rng(200 + int(d) + k)
    r = poisson_distances(rng, (2000,), k, d)
    est, se, lo, hi = mle_from_distances(r, k)
    assert abs(est - d) <= 3 * se
    # the public function on precomputed neighbours gives the same numbers (independent
    # points: the exact law has no neighbour graph)
    knn = KNeighbors(r, np.zeros(r.shape, dtype=np.int64))
    res = idscope.mle(knn, k=k, interval="independent")
    np.testing.assert_allclose([res.dimension, res.stderr, res.ci_low, res.ci_high],
                               [est, se, lo, hi], rtol=1e-12)


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize(("n1", "n2"), [(1, 2), (2, 4), (4, 8), (1, 5)])
def test_gride_recovers_d_within_3_se(d, n1, n2):
    rng = np.random.default_rng(300 + int(d) + 10 * n1 + n2)
    mu = beta_ratios(rng, 2000, n1, n2, d)
    est, se, lo, hi = gride_from_ratios(mu, n1, n2)
    assert abs(est - d) <= 3 * se
    assert 0 < lo < est < hi
    # est is the maximum of the log-likelihood of docs/science.md §2
    best = gride_loglik(est, mu, n1, n2)
    assert best >= gride_loglik(est * (1 - 1e-4), mu, n1, n2)
    assert best >= gride_loglik(est * (1 + 1e-4), mu, n1, n2)


def test_gride_1_2_is_twonn_ml():
    rng = np.random.default_rng(5)
    mu = pareto_ratios(rng, 700, 4.0)
    np.testing.assert_allclose(gride_from_ratios(mu, 1, 2)[0],
                               twonn_from_ratios(mu, method="mle")[0], rtol=1e-9)


def test_gride_loglik_matches_closed_form_density():
    """Σ log f(μ_i) with f the density of μ = B^(−1/d), B ~ Beta(n1, n2 − n1), differs from
    DADApy's log-likelihood only by log d (the (N−1)·log d form drops one factor d)."""
    rng = np.random.default_rng(6)
    n1, n2, d = 2, 5, 3.0
    mu = beta_ratios(rng, 50, n1, n2, d)
    # density of μ: f(μ) = d·μ^(−d·n1 − 1)·(1 − μ^(−d))^(n2−n1−1) / B(n1, n2 − n1)
    logf = (np.log(d) - (d * n1 + 1) * np.log(mu)
            + (n2 - n1 - 1) * np.log1p(-mu ** (-d)) - betaln(n1, n2 - n1))
    np.testing.assert_allclose(gride_loglik(d, mu, n1, n2), logf.sum() - np.log(d),
                               rtol=1e-10)


# --------------------------------------------------------------------------------------
# unbiasedness and the documented biases of the conventions (many repetitions)
# --------------------------------------------------------------------------------------
def test_mle_conventions_mean_and_documented_bias():
    """Over 1 000 repetitions: ("k-1", "inverse") and ("k-2", "mean") are unbiased;
    Pope's ("k-2", "inverse") reads (k−2)/(k−1) of it and Levina–Bickel's ("k-1", "mean")
    (k−1)/(k−2) times d (docs/science.md §2)."""
    rng = np.random.default_rng(7)
    d, k, n, reps = 7.0, 20, 200, 1000
    r = poisson_distances(rng, (reps, n), k, d)
    out = {conv: np.array([mle_from_distances(r[i], k, normalization=conv[0],
                                              aggregate=conv[1])[0] for i in range(reps)])
           for conv in [("k-1", "inverse"), ("k-2", "inverse"), ("k-1", "mean"),
                        ("k-2", "mean")]}
    expected = {("k-1", "inverse"): d, ("k-2", "mean"): d,
                ("k-2", "inverse"): d * (k - 2) / (k - 1), ("k-1", "mean"): d * (k - 1) / (k - 2)}
    for conv, est in out.items():
        tol = 3 * est.std(ddof=1) / np.sqrt(reps) + 0.002 * d  # + the O(1/(N·k)) bias
        assert abs(est.mean() - expected[conv]) < tol, (conv, est.mean(), expected[conv])


def test_twonn_ml_is_unbiased():
    rng = np.random.default_rng(8)
    d, n, reps = 7.0, 500, 2000
    mu = pareto_ratios(rng, (reps, n), d)
    est = (n - 1) / np.log(mu).sum(axis=1)
    via_api = np.array([twonn_from_ratios(m, method="mle")[0] for m in mu[:50]])
    np.testing.assert_allclose(via_api, est[:50], rtol=1e-12)
    assert abs(est.mean() - d) < 3 * est.std(ddof=1) / np.sqrt(reps)
    # sd d/√(N−2) (docs/science.md §5: 7.00 ± 0.31)
    np.testing.assert_allclose(est.std(ddof=1), d / np.sqrt(n - 2), rtol=0.05)


# --------------------------------------------------------------------------------------
# interval coverage: 1 500 seeded repetitions, d cycling through 2, 7, 20
# --------------------------------------------------------------------------------------
REPS = 1500


def _dims():
    return np.array(DIMS)[np.arange(REPS) % len(DIMS)]


def _covered(rows, dims):
    rows = np.asarray(rows)
    return float(np.mean((rows[:, 2] <= dims) & (dims <= rows[:, 3])))


def test_twonn_ml_interval_coverage():
    rng = np.random.default_rng(11)
    dims = _dims()
    u = rng.uniform(size=(REPS, 500))
    mu = u ** (-1.0 / dims[:, None])
    rows = [twonn_from_ratios(m, method="mle") for m in mu]
    assert 0.93 <= _covered(rows, dims) <= 0.97


@pytest.mark.parametrize(("normalization", "aggregate", "k"), [
    ("k-1", "inverse", 20), ("k-2", "inverse", 20), ("k-1", "mean", 20), ("k-2", "mean", 20),
    ("k-1", "inverse", 5), ("k-1", "inverse", (10, 20)), ("k-2", "mean", (3, 20)),
])
def test_mle_interval_coverage(normalization, aggregate, k):
    """The interval is for d under every convention (for the biased ones it is therefore not
    centred on the estimate; see :func:`idscope.estimators.mle_from_distances`)."""
    from idscope.estimators.mle import _mle_k_range

    rng = np.random.default_rng(12)
    dims = _dims()
    k1, k2 = (k, k) if isinstance(k, int) else k
    n = 150
    g = np.cumsum(rng.exponential(size=(REPS, n, k2)), axis=-1)
    rows = [_mle_k_range(g[i] ** (1.0 / dims[i]), k1, k2, normalization=normalization,
                         aggregate=aggregate) for i in range(REPS)]
    assert 0.93 <= _covered(rows, dims) <= 0.97


@pytest.mark.parametrize(("n1", "n2"), [(1, 2), (2, 4), (4, 8)])
def test_gride_interval_coverage(n1, n2):
    rng = np.random.default_rng(13)
    dims = _dims()
    b = rng.beta(n1, n2 - n1, size=(REPS, 300))
    rows = [gride_from_ratios(b[i] ** (-1.0 / dims[i]), n1, n2) for i in range(REPS)]
    assert 0.93 <= _covered(rows, dims) <= 0.97


def test_twonn_linear_bootstrap_interval_coverage():
    """The linear fit's bootstrap percentile interval is approximate: 400 repetitions,
    checked within 91–99 %."""
    rng = np.random.default_rng(14)
    reps = 400
    dims = np.array(DIMS)[np.arange(reps) % len(DIMS)]
    mu = rng.uniform(size=(reps, 300)) ** (-1.0 / dims[:, None])
    rows = [twonn_from_ratios(m, method="linear", n_bootstrap=100, seed=i)
            for i, m in enumerate(mu)]
    assert 0.91 <= _covered(rows, dims) <= 0.99


# --------------------------------------------------------------------------------------
# published fixtures (docs/science.md §5)
# --------------------------------------------------------------------------------------
def skdim_fixture():
    """scikit-dimension's test data: 30 points uniform in the unit 5-ball, padded to 10-D."""
    X = np.zeros((30, 10))
    Z = np.random.RandomState(0).normal(size=(30, 5))
    r = np.linalg.norm(Z, axis=1)
    X[:, :5] = Z * (gammainc(5 / 2, r**2 / 2) ** (1 / 5) / r)[:, None]
    return X


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"k": 20}, 3.3411618305),
    ({"k": 5}, 4.3501320381),
    ({"k": 20, "normalization": "k-2"}, 3.1653112079),
    ({"k": 20, "aggregate": "mean"}, 3.4389424541),
])
def test_skdim_fixture_mle(kwargs, expected):
    res = idscope.mle(skdim_fixture(), **kwargs)
    np.testing.assert_allclose(res.dimension, expected, atol=1e-9)


def _brute_distances(X, k):
    """Sorted neighbour distances (self excluded) from scipy's direct float64 distances."""
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    return np.sort(D, axis=1)[:, :k]


def _reference_twonn_linear(X, fraction):
    """Facco et al.'s linear fit written out independently: y = −log(1 − i/N), i = 1..N."""
    r = _brute_distances(X, 2)
    x = np.sort(np.log(r[:, 1] / r[:, 0]))
    n = x.size
    keep = int(np.floor(fraction * n))
    y = -np.log(1 - np.arange(1, keep + 1) / n)
    return np.sum(x[:keep] * y) / np.sum(x[:keep] ** 2)


@pytest.mark.parametrize(("fraction", "printed", "skdim_value"), [
    (0.90, 4.52231, 4.5223116616709875),
    (0.95, 4.63403, 4.634032718914451),
])
def test_skdim_fixture_twonn_discard(fraction, printed, skdim_value):
    """docs/science.md prints these to 5 decimals (checked to half a unit in the last place);
    scikit-dimension 0.5.0's ``TwoNN(discard_fraction=...)`` gives the full values."""
    X = skdim_fixture()
    d = idscope.twonn(X, fraction=fraction, n_bootstrap=0).dimension
    np.testing.assert_allclose(d, printed, atol=5e-6)
    np.testing.assert_allclose(d, skdim_value, atol=1e-9)
    np.testing.assert_allclose(d, _reference_twonn_linear(X, fraction), atol=1e-9)


def dadapy_fixture():
    return np.load(DATA / "2gaussians_in_2d.npy")


def test_dadapy_fixture_twonn():
    X = dadapy_fixture()
    assert X.shape == (100, 2)
    np.testing.assert_allclose(idscope.twonn(X, n_bootstrap=0).dimension, 1.854913, atol=1e-6)
    np.testing.assert_allclose(idscope.twonn(X, method="mle").dimension, 2.000755, atol=1e-6)


def _reference_gride(X, n1, n2):
    """GRIDE's maximum likelihood with an independent optimiser (Brent on −loglik)."""
    r = _brute_distances(X, n2)
    mu = r[:, n2 - 1] / r[:, n1 - 1]
    n = mu.size
    lm = np.log(mu)

    def nll(d):
        return -((n - 1) * np.log(d) + (n2 - n1 - 1) * np.sum(np.log(np.expm1(d * lm)))
                 - n * betaln(n2 - n1, n1) - np.sum(((n2 - 1) * d + 1) * lm))

    return optimize.minimize_scalar(nll, bounds=(1e-3, 50), method="bounded",
                                    options={"xatol": 1e-12}).x


def test_dadapy_fixture_gride_rank_doubling():
    """DADApy's ``return_id_scaling_gride(range_max=64)`` list, printed to 5 decimals."""
    X = dadapy_fixture()
    expected = [2.00076, 2.03214, 1.91183, 2.00056, 1.67472, 0.72082]
    got = [idscope.gride(X, n1=2**i, n2=2 ** (i + 1)).dimension for i in range(6)]
    np.testing.assert_allclose(got, expected, atol=5e-6)
    ref = [_reference_gride(X, 2**i, 2 ** (i + 1)) for i in range(6)]
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize("n,n_bootstrap", [(500, 300), ((1 << 17) + 3, 6)])
def test_twonn_bootstrap_is_the_sorted_resamples_fit(n, n_bootstrap):
    """The bootstrap's counting sort (fitted on threads, several resamples per block at
    N = 500, one at N > 2^17) gives the fits of the resamples it documents,
    ``default_rng(seed).choice(log μ, (B, N))`` sorted and fitted one by one."""
    rng = np.random.default_rng(11)
    mu = pareto_ratios(rng, n, 4.0)
    mu[:7] = 1.0  # ties at μ = 1 (r1 = r2), as duplicates-free data can have
    _, se, lo, hi = twonn_from_ratios(mu, n_bootstrap=n_bootstrap, seed=5)
    draws = np.random.default_rng(5).choice(np.log(mu), (n_bootstrap, n))
    keep = int(np.floor(0.9 * n))
    x = np.sort(draws, axis=1)[:, :keep]
    y = -np.log1p(-np.arange(1, keep + 1) / n)
    boot = (x @ y) / np.einsum("ij,ij->i", x, x)
    np.testing.assert_allclose(se, boot.std(ddof=1), rtol=1e-9)
    np.testing.assert_allclose([lo, hi], np.percentile(boot, [2.5, 97.5]), rtol=1e-9)
