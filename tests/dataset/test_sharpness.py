"""Label sharpness K_F against a float64 brute force over all pairs."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import idscope
from idscope import InputError, label_sharpness
from idscope.data import load

RTOL = 1e-9


def brute(X, y, real=False):
    """max over pairs i < j of num / ‖x_i − x_j‖ in float64; pairs at distance 0 count as inf
    when their labels differ and are skipped when equal. Returns (value, minimal pairs)."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    D = cdist(X, X)
    if real:
        num = np.abs(y[:, None].astype(float) - y[None, :].astype(float))
    else:
        num = (y[:, None] != y[None, :]).astype(float)
    iu = np.triu_indices(len(X), 1)
    d, a = D[iu], num[iu]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d > 0, a / np.where(d > 0, d, 1), np.where(a > 0, np.inf, 0.0))
    best = r.max()
    ties = np.stack([iu[0][r == best], iu[1][r == best]], 1)
    return best, ties


def lexmin(pairs):
    return tuple(int(v) for v in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))[0]])


def test_breast_cancer_binary_equals_brute_force():
    ds = load("sklearn:breast_cancer")
    res = label_sharpness(ds.X, ds.y)
    want, ties = brute(ds.X, ds.y)
    np.testing.assert_allclose(res.value, want, rtol=RTOL)
    assert res.label_kind == "binary" and res.n_points == 569 and not res.sampled
    assert res.witness == lexmin(ties)
    i, j = res.witness
    assert ds.y[i] != ds.y[j] and res.witness_labels == (ds.y[i], ds.y[j])
    np.testing.assert_allclose(res.witness_distance, np.linalg.norm(ds.X[i] - ds.X[j]),
                               rtol=RTOL)
    np.testing.assert_allclose(res.value, 1.0 / res.witness_distance, rtol=1e-15)
    assert res.n_conflicting_duplicates == 0 and res.classes == (0, 1)


@pytest.fixture
def one_thread():
    # 45 + 9 tiny searches: intra-op threads only add contention on a busy 2-core machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_digits_multiclass_and_all_45_class_pairs(one_thread):
    ds = load("sklearn:digits")
    X, y = ds.flat(), ds.y
    res = label_sharpness(X, y, per_class_pair=True)
    want, ties = brute(X, y)
    np.testing.assert_allclose(res.value, want, rtol=RTOL)
    assert res.label_kind == "multiclass" and res.witness == lexmin(ties)
    assert res.pair_matrix.shape == (10, 10) and np.isnan(np.diag(res.pair_matrix)).all()
    D = cdist(X, X)
    n_checked = 0
    for a in range(10):
        for b in range(a + 1, 10):
            ia, ib = np.flatnonzero(y == a), np.flatnonzero(y == b)
            dmin = D[np.ix_(ia, ib)].min()
            np.testing.assert_allclose(res.pair_matrix[a, b], 1.0 / dmin, rtol=RTOL)
            np.testing.assert_allclose(res.pair_matrix[b, a], 1.0 / dmin, rtol=RTOL)
            i, j = res.pair_witness[a, b]
            assert i < j and {y[i], y[j]} == {a, b}
            np.testing.assert_allclose(D[i, j], dmin, rtol=RTOL)
            n_checked += 1
    assert n_checked == 45
    np.testing.assert_allclose(np.nanmax(res.pair_matrix), res.value, rtol=1e-15)
    # without the matrix: same value and witness
    plain = label_sharpness(X, y)
    assert plain.value == res.value and plain.witness == res.witness
    assert plain.pair_matrix is None


def test_real_labels_equal_brute_force_on_uncentred_data(rng):
    # Far from the origin and with a very close pair: the float32 Gram trick alone is wrong
    # here; the float64 verification must recover the exact maximiser.
    X = 1000.0 + rng.normal(size=(600, 24))
    X[17] = X[400] + 1e-3 * rng.normal(size=24)
    y = np.sin(X[:, 0]) + 0.3 * X[:, 1]
    res = label_sharpness(X, y, memory_budget=1 << 20)  # small tiles: many tiles, pruning
    want, ties = brute(X, y, real=True)
    assert res.label_kind == "real" and res.classes is None
    np.testing.assert_allclose(res.value, want, rtol=RTOL)
    assert res.witness == lexmin(ties)
    i, j = res.witness
    np.testing.assert_allclose(abs(y[i] - y[j]) / np.linalg.norm(X[i] - X[j]), res.value,
                               rtol=1e-12)


def test_real_labels_float32_input_and_integer_valued_override(rng):
    X = rng.normal(size=(300, 7)).astype(np.float32)
    y = rng.integers(0, 50, size=300).astype(float)
    res = label_sharpness(X, y, label_kind="real")
    np.testing.assert_allclose(res.value, brute(X, y, real=True)[0], rtol=RTOL)
    # integer-valued floats are class labels unless told otherwise
    assert label_sharpness(X, y).label_kind == "multiclass"


def test_ties_go_to_the_lexicographically_smallest_pair():
    # integer grid: many cross-class pairs at exactly the same distance
    g = np.array([(a, b) for a in range(6) for b in range(6)], dtype=float)
    y = (g.sum(1) % 2).astype(int)  # checkerboard: every unit step changes the label
    res = label_sharpness(g, y)
    want, ties = brute(g, y)
    assert len(ties) > 10
    assert res.value == want == 1.0 and res.witness == lexmin(ties) == (0, 1)
    res3 = label_sharpness(g, (g[:, 0] % 3).astype(int), per_class_pair=True)
    assert res3.witness == lexmin(brute(g, (g[:, 0] % 3).astype(int))[1])


def test_duplicates_same_label_do_not_matter(rng):
    X = rng.normal(size=(80, 5))
    y = rng.integers(0, 3, size=80)
    Xd = np.concatenate([X, X[:10]])
    yd = np.concatenate([y, y[:10]])
    res = label_sharpness(Xd, yd)
    np.testing.assert_allclose(res.value, brute(Xd, yd)[0], rtol=RTOL)
    assert res.n_conflicting_duplicates == 0 and np.isfinite(res.value)
    yr = X[:, 0] ** 2
    res_r = label_sharpness(Xd, np.concatenate([yr, yr[:10]]))
    np.testing.assert_allclose(res_r.value, brute(Xd, np.concatenate([yr, yr[:10]]), True)[0],
                               rtol=RTOL)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "real"])
def test_conflicting_duplicates_reported_and_dropped(rng, kind):
    X = rng.normal(size=(60, 4))
    if kind == "real":
        y = rng.normal(size=60)
    else:
        y = rng.integers(0, 2 if kind == "binary" else 4, size=60)
    # group A: three copies of row 0 with labels (y0, y0, other) -> 2 conflicting pairs
    # group B: two copies of row 1 with different labels -> 1 conflicting pair
    other0 = y[0] + 1 if kind == "real" else (y[0] + 1) % (2 if kind == "binary" else 4)
    other1 = y[1] + 2 if kind == "real" else (y[1] + 1) % (2 if kind == "binary" else 4)
    Xc = np.concatenate([X, X[[0, 0, 1]]])
    yc = np.concatenate([y, [y[0], other0, other1]])
    res = label_sharpness(Xc, yc, label_kind=kind)
    assert res.value == np.inf and res.n_conflicting_duplicates == 3
    assert res.witness_distance == 0.0
    i, j = res.witness
    assert np.array_equal(Xc[i], Xc[j]) and yc[i] != yc[j]
    assert res.witness == lexmin(brute(Xc, yc, real=kind == "real")[1])
    dropped = label_sharpness(Xc, yc, label_kind=kind, conflicts="drop")
    keep = np.setdiff1d(np.arange(len(Xc)), [0, 1, 60, 61, 62])
    assert dropped.n_dropped == 5 and dropped.n_points == len(keep)
    assert dropped.n_conflicting_duplicates == 3
    np.testing.assert_allclose(dropped.value, brute(Xc[keep], yc[keep], kind == "real")[0],
                               rtol=RTOL)
    i, j = dropped.witness
    assert i in keep and j in keep  # indices refer to the input


@pytest.mark.parametrize("c", [1e-3, 1 / 255, 255.0])
def test_scaling_inputs_by_c_scales_kf_by_inverse_c(rng, c):
    X = rng.normal(size=(200, 6))
    y = rng.integers(0, 3, size=200)
    yr = X[:, 0] - X[:, 1] ** 2
    for labels in (y, yr):
        base = label_sharpness(X, labels)
        scaled = label_sharpness(c * X, labels)
        np.testing.assert_allclose(scaled.value, base.value / c, rtol=1e-12)
        assert scaled.witness == base.witness


def test_sampled_protocol_is_reproducible_by_seed(rng):
    X = rng.normal(size=(1500, 10))
    y = rng.integers(0, 2, size=1500)
    a = label_sharpness(X, y, sample=400, seed=7)
    b = label_sharpness(X, y, sample=400, seed=7)
    c = label_sharpness(X, y, sample=400, seed=8)
    assert a.sampled and a.n_points == 400
    assert (a.value, a.witness) == (b.value, b.witness)
    idx = np.sort(np.random.default_rng(7).choice(1500, 400, replace=False))
    want, ties = brute(X[idx], y[idx])
    np.testing.assert_allclose(a.value, want, rtol=RTOL)
    assert a.witness == tuple(int(v) for v in idx[list(lexmin(ties))])
    idx8 = np.sort(np.random.default_rng(8).choice(1500, 400, replace=False))
    np.testing.assert_allclose(c.value, brute(X[idx8], y[idx8])[0], rtol=RTOL)
    full = label_sharpness(X, y)
    assert full.value >= a.value  # a subset can only have larger minimal distances
    everything = label_sharpness(X[:300], y[:300], sample=1000)
    assert not everything.sampled and everything.n_points == 300


def test_array_types_images_and_dataset_input(rng, tmp_path):
    X = rng.normal(size=(150, 3, 4)).astype(np.float32)
    y = rng.integers(0, 2, size=150)
    ref = label_sharpness(X.reshape(150, -1), y)
    np.testing.assert_allclose(ref.value, brute(X, y)[0], rtol=RTOL)
    assert label_sharpness(X, y).value == ref.value  # (N, H, W) flattened
    assert label_sharpness(torch.from_numpy(X), torch.from_numpy(y)).value == ref.value
    path = tmp_path / "x.npy"
    np.save(path, X.reshape(150, -1))
    mm = np.load(path, mmap_mode="r")
    assert label_sharpness(mm, y).value == ref.value
    ds = idscope.data.Dataset(X, y, "toy")
    assert label_sharpness(ds).value == ref.value
    d = label_sharpness(X, y).to_dict()
    assert d["value"] == ref.value and d["label_kind"] == "binary"
    assert isinstance(d["witness"], list)
    # string labels
    names = np.array(["cat", "dog"])[y]
    assert label_sharpness(X, names).value == ref.value


def test_bad_input_raises_one_clear_error(rng):
    X = rng.normal(size=(20, 3))
    y = rng.integers(0, 3, size=20)
    with pytest.raises(InputError, match="19 labels for 20 points"):
        label_sharpness(X, y[:19])
    with pytest.raises(InputError, match="single class"):
        label_sharpness(X, np.zeros(20, dtype=int))
    with pytest.raises(InputError, match="single value"):
        label_sharpness(X, np.full(20, 0.5), label_kind="real")
    bad = y.astype(float)
    bad[3] = np.nan
    with pytest.raises(InputError, match="1 NaN"):
        label_sharpness(X, bad)
    with pytest.raises(InputError, match="exactly 2 classes"):
        label_sharpness(X, y, label_kind="binary")
    with pytest.raises(InputError, match="per_class_pair needs class labels"):
        label_sharpness(X, X[:, 0], per_class_pair=True)
    with pytest.raises(InputError, match="label_kind"):
        label_sharpness(X, y, label_kind="ordinal")
    with pytest.raises(InputError, match="labels y are required"):
        label_sharpness(X)
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(InputError, match="NaN or inf"):
        label_sharpness(Xn, y)
    with pytest.raises(InputError, match="single class"):
        label_sharpness(X, np.r_[np.zeros(19, int), 1], sample=5, seed=0)
