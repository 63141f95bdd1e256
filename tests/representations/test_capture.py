"""Activation capture: exact values, layer selection, model state, hooks, output types."""

import numpy as np
import pytest
import torch
from torch import nn

from idscope import InputError
from idscope.representations import activations, profile
from idscope.representations.layers import select_layers, trace_model


def small_cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),   # 0
        nn.ReLU(inplace=True),           # 1
        nn.MaxPool2d(2),                 # 2
        nn.Conv2d(4, 8, 3, padding=1),   # 3
        nn.BatchNorm2d(8),               # 4
        nn.ReLU(inplace=True),           # 5
        nn.AdaptiveAvgPool2d(2),         # 6
        nn.Flatten(),                    # 7
        nn.Linear(32, 16),               # 8
        nn.ReLU(inplace=True),           # 9
        nn.Linear(16, 5),                # 10
    )


def manual_forward(model: nn.Sequential, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every module's output, cloned before the next (possibly in-place) module runs."""
    out = {"input": x.clone()}
    h = x.clone()
    for i, m in enumerate(model):
        h = m(h)
        out[str(i)] = h.clone()
    out["output"] = h.clone()
    return out


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(50, 1, 8, 8, generator=g)


@pytest.mark.parametrize("background", [True, False])
def test_capture_equals_manual_forward_bit_for_bit(data, background):
    model = small_cnn()
    # give BatchNorm non-trivial running statistics
    model[4].running_mean.uniform_(-1, 1)
    model[4].running_var.uniform_(0.5, 2)
    layers = ["input", "0", "2", "3", "4", "8", "9", "output"]
    st = activations(model, data, layers=layers, batch_size=16, background=background)
    model.eval()
    with torch.inference_mode():
        batches = [manual_forward(model, data[a:a + 16]) for a in range(0, 50, 16)]
    for name in layers:
        want = torch.cat([b[name] for b in batches]).reshape(50, -1).numpy()
        np.testing.assert_array_equal(np.asarray(st[name]), want, err_msg=name)


def test_copy_protects_against_inplace_relu(data):
    model = small_cnn()
    st = activations(model, data, layers=["8", "9"], batch_size=25)
    pre, post = np.asarray(st["8"]), np.asarray(st["9"])
    assert (pre < 0).any(), "the Linear's own output has negative values"
    np.testing.assert_array_equal(post, np.maximum(pre, 0))


def test_presets_and_relative_depth(data):
    model = small_cnn()
    st = activations(model, data, layers="paper")
    # input, both pooling layers, the hidden Linear, the output (final Linear reported once)
    assert st.layers == ["input", "2", "6", "8", "output"]
    rel = [st.info(n)["relative_depth"] for n in st.layers]
    # conv/linear layers: 0, 3, 8, 10 -> 4 before the output
    np.testing.assert_allclose(rel, [0, 1 / 4, 2 / 4, 3 / 4, 1])
    assert [st.info(n)["depth"] for n in st.layers] == [0, 1, 2, 3, 4]
    assert activations(model, data, layers="ansuini").layers == [
        "input", "2", "6", "9", "output"]
    assert activations(model, data, layers="last_hidden").layers == ["9"]


def test_selection_by_glob_type_and_errors(data):
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)))
    model.add_module("head", nn.Sequential(nn.Flatten(), nn.Linear(18, 3)))
    tr = trace_model(model, lambda: model(data[:2]))
    names = [i.name for i in select_layers(model, "features.*", tr)]
    assert names == ["features.0", "features.1", "features.2"]
    names = [i.name for i in select_layers(model, [nn.Linear, nn.Conv2d, "input"], tr)]
    assert names == ["input", "features.0", "head.1"]
    with pytest.raises(InputError, match="did you mean .*'features.0'"):
        select_layers(model, "features.O", tr)
    with pytest.raises(InputError, match="matches no module"):
        select_layers(model, "body.*", tr)
    with pytest.raises(InputError, match="no module of type"):
        select_layers(model, nn.LSTM, tr)


def test_model_state_restored_and_batchnorm_untouched(data):
    model = small_cnn()
    model.train()
    model[8].eval()  # mixed flags must come back exactly
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    profile(model, data, layers=["2", "6"], n_resamples=3, pca_threshold=None)
    assert [m.training for m in model.modules()] == flags
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0, msg=k)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


class Boom(nn.Module):
    """Fails on the second full batch (the set-up passes on two samples do not count)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += x.shape[0] > 2
        if self.calls == 2:
            raise RuntimeError("boom")
        return x


def test_hooks_removed_and_state_restored_after_error(data, tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), Boom(), nn.Flatten(), nn.Linear(72, 3))
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        activations(model, data, layers=["0", "3"], batch_size=10, store=tmp_path / "s")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(m.training for m in model.modules())


class TupleNet(nn.Module):
    """A transformer-like block: (batch, tokens, features) outputs wrapped in a tuple and a
    dict output."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 4)
        self.block = Block()

    def forward(self, x):
        h = self.block(self.embed(x))[0]
        return {"logits": h[:, 0, :2], "hidden": h}


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, h):
        return (self.lin(h), None)


@pytest.mark.parametrize("policy", ["flatten", "mean", "first"])
def test_tuple_dict_outputs_and_sequence_policies(policy):
    torch.manual_seed(0)
    model = TupleNet()
    x = torch.randn(12, 5, 3)
    st = activations(model, x, layers=["block", "output"], sequence=policy, batch_size=5)
    with torch.inference_mode():
        h = model.block.lin(model.embed(x))
    want = {"flatten": h.reshape(12, -1), "mean": h.mean(1), "first": h[:, 0]}[policy]
    np.testing.assert_allclose(np.asarray(st["block"]), want.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(st["output"]), h[:, 0, :2].numpy())


def test_dataloader_with_labels_and_numpy_input(data):
    from torch.utils.data import DataLoader, TensorDataset

    model = small_cnn()
    ref = activations(model, data, layers=["6"], batch_size=7)
    ds = TensorDataset(data, torch.arange(50))
    for source in (DataLoader(ds, batch_size=7), ds, data.numpy().astype(np.float64)):
        st = activations(model, source, layers=["6"], batch_size=7)
        np.testing.assert_allclose(np.asarray(st["6"]), np.asarray(ref["6"]), rtol=1e-6)


def test_float16_store_and_index_subset(data):
    model = small_cnn()
    idx = np.array([3, 1, 4, 15, 9, 26])
    st = activations(model, data, layers=["8"], dtype="float16", index=idx)
    assert st["8"].dtype == np.float16 and st["8"].shape == (6, 16)
    full = activations(model, data, layers=["8"])
    np.testing.assert_allclose(np.asarray(st["8"], dtype=np.float32),
                               np.asarray(full["8"])[idx], rtol=2e-3, atol=1e-3)


def test_bad_inputs(data):
    model = small_cnn()
    with pytest.raises(InputError, match="batch_size"):
        activations(model, data, batch_size=0)
    with pytest.raises(InputError, match="sequence"):
        activations(model, data, sequence="last")
    with pytest.raises(InputError, match="torch.nn.Module"):
        activations(lambda x: x, data)
    with pytest.raises(InputError, match="no module named"):
        activations(model, data, layers=["nope"])


class LateInplace(nn.Module):
    """Doubles its input in place, but only on batches of more than two samples: the
    two-sample probe cannot see it, the check after each write must."""

    def forward(self, x):
        return x.mul_(2) if x.shape[0] > 2 else x * 2


class ReusedBuffer(nn.Module):
    """Returns the same output buffer on every call (as static-buffer inference code does),
    so a row written behind would be overwritten by the next batch."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.buf = None

    def forward(self, x):
        y = self.fc(x)
        if self.buf is None or self.buf.shape != y.shape:
            self.buf = torch.empty_like(y)
        return self.buf.copy_(y)


def test_write_behind_finds_layers_modified_in_place():
    from idscope.representations.capture import _mutated_layers

    x = torch.randn(8, 1, 8, 8)
    found = _mutated_layers(small_cnn(), x, torch.device("cpu"))
    assert found == {"0", "4", "8"}  # each followed by an in-place ReLU
    model = nn.Sequential(nn.Linear(4, 4), ReusedBuffer())
    assert _mutated_layers(model, torch.randn(5, 4), torch.device("cpu")) == {
        "1", "output"}


@pytest.mark.parametrize("background", [True, False])
def test_values_changed_after_capture_are_never_stored(background):
    g = torch.Generator().manual_seed(4)
    X = torch.randn(40, 4, generator=g)
    model = nn.Sequential(nn.Linear(4, 6), LateInplace(), nn.Linear(6, 4), ReusedBuffer())
    st = activations(model, X, layers=["0", "1", "2", "3", "output"], batch_size=8,
                     background=background)
    with torch.inference_mode():  # batch by batch, as captured (same float rounding)
        h0 = torch.cat([model[0](X[a:a + 8]) for a in range(0, 40, 8)])
        h2 = torch.cat([model[2](h0[a:a + 8] * 2) for a in range(0, 40, 8)])
        h3 = torch.cat([model[3].fc(h2[a:a + 8]) for a in range(0, 40, 8)])
    np.testing.assert_array_equal(np.asarray(st["0"]), h0.numpy())
    np.testing.assert_array_equal(np.asarray(st["1"]), (h0 * 2).numpy())
    np.testing.assert_array_equal(np.asarray(st["2"]), h2.numpy())
    np.testing.assert_array_equal(np.asarray(st["3"]), h3.numpy())
    np.testing.assert_array_equal(np.asarray(st["output"]), h3.numpy())
