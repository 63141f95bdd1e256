"""Built-in classifiers small enough for a CPU, and ``"module:callable"`` for user models.

Every built-in accepts any input size and channel count: ``input_shape`` is ``(C, H, W)``
for images (2-D convolutions), ``(C, L)`` for sequences (1-D convolutions) or ``(D,)`` for
vectors (the MLP flattens; the convolutional nets read a vector as one channel of length D).

The last hidden representation
------------------------------
Every built-in has a submodule named ``"hidden"`` whose output is its last hidden
representation, and the attribute ``last_hidden_layer = "hidden"`` (a custom model may set
this attribute to the qualified name of its own layer; :func:`last_hidden_layer` reads it).
The activations there are post-ReLU (ReLUs are not in-place, so a hook on ``hidden`` sees
the value the next layer receives):

- ``mlp``: the last ``Linear → ReLU`` block (width ``width``);
- ``mnist_cnn``: ``fc1 → ReLU`` (128 units), the layer Ansuini et al. (NeurIPS 2019) call
  the last hidden layer of their MNIST network;
- ``vgg_small``: the second fully connected layer (VGG's second 4096-d layer, scaled down;
  Konz & Mazurowski's d_repr for VGG);
- ``resnet_small``: the last residual stage, the feature map *before* global pooling (Konz
  & Mazurowski's d_repr for ResNet, "layer4" in torchvision's naming).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .._errors import InputError

__all__ = ["build_model", "list_models", "last_hidden_layer", "MLP", "MnistCNN", "VGGSmall",
           "ResNetSmall"]


def _check_input_shape(input_shape: Any, caller: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
        ok = all(float(a) == b for a, b in zip(input_shape, shape))
    except (TypeError, ValueError):
        ok, shape = False, ()
    if not ok or not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise InputError(f"{caller}: input_shape must be (D,), (C, L) or (C, H, W) with "
                         f"positive sizes, got {input_shape!r}")
    return shape


def _conv_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """(C, *spatial) for a convolutional net: a vector (D,) is one channel of length D."""
    return (1, input_shape[0]) if len(input_shape) == 1 else input_shape


def _layers(ndim: int) -> tuple[type, type, type, type]:
    if ndim == 1:
        return nn.Conv1d, nn.MaxPool1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d
    return nn.Conv2d, nn.MaxPool2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d


class _Reshape(nn.Module):
    """Views the flat batch as ``(N, *shape)`` (a vector as one channel)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def _flat_size(module: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        was = module.training
        module.eval()
        out = module(torch.zeros(1, *shape))
        module.train(was)
    return int(out[0].numel())


class _Classifier(nn.Module):
    """features → hidden → classifier; ``hidden`` is the last hidden representation."""

    last_hidden_layer = "hidden"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.hidden(self.features(x))))


class MLP(_Classifier):
    """Fully connected ReLU network: ``depth`` hidden layers of ``width`` units.

    ``features`` flattens and holds the first ``depth − 1`` blocks; ``hidden`` is the last
    ``Linear → ReLU`` block (depth ≥ 1), ``classifier`` the output layer.
    """

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, *, depth: int = 2,
                 width: int = 128, dropout: float = 0.0):
        super().__init__()
        d_in = math.prod(input_shape)
        blocks: list[nn.Module] = [nn.Flatten()]
        for i in range(depth - 1):
            blocks += [nn.Linear(d_in if i == 0 else width, width), nn.ReLU()]
            if dropout:
                blocks.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*blocks)
        self.hidden = nn.Sequential(nn.Linear(d_in if depth == 1 else width, width), nn.ReLU())
        self.head = nn.Dropout(dropout) if dropout else nn.Identity()
        self.classifier = nn.Linear(width, n_classes)


class MnistCNN(_Classifier):
    """The MNIST network of Ansuini et al. (NeurIPS 2019; F. Chollet's Keras example).

    ``conv3x3(32) → maxpool2 → ReLU → conv3x3(64) → maxpool2 → ReLU → fc(128) → ReLU →
    fc(n_classes)``. On 28x28 inputs this is exactly the paper's network (1 600 inputs to
    fc1). Scaled to any input: a convolution is unpadded ("valid") only when its output can
    still be pooled (size ≥ 2 after it), otherwise padded; a pooling is applied only to maps
    of size ≥ 2. ``dropout`` (the paper's code leaves it out) is applied after each
    pooling block (p/2) and after fc1 (p).
    """

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, *,
                 channels: Sequence[int] = (32, 64), hidden_dim: int = 128,
                 dropout: float = 0.0, kernel_size: int = 3):
        super().__init__()
        shape = _conv_shape(input_shape)
        conv, pool, _, _ = _layers(len(shape) - 1)
        sizes = list(shape[1:])
        layers: list[nn.Module] = [_Reshape(shape)]
        c_in = shape[0]
        for c_out in channels:
            valid = min(sizes) - (kernel_size - 1) >= 2
            pad = 0 if valid else kernel_size // 2
            layers.append(conv(c_in, c_out, kernel_size, padding=pad))
            sizes = [s + 2 * pad - (kernel_size - 1) for s in sizes]
            if min(sizes) >= 2:
                layers.append(pool(2))
                sizes = [s // 2 for s in sizes]
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout / 2))
            c_in = c_out
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        flat = _flat_size(self.features, input_shape)
        self.hidden = nn.Sequential(nn.Linear(flat, hidden_dim), nn.ReLU())
        self.head = nn.Dropout(dropout) if dropout else nn.Identity()
        self.classifier = nn.Linear(hidden_dim, n_classes)


class VGGSmall(_Classifier):
    """A small VGG: blocks of ``convs_per_block`` × (conv3x3 → [BN] → ReLU) then maxpool2
    (skipped once the map is 1 pixel), adaptive average pooling to 2 (per spatial axis),
    ``fc(fc_width) → ReLU → fc(fc_width) → ReLU → fc(n_classes)``; ``hidden`` is the second
    fully connected layer, as VGG's second 4096-d layer."""

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, *,
                 widths: Sequence[int] = (16, 32, 64), convs_per_block: int = 2,
                 fc_width: int = 256, batch_norm: bool = True, dropout: float = 0.0):
        super().__init__()
        shape = _conv_shape(input_shape)
        ndim = len(shape) - 1
        conv, pool, bn, avg = _layers(ndim)
        sizes = list(shape[1:])
        layers: list[nn.Module] = [_Reshape(shape)]
        c_in = shape[0]
        for width in widths:
            for _ in range(convs_per_block):
                layers.append(conv(c_in, width, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(bn(width))
                layers.append(nn.ReLU())
                c_in = width
            if min(sizes) >= 2:
                layers.append(pool(2))
                sizes = [s // 2 for s in sizes]
        layers += [avg(2), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        flat = c_in * 2 ** ndim
        first: list[nn.Module] = [nn.Linear(flat, fc_width), nn.ReLU()]
        if dropout:
            first.append(nn.Dropout(dropout))
        self.fc1 = nn.Sequential(*first)
        self.hidden = nn.Sequential(nn.Linear(fc_width, fc_width), nn.ReLU())
        self.head = nn.Dropout(dropout) if dropout else nn.Identity()
        self.classifier = nn.Linear(fc_width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.hidden(self.fc1(self.features(x)))))


class _BasicBlock(nn.Module):
    """The residual block of He et al. (2016): two 3x3 convolutions with a skip."""

    def __init__(self, ndim: int, c_in: int, c_out: int, stride: int, batch_norm: bool):
        super().__init__()
        conv, _, bn, _ = _layers(ndim)
        norm = (lambda c: bn(c)) if batch_norm else (lambda c: nn.Identity())
        self.conv1 = conv(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm)
        self.bn1 = norm(c_out)
        self.relu = nn.ReLU()
        self.conv2 = conv(c_out, c_out, 3, padding=1, bias=not batch_norm)
        self.bn2 = norm(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(conv(c_in, c_out, 1, stride=stride,
                                               bias=not batch_norm), norm(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetSmall(_Classifier):
    """A small ResNet: stem conv3x3 → [BN] → ReLU, stages of ``blocks`` basic blocks with
    ``widths`` channels (stride 2 from the second stage on), global average pooling and a
    linear classifier. The stages are ``features.layer1 … layer{K−1}`` and the last stage is
    ``hidden``: its output, the feature map before pooling, is the last hidden
    representation."""

    def __init__(self, input_shape: tuple[int, ...], n_classes: int, *,
                 widths: Sequence[int] = (16, 32, 64), blocks: int | Sequence[int] = 1,
                 batch_norm: bool = True):
        super().__init__()
        shape = _conv_shape(input_shape)
        ndim = len(shape) - 1
        conv, _, bn, avg = _layers(ndim)
        widths = list(widths)
        n_blocks = [int(blocks)] * len(widths) if isinstance(blocks, int) else list(blocks)
        if len(n_blocks) != len(widths) or min(n_blocks) < 1:
            raise InputError(f"resnet_small: blocks must be a positive int or one count per "
                             f"stage ({len(widths)}), got {blocks!r}")
        stem: list[nn.Module] = [_Reshape(shape),
                                 conv(shape[0], widths[0], 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            stem.append(bn(widths[0]))
        stem.append(nn.ReLU())
        self.features = nn.Sequential()
        self.features.add_module("stem", nn.Sequential(*stem))
        c_in = widths[0]
        stages = []
        for i, (width, nb) in enumerate(zip(widths, n_blocks)):
            stride = 1 if i == 0 else 2
            stage = [_BasicBlock(ndim, c_in if j == 0 else width, width,
                                 stride if j == 0 else 1, batch_norm) for j in range(nb)]
            stages.append(nn.Sequential(*stage))
            c_in = width
        for i, stage in enumerate(stages[:-1]):
            self.features.add_module(f"layer{i + 1}", stage)
        self.hidden = stages[-1]
        self.head = nn.Sequential(avg(1), nn.Flatten())
        self.classifier = nn.Linear(c_in, n_classes)


_BUILTINS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "mnist_cnn": MnistCNN,
    "vgg_small": VGGSmall,
    "resnet_small": ResNetSmall,
}


def list_models() -> tuple[str, ...]:
    """Names of the built-in architectures."""
    return tuple(_BUILTINS)


def _resolve(name: str, caller: str) -> Callable[..., nn.Module]:
    if name in _BUILTINS:
        return _BUILTINS[name]
    if ":" not in name:
        raise InputError(f"{caller}: unknown model {name!r}; built-ins: "
                         f"{', '.join(_BUILTINS)}, 'package.module:callable' or "
                         f"'path/to/file.py:callable'")
    if name.rsplit(":", 1)[0].endswith(".py"):  # "path/to/file.py:callable"
        from ..representations.models import import_callable

        obj: Any = import_callable(name)
        if not callable(obj):
            raise InputError(f"{caller}: {name!r} is not callable")
        return obj
    mod_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise InputError(f"{caller}: cannot import module {mod_name!r} for model {name!r} "
                         f"({exc})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"{caller}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(f"{caller}: {name!r} is not callable")
    return obj


def check_model_name(name: Any, *, caller: str = "build_model") -> str:
    """Validate a model name without building it (built-in or importable ``module:callable``).

    Raises :class:`~idscope.InputError` for unknown names, so a sweep can reject a config
    before any run starts.
    """
    if not isinstance(name, str) or not name:
        raise InputError(f"{caller}: model name must be a non-empty string, got {name!r}")
    _resolve(name, caller)
    return name


def build_model(name: str, input_shape: tuple[int, ...], n_classes: int, *, seed: int = 0,
                **kwargs: Any) -> nn.Module:
    """A freshly initialised classifier, deterministic given ``seed``.

    Parameters
    ----------
    name : str
        ``"mlp"`` (kwargs ``depth``, ``width``, ``dropout``), ``"mnist_cnn"`` (``channels``,
        ``hidden_dim``, ``dropout``), ``"vgg_small"`` (``widths``, ``convs_per_block``,
        ``fc_width``, ``batch_norm``, ``dropout``), ``"resnet_small"`` (``widths``,
        ``blocks``, ``batch_norm``), or ``"package.module:callable"``, called as
        ``callable(input_shape=..., n_classes=..., **kwargs)`` and expected to return an
        ``nn.Module``.
    input_shape : tuple of int
        One sample's shape: ``(C, H, W)``, ``(C, L)`` or ``(D,)``.
    n_classes : int
        Number of output logits (1 gives a single-logit binary classifier trained with
        the logistic loss).
    seed : int
        Seeds the initialisation inside ``torch.random.fork_rng``: the global torch RNG is
        left as it was.

    The built-ins have a submodule ``"hidden"`` (see the module docstring) and
    ``model.last_hidden_layer == "hidden"``.
    """
    caller = "build_model"
    factory = _resolve(check_model_name(name, caller=caller), caller)
    shape = _check_input_shape(input_shape, caller)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        raise InputError(f"{caller}: n_classes must be a positive integer, got {n_classes!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        try:
            if name in _BUILTINS:
                model = factory(shape, n_classes, **kwargs)
            else:
                model = factory(input_shape=shape, n_classes=n_classes, **kwargs)
        except TypeError as exc:
            raise InputError(f"{caller}: bad options for model {name!r}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"{caller}: {name!r} returned {type(model).__name__}, not a "
                         f"torch.nn.Module")
    return model


def last_hidden_layer(model: nn.Module) -> str | None:
    """Qualified name of the module whose output is ``model``'s last hidden representation.

    ``model.last_hidden_layer`` when set, else ``"hidden"`` when such a submodule exists,
    else None.
    """
    name = getattr(model, "last_hidden_layer", None)
    if isinstance(name, str):
        return name
    return "hidden" if isinstance(getattr(model, "hidden", None), nn.Module) else None
