"""Model sources and weight files (all offline)."""

import pickle
import sys

import pytest
import torch
from torch import nn

from idscope import InputError, MissingDependencyError
from idscope.representations import load_model
from idscope.representations.models import model_fingerprint, parse_config_items

MODEL_FILE = '''
import torch
from torch import nn

def mlp(num_classes=3, width=8, input_shape=None):
    return nn.Sequential(nn.Flatten(), nn.Linear(4, width), nn.ReLU(),
                         nn.Linear(width, num_classes))

NOT_A_MODEL = 3
'''


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text(MODEL_FILE)
    return path


def test_object_callable_and_file_specs(model_file):
    m = nn.Linear(2, 2)
    assert load_model(m) is m
    net = load_model(f"{model_file}:mlp", num_classes=5, config={"width": 6})
    assert net[3].out_features == 5 and net[1].out_features == 6
    net = load_model(lambda num_classes=2: nn.Linear(4, num_classes), num_classes=7)
    assert net.out_features == 7
    built = load_model("torch.nn:Identity")
    assert isinstance(built, nn.Identity)
    with pytest.raises(InputError, match="neither a module nor a callable"):
        load_model(f"{model_file}:NOT_A_MODEL")
    with pytest.raises(InputError, match="not a torch.nn.Module"):
        load_model(lambda: 3)
    with pytest.raises(InputError, match="has no attribute"):
        load_model(f"{model_file}:nope")
    with pytest.raises(InputError, match="cannot import module"):
        load_model("no_such_package_xyz:build")
    with pytest.raises(InputError, match="not a model specification"):
        load_model("resnet18")
    with pytest.raises(InputError, match="does not accept num_classes"):
        load_model("torch.nn:Flatten", num_classes=3)


@pytest.mark.parametrize("family", ["torchvision", "timm"])
def test_missing_optional_packages_fail_clearly(family, monkeypatch):
    monkeypatch.setitem(sys.modules, family, None)  # makes `import family` raise
    with pytest.raises(MissingDependencyError, match=f"needs {family}"):
        load_model(f"{family}:resnet18")


def test_state_dict_weights_pt_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    fp = model_fingerprint(src)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in
                                           src.state_dict().items()}}, tmp_path / "ck.pth")
    save_file(src.state_dict(), str(tmp_path / "w.safetensors"))
    for name in ("w.pt", "ck.pth", "w.safetensors"):
        torch.manual_seed(1)
        dst = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        assert model_fingerprint(dst) != fp
        load_model(dst, weights=tmp_path / name)
        assert model_fingerprint(dst) == fp, name

    wrong = nn.Sequential(nn.Linear(3, 4))
    with pytest.raises(InputError, match="7 unexpected key"):
        load_model(wrong, weights=tmp_path / "w.pt")
    with pytest.raises(InputError, match="does not fit"):
        load_model(nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)),
                   weights=tmp_path / "w.pt")


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_weights_only_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"x": Evil()}, fh)
    with pytest.raises(InputError, match="weights_only"):
        load_model(nn.Linear(2, 2), weights=path)
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(InputError, match="must be .safetensors"):
        load_model(nn.Linear(2, 2), weights=tmp_path / "w.npz")


def test_transformers_specs_never_download(tmp_path):
    with pytest.raises(InputError, match="never downloaded"):
        load_model("transformers:microsoft/resnet-50")
    m = load_model("transformers:resnet", num_classes=3, input_shape=(1, 16, 16),
                   config={"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1]})
    assert m.config.num_labels == 3 and m.config.num_channels == 1
    # a local folder with config.json (and weights beside it) works offline
    m.save_pretrained(tmp_path / "local")
    back = load_model(f"transformers:{tmp_path / 'local'}")
    assert model_fingerprint(back) == model_fingerprint(m)


def test_parse_config_items():
    assert parse_config_items(["depths=[1, 1]", "name=abc", "size=8"]) == {
        "depths": [1, 1], "name": "abc", "size": 8}
    with pytest.raises(InputError, match="KEY=VALUE"):
        parse_config_items(["oops"])
