"""Controlled synthetic data: known intrinsic dimension and known label sharpness.

The offline stand-in for the GAN images of Pope et al. (ICLR 2021): data rendered from ``d``
latent parameters, two classes separated by a margin in latent space, so the scaling law of
Konz & Mazurowski (ICLR 2024) can be tested where ``d_data`` and ``K_F`` are known.

Construction (both generators)
------------------------------
Latents z are uniform in the unit cube [0, 1]^d. Each latent is the *phase* of one
orthogonal pattern: coordinate j contributes ``a·(cos(π z_j)·P_j + sin(π z_j)·Q_j)`` where
the 2d patterns P_j, Q_j are mutually orthogonal with equal norms ``‖P_j‖ = ‖Q_j‖ = ρ``.
The map z ↦ x is then smooth, injective and an isometry of the intrinsic metric up to the
constant factor π·a·ρ: the data lie *uniformly* on an intrinsically flat d-dimensional cube
(extrinsically curved, a piece of a Clifford torus), so their intrinsic dimension is exactly
d and locally constant density holds everywhere away from the cube's faces.

For images the patterns are plane-wave gratings: ``P_j, Q_j = sin, cos(2π k_j·u / size)``
for d distinct, randomly chosen low spatial frequencies ``k_j`` of the pixel grid (distinct
non-conjugate Fourier modes are exactly orthogonal on the discrete grid), each mixed over
channels by a random unit colour vector; so latent j translates grating j. With
``a = 1/(2d)`` every pixel lies in [0, 1] by construction, without clipping.

Labels (``boundary``):

- ``"linear"`` (default): ``y = 1[w·(z − ½) > 0]`` for a random unit direction w; points
  with ``|w·(z − ½)| < margin`` are rejected (the margin band).
- ``"voronoi"``: ``n_cells`` random centres in the cube, labelled alternately 0/1 in random
  order; a point takes the label of its nearest centre. A point is rejected when a lower
  bound on its latent distance to the other label's region (the distance to the nearest
  bisector half-space of an other-label centre) is below ``margin``. More cells make a
  more complex, piecewise-linear class boundary (2 cells: one hyperplane).

Sampling continues until both classes have their share (⌊n/2⌋ and ⌈n/2⌉). Two differently
labelled points are at least 2·margin apart in latent space (the segment between them
crosses the boundary, each end at least ``margin`` from it), i.e. at least
``2·margin·π·a·ρ`` apart along the manifold (their chord distance can be slightly shorter).

The *exact* label sharpness of the generated sample, K̂_F = 1 / min‖x_j − x_k‖₂ over pairs
with y_j ≠ y_k (Konz & Mazurowski 2024, binary labels), is computed over all such pairs in
float64 on the stored values and recorded in ``meta``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validation import check_choice, check_int
from ._dataset import Dataset

__all__ = ["manifold_images", "manifold_points", "min_class_distance", "BOUNDARIES"]

BOUNDARIES = ("linear", "voronoi")

# Rejection sampling gives up when fewer than this fraction of draws fall outside the band.
_MIN_ACCEPTANCE = 1e-3


def min_class_distance(X: np.ndarray, y: np.ndarray, *, block_elems: int = 1 << 22) -> float:
    """Smallest Euclidean distance between two points with different labels, exact in float64.

    All pairs with ``y_j != y_k`` are screened in row blocks with the float64 Gram expansion
    ‖a‖² + ‖b‖² − 2a·b on centred data; every pair whose screened value lies within a
    rigorous rounding bound of the block minimum is then recomputed from its difference
    vector, so the result equals the brute-force minimum over difference vectors (the Gram
    expansion alone cancels when points are close and far from the origin; docs/science.md §1).
    The data layer cannot use the kNN engine (``idscope.neighbors`` sits above it), hence
    this small exact routine. ``block_elems`` bounds the pairs screened at once (memory).
    """
    X0 = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    y = np.asarray(y)
    X = X0 - X0.mean(axis=0)
    sq = np.einsum("ij,ij->i", X, X)
    # |computed − exact| ≤ ~(D + 2)·u·(‖a‖² + ‖b‖²) for the expansion; 4x margin.
    unit = 4.0 * (X.shape[1] + 2) * np.finfo(np.float64).eps
    best = np.inf
    classes = np.unique(y)
    for i, c in enumerate(classes[:-1]):
        ia = np.flatnonzero(y == c)
        ib = np.flatnonzero(np.isin(y, classes[i + 1:]))
        B, sqb = X[ib], sq[ib]
        step = max(1, block_elems // max(1, len(ib)))
        for start in range(0, len(ia), step):
            rows = ia[start:start + step]
            g = sq[rows, None] + sqb[None, :] - 2.0 * (X[rows] @ B.T)
            tol = unit * (sq[rows, None] + sqb[None, :])
            cand_r, cand_c = np.nonzero(g - tol <= (g + tol).min())
            diff = X0[rows[cand_r]] - X0[ib[cand_c]]
            best = min(best, float(np.sqrt(np.einsum("ij,ij->i", diff, diff)).min()))
    return best


def _check_common(n: Any, intrinsic_dim: Any, margin: Any, boundary: Any, n_cells: Any,
                  caller: str) -> tuple[int, int, float, int]:
    check_choice(boundary, "boundary", BOUNDARIES, caller=caller)
    n_cells = check_int(n_cells, "n_cells", caller=caller, low=2)
    n = check_int(n, "n", caller=caller, low=4)
    d = check_int(intrinsic_dim, "intrinsic_dim", caller=caller, low=1)
    try:
        margin = float(margin)
    except (TypeError, ValueError):
        raise InputError(f"{caller}: margin must be a number, got {margin!r}") from None
    # The score w·(z − ½) of a unit w never exceeds √d/2 in magnitude.
    if not 0.0 <= margin < 0.5 * np.sqrt(d):
        raise InputError(f"{caller}: margin={margin} must be in [0, {0.5 * np.sqrt(d):.3g}) "
                         f"(latent units; the cube [0, 1]^{d} has half-diagonal √d/2)")
    return n, d, margin, n_cells


def _streams(seed: Any) -> tuple[np.random.Generator, ...]:
    """Independent streams for the embedding, the boundary and the latents.

    The latent candidates then depend only on ``seed`` and d: datasets that differ only in
    margin or boundary are built from the same candidate latents (common random numbers),
    so their comparison is not blurred by sampling noise.
    """
    seed = check_int(seed, "seed", caller="synthetic", low=0)
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))


class _Boundary:
    """A labelling of the latent cube: ``label(z)`` and a lower bound ``gap(z)`` on the
    latent distance from z to the region of the other label (points with gap < margin are
    rejected, so kept points of different labels are ≥ 2·margin apart: the segment between
    them crosses the boundary, each end at least ``margin`` from it)."""

    def __init__(self, kind: str, d: int, n_cells: int, rng: np.random.Generator):
        self.kind = kind
        if kind == "linear":
            w = rng.standard_normal(d)
            self.w = w / np.linalg.norm(w)
        else:
            self.centers = rng.random((n_cells, d))
            labels = np.arange(n_cells) % 2
            self.cell_labels = labels[rng.permutation(n_cells)]

    def __call__(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "linear":
            s = (z - 0.5) @ self.w
            return (s > 0).astype(np.int64), np.abs(s)
        # Voronoi cells with labels: the nearest centre a decides; the other label's region
        # lies in the union over centres b of the other label of the half-spaces
        # {x : |x − c_b| <= |x − c_a|}, whose distances from z are
        # (|z − c_b|² − |z − c_a|²) / (2 |c_a − c_b|).
        C = self.centers
        d2 = ((z[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
        a = d2.argmin(axis=1)
        lab = self.cell_labels[a]
        other = self.cell_labels[None, :] != lab[:, None]
        sep = np.linalg.norm(C[a][:, None, :] - C[None, :, :], axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = (d2 - d2[np.arange(len(z)), a][:, None]) / (2 * sep)
        gap = np.where(other, dist, np.inf).min(axis=1)
        return lab.astype(np.int64), gap

    def meta(self) -> dict[str, Any]:
        if self.kind == "linear":
            return {"boundary": "linear", "label_direction": self.w}
        return {"boundary": "voronoi", "cell_centers": self.centers,
                "cell_labels": self.cell_labels}


def _sample_latents(n: int, boundary: _Boundary, d: int, margin: float,
                    rng: np.random.Generator, caller: str) -> tuple[np.ndarray, np.ndarray]:
    """Balanced latents outside the margin band: ``(z, y)``, z in generation order."""
    need = (n // 2, n - n // 2)  # class 0, class 1
    got: list[list[np.ndarray]] = [[], []]
    counts = [0, 0]
    drawn = 0
    accepted = [0, 0]
    while counts[0] < need[0] or counts[1] < need[1]:
        batch = max(2 * n, 1024)
        z = rng.random((batch, d))
        lab, gap = boundary(z)
        keep = gap >= margin
        drawn += batch
        for c in (0, 1):
            mask = keep & (lab == c)
            accepted[c] += int(mask.sum())
            take = z[mask][: need[c] - counts[c]]
            idx = np.flatnonzero(mask)[: len(take)] + drawn - batch
            got[c].append(np.column_stack([idx, take]))
            counts[c] += len(take)
        if drawn >= 20 * batch and min(accepted) < _MIN_ACCEPTANCE * drawn:
            raise InputError(f"{caller}: margin={margin} leaves only {min(accepted) / drawn:.2%} "
                             f"of latents in one class (d={d}); choose a smaller margin")
    rows = np.concatenate(got[0] + got[1])
    y = np.concatenate([np.zeros(need[0], dtype=np.int64), np.ones(need[1], dtype=np.int64)])
    order = np.argsort(rows[:, 0], kind="stable")  # the order in which they were drawn
    return rows[order, 1:], y[order]


def _grating_modes(shape: tuple[int, int], d: int, rng: np.random.Generator,
                   caller: str) -> np.ndarray:
    """d distinct non-conjugate, non-zero Fourier modes (k_row, k_col), low frequencies first.

    Self-conjugate modes (k ≡ −k) are excluded: their sine vanishes on the grid.
    """
    h, w = shape
    kept: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for a in range(h):
        for b in range(w):
            conj = ((-a) % h, (-b) % w)
            if (a, b) == (0, 0) or conj == (a, b) or conj in seen:
                continue
            seen.add((a, b))
            kept.append((a, b))
    if d > len(kept):
        raise InputError(f"{caller}: intrinsic_dim={d} needs {d} orthogonal gratings but a "
                         f"{h}x{w} image has only {len(kept)}; use a larger image_size")
    modes = np.array(kept)
    signed = np.where(modes > np.array([h // 2, w // 2]), modes - np.array([h, w]), modes)
    freq = np.sqrt(((signed / np.array([h, w])) ** 2).sum(axis=1))
    # A random draw among the lowest frequencies keeps the images smooth but varied.
    order = np.argsort(freq + 1e-9 * rng.random(len(freq)), kind="stable")
    pool = order[: min(len(order), max(3 * d, 12))]
    return modes[np.sort(rng.choice(pool, size=d, replace=False))]


def manifold_images(
    n: int,
    *,
    intrinsic_dim: int,
    image_size: int | tuple[int, int] = 16,
    channels: int = 1,
    margin: float = 0.1,
    seed: int = 0,
    boundary: str = "linear",
    n_cells: int = 16,
    layout: str = "NHWC",
    dtype: Any = np.float32,
) -> Dataset:
    """Images of known intrinsic dimension and label sharpness, rendered from d latents.

    Each image is ``½ + a·Σ_j c_j ⊗ sin(2π k_j·u/size + π z_j)`` with ``a = 1/(2d)``: the sum
    of d plane-wave gratings (distinct low spatial frequencies ``k_j``, random unit colour
    vectors ``c_j``), grating j shifted by the phase π·z_j of latent z_j ∈ [0, 1]. The map
    is a smooth injective isometry (up to a constant) of the latent cube, so the intrinsic
    dimension is exactly ``intrinsic_dim``; intensities lie in [0, 1]. Two balanced classes,
    by default ``y = 1[w·(z − ½) > 0]``, with latents within ``margin`` of the class
    boundary rejected. See the module docstring for the geometry.

    Parameters
    ----------
    n : int
        Number of images (classes ⌊n/2⌋ and ⌈n/2⌉).
    intrinsic_dim : int
        d, the number of latent parameters (at most the number of distinct gratings of the
        grid, 126 for 16x16).
    image_size : int or (height, width)
    channels : int
    margin : float
        Half-width of the rejected band around the class boundary, in latent units (the
        latent cube has side 1).
    seed : int
        The same seed gives the same dataset. Three independent numpy streams are spawned
        from it (embedding, boundary, latents), so datasets that differ only in ``margin``
        or ``boundary`` draw from the same candidate latents.
    boundary : {"linear", "voronoi"}
        The class boundary in latent space: a hyperplane through the cube's centre, or the
        faces between ``n_cells`` labelled Voronoi cells (a harder task whose difficulty
        grows with ``n_cells``).
    n_cells : int
        Number of Voronoi cells (``boundary="voronoi"``).
    layout : {"NHWC", "NCHW"}
        ``"NHWC"`` follows :class:`~idscope.data.Dataset`'s convention (N, H, W) for one
        channel and (N, H, W, C) otherwise; ``"NCHW"`` gives (N, C, H, W), the layout of a
        torch model's input.
    dtype : numpy dtype
        Storage type (float32 by default); ``meta["label_sharpness"]`` is exact for the
        stored values.

    Returns
    -------
    Dataset
        ``X`` images, ``y`` labels in {0, 1}, and ``meta`` with ``intrinsic_dim``,
        ``intensity_range`` [0, 1], ``label_sharpness`` (exact for this sample: 1 / the
        smallest distance between differently labelled images, float64 brute force over all
        pairs, in the units of the stored values with the L2 norm over all pixels and
        channels), ``min_class_distance``, ``margin``, ``manifold_gap`` (the lower bound
        2·margin·π·a·ρ on the distance along the manifold between classes), ``latents``
        (N, d), ``boundary`` and its parameters (``label_direction`` w, or
        ``cell_centers`` and ``cell_labels``), ``frequencies`` k_j, ``colors`` c_j, ``seed``.
    """
    caller = "manifold_images"
    n, d, margin, n_cells = _check_common(n, intrinsic_dim, margin, boundary, n_cells, caller)
    if isinstance(image_size, (tuple, list)):
        if len(image_size) != 2:
            raise InputError(f"{caller}: image_size must be an int or (height, width), got "
                             f"{image_size!r}")
        h = check_int(image_size[0], "image_size[0]", caller=caller, low=2)
        w_ = check_int(image_size[1], "image_size[1]", caller=caller, low=2)
    else:
        h = w_ = check_int(image_size, "image_size", caller=caller, low=2)
    channels = check_int(channels, "channels", caller=caller, low=1)
    check_choice(layout, "layout", ("NHWC", "NCHW"), caller=caller)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise InputError(f"{caller}: dtype must be a floating type, got {dtype}")

    rng, rng_boundary, rng_latents = _streams(seed)
    modes = _grating_modes((h, w_), d, rng, caller)
    colors = rng.standard_normal((d, channels))
    colors /= np.linalg.norm(colors, axis=1, keepdims=True)
    labeller = _Boundary(boundary, d, n_cells, rng_boundary)
    z, y = _sample_latents(n, labeller, d, margin, rng_latents, caller)

    rows, cols = np.mgrid[0:h, 0:w_]
    phase0 = 2 * np.pi * (modes[:, 0, None, None] * rows / h + modes[:, 1, None, None] * cols / w_)
    amp = 0.5 / d
    X = np.empty((n, channels, h, w_), dtype=dtype)
    block = max(1, (32 << 20) // (8 * d * h * w_))
    for start in range(0, n, block):
        zb = z[start:start + block]
        waves = np.sin(phase0[None] + np.pi * zb[:, :, None, None])  # (b, d, H, W)
        X[start:start + block] = 0.5 + amp * np.einsum("jc,bjhw->bchw", colors, waves)
    # Rounding to the storage type may step a hair outside [0, 1].
    np.clip(X, 0.0, 1.0, out=X)
    if layout == "NHWC":
        X = np.ascontiguousarray(X.transpose(0, 2, 3, 1))
        if channels == 1:
            X = X[..., 0]
    dmin = min_class_distance(X, y)
    rho = np.sqrt(h * w_ / 2.0)
    meta = {
        "source": "synthetic:manifold_images",
        "generator": "gratings",
        "intrinsic_dim": d,
        "intensity_range": [0.0, 1.0],
        "label_sharpness": 1.0 / dmin,
        "min_class_distance": dmin,
        "margin": margin,
        "manifold_gap": 2 * margin * np.pi * amp * rho,
        "image_size": [h, w_],
        "channels": channels,
        "layout": layout,
        "seed": seed,
        "class_names": ["0", "1"],
        "latents": z,
        **labeller.meta(),
        "frequencies": modes,
        "colors": colors,
    }
    name = f"synthetic:manifold_images(d={d},size={h}x{w_},c={channels},seed={seed})"
    return Dataset(X, y, name, meta)


def manifold_points(
    n: int,
    intrinsic_dim: int,
    ambient_dim: int,
    seed: int = 0,
    *,
    margin: float = 0.1,
    boundary: str = "linear",
    n_cells: int = 16,
    embedding: str = "auto",
    dtype: Any = np.float64,
) -> Dataset:
    """Vectors of known intrinsic dimension and label sharpness.

    Latents and labels (``margin``, ``boundary``, ``n_cells``) as in
    :func:`manifold_images`. ``embedding="curved"`` maps z to
    ``Q·φ(z)`` with ``φ(z) = (cos π z_j, sin π z_j)_j / π`` ∈ R^{2d} and Q a random
    ``ambient_dim × 2d`` matrix with orthonormal columns: an isometry of the unit cube
    [0, 1]^d (distances along the manifold equal latent distances) onto a curved
    d-manifold; it needs ``ambient_dim ≥ 2d``. ``"linear"`` maps z to ``Q·z`` (a flat cube,
    ``ambient_dim ≥ d``). ``"auto"`` picks ``"curved"`` when it fits.

    Returns a :class:`Dataset` with ``X`` (n, ambient_dim), ``y`` in {0, 1} and ``meta`` as
    for :func:`manifold_images` (``label_sharpness`` exact for the sample).
    """
    caller = "manifold_points"
    n, d, margin, n_cells = _check_common(n, intrinsic_dim, margin, boundary, n_cells, caller)
    D = check_int(ambient_dim, "ambient_dim", caller=caller, low=d)
    check_choice(embedding, "embedding", ("auto", "curved", "linear"), caller=caller)
    if embedding == "auto":
        embedding = "curved" if D >= 2 * d else "linear"
    if embedding == "curved" and D < 2 * d:
        raise InputError(f"{caller}: embedding='curved' needs ambient_dim >= 2*intrinsic_dim "
                         f"= {2 * d}, got {D}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise InputError(f"{caller}: dtype must be a floating type, got {dtype}")
    rng, rng_boundary, rng_latents = _streams(seed)
    k = 2 * d if embedding == "curved" else d
    Q, _ = np.linalg.qr(rng.standard_normal((D, k)))
    labeller = _Boundary(boundary, d, n_cells, rng_boundary)
    z, y = _sample_latents(n, labeller, d, margin, rng_latents, caller)
    if embedding == "curved":
        phi = np.concatenate([np.cos(np.pi * z), np.sin(np.pi * z)], axis=1) / np.pi
    else:
        phi = z
    X = (phi @ Q.T).astype(dtype)
    dmin = min_class_distance(X, y)
    meta = {
        "source": "synthetic:manifold_points",
        "embedding": embedding,
        "intrinsic_dim": d,
        "ambient_dim": D,
        "label_sharpness": 1.0 / dmin,
        "min_class_distance": dmin,
        "margin": margin,
        "manifold_gap": 2 * margin,
        "seed": seed,
        "class_names": ["0", "1"],
        "latents": z,
        **labeller.meta(),
    }
    name = f"synthetic:manifold_points(d={d},D={D},{embedding},seed={seed})"
    return Dataset(X, y, name, meta)
