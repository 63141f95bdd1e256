"""ID profiles: known IDs through known linear maps, the paper's error bars against a
brute-force reference, PCA-ID, comparisons, saving and loading."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from idscope import InputError, pca_id, twonn
from idscope.representations import (
    Profile,
    activations,
    profile,
    profile_store,
    profiling,
    reinitialized,
)
from idscope.representations.layer_estimates import _resample_masks
from idscope.representations.profiling import _pca_count


def torus(n: int, d: int, seed: int) -> np.ndarray:
    """n points uniform on the flat d-torus in R^(2d): ID d, no boundary."""
    th = np.random.default_rng(seed).uniform(0, 2 * np.pi, (n, d))
    return np.concatenate([np.cos(th), np.sin(th)], axis=1).astype(np.float32)


def linear_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 20), nn.Linear(20, 30), nn.Linear(30, 2))


@pytest.fixture(scope="module")
def torus_profile():
    X = torch.from_numpy(torus(600, 3, seed=0))
    return X, profile(linear_net(), X, layers=["input", "0", "1", "output"], n_resamples=8,
                      estimators=("twonn", "mle"), seed=1)


def test_known_ids_through_linear_maps(torus_profile):
    X, prof = torus_profile
    rows = {r.layer: r for r in prof}
    # a full-rank linear map of a 3-manifold is a 3-manifold; TwoNN on the flat 3-torus at
    # N = 600 reads 3 within about 0.3 (docs/science.md §5: boundaryless, d <= 5)
    for name in ("input", "0", "1"):
        assert abs(rows[name].twonn - 3) < 0.35, (name, rows[name].twonn)
        assert abs(rows[name].twonn_full - 3) < 0.35
        assert abs(rows[name].estimates["mle"]["dimension"] - 3) < 0.5
        assert 0 < rows[name].twonn_std < 0.3
        # the data span a 6-dimensional linear subspace: PCA needs at most 6 components
        assert 3 <= rows[name].pca <= 6
    # a rank-2 projection cannot have ID above 2
    assert rows["output"].twonn <= 2.2 and rows["output"].pca <= 2
    assert [rows[n].embedding_dim for n in ("input", "0", "1", "output")] == [6, 20, 30, 2]
    np.testing.assert_allclose([rows[n].relative_depth for n in ("input", "0", "1", "output")],
                               [0, 1 / 3, 2 / 3, 1])


def test_tables_keep_the_resample_mean_apart_from_the_full_data_twonn(torus_profile):
    _, prof = torus_profile
    frame = prof.to_frame().set_index("layer")
    for r in prof:
        assert r.twonn != r.twonn_full  # a mean over 90 % subsamples, not the full-data value
        assert frame.loc[r.layer, "twonn"] == r.twonn
        assert frame.loc[r.layer, "twonn_full"] == r.twonn_full
        assert frame.loc[r.layer, "mle"] == r.estimates["mle"]["dimension"]
    for rec, r in zip(prof.table(), prof.rows):
        assert (rec["twonn"], rec["twonn_all"]) == (r.twonn, r.twonn_full)


@pytest.mark.parametrize("fraction", [0.8, 0.3])
def test_error_bars_equal_brute_force_resamples(fraction, monkeypatch):
    # at fraction 0.3 most points need longer neighbour lists than the first search gives;
    # that case also streams the layer from disk instead of reading it into memory
    if fraction < 0.5:
        monkeypatch.setattr(profiling, "_IN_MEMORY", 0)
    X = torus(300, 2, seed=4)
    X[7] = X[3]  # one duplicate: removed before estimating (default policy)
    st = activations(nn.Identity(), torch.from_numpy(X), layers=["input"])
    prof = profile_store(st, n_resamples=6, fraction=fraction, seed=5, pca_threshold=None)
    row = prof.row("input")
    assert row.n_duplicates == 1 and row.n_points == 299
    keep = np.ones(300, bool)
    keep[7] = False
    ids = [twonn(X[m & keep], n_bootstrap=0).dimension
           for m in _resample_masks(300, 6, fraction, seed=5)]
    assert sum(_resample_masks(300, 1, fraction, 5)[0]) == math.floor(fraction * 300)
    np.testing.assert_allclose(row.twonn, np.mean(ids), rtol=1e-12)
    np.testing.assert_allclose(row.twonn_std, np.std(ids), rtol=1e-9)
    np.testing.assert_allclose(row.twonn_full, twonn(X[keep], n_bootstrap=0).dimension,
                               rtol=1e-12)
    # the same seed gives the same profile
    again = profile_store(st, n_resamples=6, fraction=fraction, seed=5, pca_threshold=None)
    assert again.row("input").twonn == row.twonn


def test_pca_count_streamed_matches_pca_id():
    rng = np.random.default_rng(0)
    wide = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 300)) + 0.01 * rng.normal(
        size=(40, 300))
    tall = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 30))
    for A in (wide, tall):
        A = A.astype(np.float32)
        st = activations(nn.Identity(), torch.from_numpy(A), layers=["input"])
        want = pca_id(A, threshold=0.9, standardize=True, n_bootstrap=0).dimension
        X = st["input"]
        assert _pca_count(st, "input", X, 0.9) == want
        assert _pca_count(st, "input", X, 0.9, budget=4096) == want  # streamed path


def test_compare_untrained_and_models_on_the_same_samples(tmp_path):
    X = torch.from_numpy(torus(300, 3, seed=2))
    trained = linear_net(seed=3)
    other = linear_net(seed=4)
    prof = profile(trained, X, layers=["0", "output"], n=200, n_resamples=3, seed=0,
                   compare=["untrained", {"shuffled": other}], store=tmp_path / "s",
                   label="trained")
    assert prof.models == ["trained", "untrained", "shuffled"]
    assert len(prof) == 6 and all(r.n_samples == 200 for r in prof)
    assert (tmp_path / "s-untrained" / "manifest.json").is_file()
    assert prof.meta["models"]["shuffled"]["store"].endswith("s-shuffled")
    # the untrained copy is a fresh initialisation and the original is untouched
    fresh = reinitialized(trained, seed=0)
    assert not torch.equal(fresh[0].weight, trained[0].weight)
    torch.testing.assert_close(fresh[0].weight, reinitialized(trained, seed=0)[0].weight)
    torch.testing.assert_close(trained[0].weight, linear_net(seed=3)[0].weight)
    frame = prof.to_frame()
    assert list(frame["model"]) == ["trained"] * 2 + ["untrained"] * 2 + ["shuffled"] * 2
    with pytest.raises(InputError, match="shuffled labels"):
        profile(trained, X, compare="shuffled")


def test_save_load_round_trip(torus_profile, tmp_path):
    _, prof = torus_profile
    prof.save(tmp_path / "p.json")
    back = Profile.load(tmp_path / "p.json")
    assert back.rows == prof.rows
    assert back.meta["settings"]["n_resamples"] == 8
    assert set(back.to_frame().columns) >= {"layer", "twonn", "twonn_std", "pca", "mle",
                                            "relative_depth", "embedding_dim"}


def test_layer_problems_become_notes_not_crashes():
    X = torch.rand(30, 4, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.fill_(-1.0)
        model[0].bias.fill_(-1.0)  # every ReLU output is 0: a constant layer
    prof = profile(model, X, layers=["input", "1"], n_resamples=2)
    assert math.isfinite(prof.row("input").twonn)
    dead = prof.row("1")
    assert math.isnan(dead.twonn) and dead.notes and "identical" in dead.notes[0]
