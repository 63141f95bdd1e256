"""Issue #12 points 2 and 3: the activation store's manifest is validated, its files stay
inside the store, and a store is reused only for exactly the same data."""

import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from idscope import InputError
from idscope.cli.main import main
from idscope.representations import ActivationStore, activations, profile, profile_store

LAYERS = ["input", "fc1", "output"]


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(6, 10)
        self.fc2 = nn.Linear(10, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += x.shape[0] > 2
        return self.fc2(torch.relu(self.fc1(x)))


@pytest.fixture
def built(tmp_path):
    X = torch.randn(60, 6, generator=torch.Generator().manual_seed(1))
    activations(Small(), X, layers=LAYERS, batch_size=16, store=tmp_path / "acts")
    precious = tmp_path / "precious.bin"
    precious.write_bytes(b"do not touch" * 100)
    return tmp_path / "acts", X, precious


def edit_manifest(store, fn):
    path = store / "manifest.json"
    man = json.loads(path.read_text())
    man = fn(man) or man
    path.write_text(json.dumps(man))


def set_file(name):
    def fn(man):
        man["layers"][1]["file"] = name
    return fn


@pytest.mark.parametrize("name", ["../precious.bin", "/etc/passwd", "sub/001_fc1.npy",
                                  "manifest.json", ".."])
def test_layer_files_outside_the_store_are_refused(built, name):
    store, X, precious = built
    edit_manifest(store, set_file(name))
    with pytest.raises(InputError, match="not a file name made by the store"):
        ActivationStore.open(store)
    # a rerun, with or without resume, neither writes nor deletes anything
    with pytest.raises(InputError, match="not a file name made by the store"):
        activations(Small(), X, layers=LAYERS, batch_size=16, store=store)
    with pytest.raises(InputError, match="not a file name made by the store"):
        activations(Small(), X, layers=LAYERS, batch_size=16, store=store, resume=False)
    with pytest.raises(InputError):
        profile_store(store)
    assert precious.read_bytes() == b"do not touch" * 100


def test_rerun_of_cli_profile_cannot_overwrite_outside(built, tmp_path, capsys):
    store, X, precious = built
    np.save(tmp_path / "x.npy", X.numpy())
    model_file = tmp_path / "m.py"
    model_file.write_text("import torch\nfrom torch import nn\n\ndef build():\n"
                          "    torch.manual_seed(0)\n"
                          "    return nn.Sequential(nn.Linear(6, 10), nn.ReLU(), "
                          "nn.Linear(10, 3))\n")
    args = ["profile", "--model", f"{model_file}:build", "--data", str(tmp_path / "x.npy"),
            "--store", str(tmp_path / "cli"), "--resamples", "2", "--no-pca",
            "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    edit_manifest(tmp_path / "cli", set_file("../precious.bin"))
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error" in line]
    assert len(errors) == 1 and "not a file name made by the store" in errors[0]
    assert "Traceback" not in "\n".join(err)
    assert precious.read_bytes() == b"do not touch" * 100


def test_symlinks_out_of_the_store_are_refused_and_never_followed(built):
    store, X, precious = built
    st = ActivationStore.open(store)
    f = st.file("fc1")
    f.unlink()
    os.symlink(precious, f)
    st = ActivationStore.open(store)  # the name is valid; its target is not
    for read in (lambda: st["fc1"], lambda: st.read_rows("fc1", 0, 2),
                 lambda: st.read_cols("fc1", 0, 2), lambda: profile_store(st)):
        with pytest.raises(InputError, match="outside the store"):
            read()
    with pytest.raises(InputError, match="outside the store"):
        activations(Small(), X, layers=LAYERS, batch_size=16, store=store)
    # resume=False removes the store's own entries: the link, never its target
    fresh = activations(Small(), X, layers=LAYERS, batch_size=16, store=store, resume=False)
    assert precious.read_bytes() == b"do not touch" * 100
    assert not fresh.file("fc1").is_symlink()
    np.testing.assert_allclose(fresh["fc1"], Small().fc1(X).detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(dtype="object"), "dtype='object' is not one of float32, float16"),
    (lambda m: m.update(dtype="int64"), "dtype='int64' is not one of"),
    (lambda m: [m["layers"]], "expected a JSON object, got a list"),
    (lambda m: m.pop("layers") and None, r"missing key\(s\) \['layers'\]"),
    (lambda m: m["layers"][0].pop("shape") and None, r"layers\[0\] lacks \['shape'\]"),
    (lambda m: m["layers"][0].update(shape=[60, -1]), r"shape \[60, -1\] is not \[60, D"),
    (lambda m: m["layers"][0].update(shape=[61, 6]), r"is not \[60, D"),
    (lambda m: m["batches"].update(done=[[0, 99]]), "not a run"),
    (lambda m: m.update(n_samples="60"), "n_samples='60'"),
    (lambda m: m["layers"][1].update(name="input"), "repeated"),
    (lambda m: m["layers"][0].update(depth="deep"), "wrong type"),
])
def test_manifest_schema(built, edit, message):
    store, X, _ = built
    edit_manifest(store, edit)
    with pytest.raises(InputError, match=message):
        ActivationStore.open(store)
    with pytest.raises(InputError, match=message):
        profile_store(store)


def test_manifest_that_is_not_json_or_a_header_that_lies(built):
    store, X, _ = built
    st = ActivationStore.open(store)
    # the file's header disagrees with the manifest (another float dtype written in place)
    f = st.file("fc1")
    np.save(f, np.zeros((60, 10), dtype=np.float16))
    for read in (lambda: ActivationStore.open(store)["fc1"],
                 lambda: ActivationStore.open(store).read_rows("fc1", 0, 5)):
        with pytest.raises(InputError, match="the manifest says"):
            read()
    (store / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        ActivationStore.open(store)


def test_deleted_layer_file_is_one_clear_error(built, capsys):
    store, X, _ = built
    st = ActivationStore.open(store)
    st.file("fc1").unlink()
    st = ActivationStore.open(store)
    with pytest.raises(InputError, match="001_fc1.npy of layer 'fc1' is missing"):
        st["fc1"]
    with pytest.raises(InputError, match="is missing"):
        profile_store(store)
    # a rerun rebuilds it when asked to
    fresh = activations(Small(), X, layers=LAYERS, batch_size=16, store=store, resume=False)
    assert fresh.complete and fresh["fc1"].shape == (60, 10)


def test_changed_data_is_never_answered_from_an_old_store(tmp_path):
    # the case: 297 of 300 samples replaced, rows 0, N/2 and N-1 unchanged
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    Y = rng.normal(size=(300, 6)).astype(np.float32) * 3
    keep = [0, 150, 299]
    Y[keep] = X[keep]
    model = Small()
    opts = dict(layers=LAYERS, n_resamples=2, pca_threshold=None, store=tmp_path / "s")
    first = profile(model, X, **opts)
    calls = model.calls
    again = profile(model, X.copy(), **opts)  # same data: reused, no forward pass
    assert model.calls == calls
    assert [r.twonn for r in again.rows] == [r.twonn for r in first.rows]
    with pytest.raises(InputError, match="different data"):
        profile(model, Y, **opts)
    # one changed value anywhere is enough
    Z = X.copy()
    Z[77, 3] += 1.0
    with pytest.raises(InputError, match="different data"):
        profile(model, Z, **opts)
    # a memmap rewritten in place is detected too
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    activations(model, mm, layers=LAYERS, store=tmp_path / "m")
    w = np.load(tmp_path / "x.npy", mmap_mode="r+")
    w[200] = 0
    w.flush()
    del w
    with pytest.raises(InputError, match="different data"):
        activations(model, np.load(tmp_path / "x.npy", mmap_mode="r"), layers=LAYERS,
                    store=tmp_path / "m")
    fresh = profile(model, Y, **dict(opts, resume=False))
    assert [r.twonn for r in fresh.rows] != [r.twonn for r in first.rows]


def test_datasets_and_loaders_are_fingerprinted_by_content(tmp_path):
    from torch.utils.data import DataLoader, TensorDataset

    X = torch.randn(40, 6, generator=torch.Generator().manual_seed(5))
    y = torch.zeros(40, dtype=torch.long)
    model = Small()
    ds = TensorDataset(X.clone(), y)
    activations(model, ds, layers=LAYERS, batch_size=8, store=tmp_path / "d")
    calls = model.calls
    activations(model, TensorDataset(X.clone(), y), layers=LAYERS, batch_size=8,
                store=tmp_path / "d")
    assert model.calls == calls  # same samples: reused
    Z = X.clone()
    Z[13, 2] += 0.5
    with pytest.raises(InputError, match="different data"):
        activations(model, TensorDataset(Z, y), layers=LAYERS, batch_size=8,
                    store=tmp_path / "d")
    # a shuffling loader: the same samples in another order are the same data
    gen = torch.Generator().manual_seed(0)
    loader = DataLoader(TensorDataset(X.clone(), y), batch_size=8, shuffle=True, generator=gen)
    activations(model, loader, layers=LAYERS, store=tmp_path / "l")
    calls = model.calls
    activations(model, loader, layers=LAYERS, store=tmp_path / "l")
    assert model.calls == calls
    with pytest.raises(InputError, match="different data"):
        activations(model, DataLoader(TensorDataset(Z, y), batch_size=8, shuffle=True),
                    layers=LAYERS, store=tmp_path / "l")
