"""Label sharpness K̂_F of a labelled dataset (Konz & Mazurowski, ICLR 2024).

K̂_F = max over pairs j ≠ k of |y_j − y_k| / ‖x_j − x_k‖₂, the empirical Lipschitz constant
of the labelling function. For class labels the numerator is 1(y_j ≠ y_k), so K̂_F is one
over the smallest distance between two differently labelled points: it is computed with
the exact neighbour engine, as query/reference searches between classes, without an N×N
matrix. For real-valued labels a tiled float32 pass bounds every pair's ratio from above
and below (rounding-error bound of the engine) and only the pairs that can still be the
maximum are recomputed exactly in float64.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from .._errors import InputError
from .._validation import check_array, check_choice, check_int, check_labels
from ..data import Dataset, slice_rows
from ..neighbors import PointSource, distance_error_bound, kneighbors, resolve_device
from ..neighbors.frame import frame_exponent, ldexp, max_abs

__all__ = ["SharpnessResult", "label_sharpness", "LABEL_KINDS", "CONFLICT_POLICIES"]

LABEL_KINDS = ("binary", "multiclass", "real")
CONFLICT_POLICIES = ("report", "drop")
_BUDGET = 192 << 20
_CANDIDATE_CAP = 1 << 22  # prune the candidate list of the real-label search beyond this


@dataclass(frozen=True, eq=False)
class SharpnessResult:
    """Label sharpness K̂_F and the pair of samples that attains it.

    Attributes
    ----------
    value : float
        K̂_F. ``inf`` when two identical samples carry different labels (see
        ``n_conflicting_duplicates``).
    label_kind : {"binary", "multiclass", "real"}
    witness : (int, int) or None
        Indices ``i < j`` into the input ``X`` of the pair attaining the maximum (for class
        labels: the closest differently labelled pair); ties go to the lexicographically
        smallest pair.
    witness_labels : (label, label)
        ``y[i]``, ``y[j]``.
    witness_distance : float
        ‖x_i − x_j‖₂ (float64).
    n_conflicting_duplicates : int
        Pairs of identical samples (distance 0) with different labels. Each makes K̂_F
        infinite; they are counted and, with ``conflicts="drop"``, removed.
    n_points : int
        Points the value was computed on (after sampling and dropping).
    sampled : bool
        Whether a random sample of the points was used (the paper's protocol).
    classes : tuple or None
        Sorted class labels (class kinds).
    pair_matrix : ndarray (C, C) or None
        K̂_F of every pair of classes (``per_class_pair=True``), NaN on the diagonal.
    pair_witness : ndarray (C, C, 2) or None
        Witness indices into ``X`` of every class pair, −1 on the diagonal.
    n_dropped : int
        Points removed by ``conflicts="drop"``.
    params : dict
        ``sample``, ``seed``, ``conflicts``.
    """

    value: float
    label_kind: str
    witness: tuple[int, int] | None
    witness_labels: tuple[Any, Any] | None
    witness_distance: float
    n_conflicting_duplicates: int
    n_points: int
    sampled: bool
    classes: tuple[Any, ...] | None = None
    pair_matrix: np.ndarray | None = None
    pair_witness: np.ndarray | None = None
    n_dropped: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["witness"] = None if self.witness is None else list(self.witness)
        out["witness_labels"] = None if self.witness_labels is None else list(
            self.witness_labels)
        out["classes"] = None if self.classes is None else list(self.classes)
        for key in ("pair_matrix", "pair_witness"):
            arr = getattr(self, key)
            out[key] = None if arr is None else arr.tolist()
        out["params"] = dict(self.params)
        return out

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        why = (f", {self.n_conflicting_duplicates} conflicting duplicate pair(s)"
               if self.n_conflicting_duplicates else "")
        return (f"K_F = {self.value:.6g} ({self.label_kind}, n={self.n_points}, witness "
                f"{self.witness} at distance {self.witness_distance:.6g}{why})")


@dataclass
class _Eval:
    """Internal: the outcome on one (sub)set, indices local to it."""

    value: float
    distance: float
    pair: tuple[int, int]
    zero_conflict: bool
    matrix: np.ndarray | None = None
    pair_witness: np.ndarray | None = None


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------
def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _flatten(X: Any) -> Any:
    ndim = getattr(X, "ndim", None)
    if ndim is not None and ndim > 2:  # (an explicit width: -1 is ambiguous for no rows)
        return X.reshape(X.shape[0], int(np.prod(X.shape[1:], dtype=np.int64)))
    return X


def _rows(X: Any, index: np.ndarray) -> Any:
    """Rows ``index`` (sorted); a contiguous run stays a view (memmaps are not loaded)."""
    if index.size and index[-1] - index[0] + 1 == index.size:
        return slice_rows(X, int(index[0]), int(index[-1]) + 1)
    if isinstance(X, torch.Tensor):
        return X[torch.as_tensor(index, device=X.device)]
    return X[index]


def _lexmin(pairs: np.ndarray) -> tuple[int, int]:
    first = np.lexsort((pairs[:, 1], pairs[:, 0]))[0]
    return int(pairs[first, 0]), int(pairs[first, 1])


def _infer_kind(y: np.ndarray, label_kind: str | None, caller: str) -> str:
    numeric = y.dtype.kind in "biuf"
    if label_kind == "real":
        if not numeric:
            raise InputError(f"{caller}: label_kind='real' needs numeric labels, got dtype "
                             f"{y.dtype}")
        return "real"
    if label_kind is None and y.dtype.kind == "f" and not np.all(y == np.round(y)):
        return "real"
    n_cls = np.unique(y).size
    if label_kind == "binary" and n_cls != 2:
        raise InputError(f"{caller}: label_kind='binary' needs exactly 2 classes, got {n_cls}")
    if label_kind is None:
        return "binary" if n_cls == 2 else "multiclass"
    return label_kind


def _identical_groups(X: Any, device: torch.device) -> np.ndarray:
    """Group id of every row; identical rows (equal float64 values) share an id.

    Rows are hashed (BLAKE2b, 128 bit) block by block, so memmaps are streamed.
    """
    src = PointSource(X, device)
    digests = np.empty(src.n, dtype="S16")
    step = max(1, (32 << 20) // max(1, 8 * src.d))
    for a in range(0, src.n, step):
        # + 0.0 maps -0.0 to 0.0: equal values, equal bytes
        block = src.raw_rows(a, min(a + step, src.n), torch.float64).cpu().numpy() + 0.0
        for r, row in enumerate(block):
            digests[a + r] = hashlib.blake2b(row.tobytes(), digest_size=16).digest()
    return np.unique(digests, return_inverse=True)[1].reshape(-1)


def _conflicts(groups: np.ndarray, codes: np.ndarray) -> tuple[int, np.ndarray]:
    """Pairs of identical rows with different labels, and a mask of the rows in such groups."""
    g_size = np.bincount(groups)
    _, gl = np.unique(np.stack([groups, codes], 1), axis=0, return_inverse=True)
    gl = gl.reshape(-1)
    gl_size = np.bincount(gl)
    gl_group = np.zeros(gl_size.size, dtype=np.int64)
    gl_group[gl] = groups
    same = np.bincount(gl_group, weights=gl_size * (gl_size - 1) / 2, minlength=g_size.size)
    conflicting = g_size * (g_size - 1) / 2 - same
    n_labels = np.bincount(gl_group, minlength=g_size.size)
    return int(round(conflicting.sum())), n_labels[groups] > 1


# ----------------------------------------------------------------------------------------
# class labels: closest differently labelled pair through the kNN engine
# ----------------------------------------------------------------------------------------
def _closest_between(X: Any, q: np.ndarray, r: np.ndarray, device: Any, budget: int | None
                     ) -> tuple[float, tuple[int, int]]:
    """Smallest distance between rows ``q`` and rows ``r`` of ``X`` and the
    lexicographically smallest (i < j) pair attaining it.

    For each query the engine returns the nearest reference with the smallest index; that
    reference also gives the query's smallest normalised pair (min, max), so the minimum
    over queries of (distance, pair) is the exact one.
    """
    opts = {} if budget is None else {"memory_budget": budget}
    knn = kneighbors(_rows(X, q), 1, reference=_rows(X, r), device=device, validate=False,
                     **opts)
    d = knn.distances[:, 0]
    m = d.min()
    tied = np.flatnonzero(d == m)
    qi, rj = q[tied], r[knn.indices[tied, 0]]
    return float(m), _lexmin(np.stack([np.minimum(qi, rj), np.maximum(qi, rj)], 1))


def _eval_classes(X: Any, codes: np.ndarray, n_cls: int, per_pair: bool, device: Any,
                  budget: int | None) -> _Eval:
    members = [np.flatnonzero(codes == c) for c in range(n_cls)]
    best: tuple[float, tuple[int, int]] | None = None
    matrix = pw = None
    if per_pair:
        matrix = np.full((n_cls, n_cls), np.nan)
        pw = np.full((n_cls, n_cls, 2), -1, dtype=np.int64)
        for a in range(n_cls):
            for b in range(a + 1, n_cls):
                d, pair = _closest_between(X, members[a], members[b], device, budget)
                matrix[a, b] = matrix[b, a] = 1.0 / d if d > 0 else math.inf
                pw[a, b] = pw[b, a] = pair
                if best is None or (d, pair) < best:
                    best = (d, pair)
    else:
        # class c against all classes after it: every differently labelled pair once
        for c in range(n_cls - 1):
            rest = np.flatnonzero(codes > c)
            d, pair = _closest_between(X, members[c], rest, device, budget)
            if best is None or (d, pair) < best:
                best = (d, pair)
    assert best is not None  # n_cls >= 2 was checked
    d, pair = best
    return _Eval(1.0 / d if d > 0 else math.inf, d, pair, d == 0, matrix, pw)


# ----------------------------------------------------------------------------------------
# real labels: tiled Lipschitz constant with float64 verification
# ----------------------------------------------------------------------------------------
def _eval_real(X: Any, y: np.ndarray, device: Any, budget: int | None, progress: bool
               ) -> _Eval:
    budget = _BUDGET if budget is None else int(budget)
    dev = resolve_device(device, X)
    src = PointSource(X, dev)
    n, d = src.n, src.d
    stream = max(1, min(4096, (budget // 4) // max(1, 8 * d)))
    mean = src.mean(stream)
    nsq = torch.empty(n, dtype=torch.float64, device=dev)
    for a in range(0, n, stream):
        c = src.centred_rows(a, min(a + stream, n), mean)
        nsq[a : a + c.shape[0]] = torch.linalg.vecdot(c, c).double()
    yt = torch.as_tensor(np.asarray(y, dtype=np.float64), device=dev)
    # two float32 row blocks (B×D) and ~10 float64 B×B temporaries within the budget
    tile = int((-8 * d + math.sqrt(64 * d * d + 320 * budget)) / 160)
    tile = max(32, min(2048, tile))
    blocks = [(a, min(a + tile, n)) for a in range(0, n, tile)]
    # Per-pair rounding bound of the float32 Gram trick, made separable with
    # (|x| + |y|)² <= 2(|x|² + |y|²): |d2_approx − d2| <= e_i + e_j, e = c·|x|² (the engine's
    # bound is homogeneous of degree one in the squared norms, so c = bound(1, 1) / 2).
    one = torch.ones((), dtype=torch.float64, device=dev)
    e_vec = nsq * (float(distance_error_bound(one, one, d)) / 2.0)
    p_hi, p_lo = nsq + e_vec, nsq - e_vec
    lower2 = 0.0  # max over the pairs seen of a certified lower bound of the squared ratio
    slack = 1.0 - 1e-12
    cand_i: list[torch.Tensor] = []
    cand_j: list[torch.Tensor] = []
    cand_u: list[torch.Tensor] = []  # certified upper bounds of the squared ratio
    n_cand = 0

    def prune() -> int:
        i, j, u = torch.cat(cand_i), torch.cat(cand_j), torch.cat(cand_u)
        keep = u >= lower2 * slack
        cand_i[:], cand_j[:], cand_u[:] = [i[keep]], [j[keep]], [u[keep]]
        return int(keep.sum())

    from tqdm.auto import tqdm

    total = len(blocks) * (len(blocks) + 1) // 2
    with tqdm(total=total, disable=not progress, desc="label sharpness", unit="tile",
              leave=False) as bar:
        for bi, (a, b) in enumerate(blocks):
            Ci = src.centred_rows(a, b, mean)
            for c, e in blocks[bi:]:
                Cj = Ci if c == a else src.centred_rows(c, e, mean)
                g = (Ci @ Cj.T).double()
                hi = torch.add(p_hi[a:b, None], p_hi[None, c:e]).add_(g, alpha=-2.0)
                lo = torch.add(p_lo[a:b, None], p_lo[None, c:e]).add_(g, alpha=-2.0)
                del g
                dy2 = torch.sub(yt[a:b, None], yt[None, c:e]).square_()
                if c == a:
                    dy2.triu_(1)  # each unordered pair once, no self-pairs
                lower2 = max(lower2, float((dy2 / hi.clamp_min_(1e-300)).max()))
                live = dy2 > 0
                if math.isinf(lower2):  # identical points with different labels
                    sel = live & (lo <= 0)
                else:
                    sel = live & (dy2 >= lo * (lower2 * slack))
                r, s = torch.nonzero(sel, as_tuple=True)
                lo_rs = lo[r, s]
                cand_i.append(r + a)
                cand_j.append(s + c)
                cand_u.append(torch.where(lo_rs > 0, dy2[r, s] / lo_rs.clamp_min(1e-300),
                                          math.inf))
                n_cand += int(r.numel())
                if n_cand > _CANDIDATE_CAP:
                    n_cand = prune()
                bar.update(1)
    prune()
    ci, cj = cand_i[0].cpu().numpy(), cand_j[0].cpu().numpy()
    # exact float64 distances of the surviving candidates (difference vectors)
    d2 = np.empty(ci.size)
    step = max(1, (budget // 2) // max(1, 16 * d))
    for s in range(0, ci.size, step):
        xi = src.raw_take(ci[s : s + step], torch.float64)
        xi.sub_(src.raw_take(cj[s : s + step], torch.float64))
        d2[s : s + step] = torch.linalg.vecdot(xi, xi).cpu().numpy()
    dy = np.abs(y[ci].astype(np.float64) - y[cj].astype(np.float64))
    with np.errstate(divide="ignore"):
        ratio = np.where(d2 > 0, dy / np.sqrt(np.where(d2 > 0, d2, 1.0)), np.inf)
    top = ratio.max()
    pair = _lexmin(np.stack([ci, cj], 1)[ratio == top])
    dist = float(np.sqrt(d2[(ci == pair[0]) & (cj == pair[1])][0]))
    return _Eval(float(top), dist, pair, not math.isfinite(top))


# ----------------------------------------------------------------------------------------
# public function
# ----------------------------------------------------------------------------------------
def label_sharpness(
    X: Any,
    y: Any = None,
    *,
    label_kind: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    per_class_pair: bool = False,
    conflicts: str = "report",
    device: Any = None,
    memory_budget: int | None = None,
    progress: bool = False,
) -> SharpnessResult:
    """Label sharpness K̂_F = max_{j≠k} |y_j − y_k| / ‖x_j − x_k‖₂ (Konz & Mazurowski 2024).

    For class labels (binary or multiclass) the numerator is 1(y_j ≠ y_k), so
    K̂_F = 1 / min{‖x_j − x_k‖₂ : y_j ≠ y_k}; binary labels are class labels whatever their
    values (use ``label_kind="real"`` for |y_j − y_k| on the raw values). For real-valued
    labels K̂_F is the empirical Lipschitz constant of the labelling. The value is exact
    over all pairs by default (equal to a float64 brute force up to rounding) and needs no
    N×N matrix. Unlike the authors' public function, which returns one over the smallest
    distance between two samples with the *same* label (its multiclass test is always true
    and its numerator is 1(y_j = y_k)), this is the paper's definition. K̂_F scales as 1/c
    when the inputs are scaled by c: compare datasets only at the same resolution, channels
    and intensity range.

    Parameters
    ----------
    X : array (N, D) or (N, ...) or Dataset
        Points (numpy array, ``np.memmap`` or torch tensor; extra dimensions such as
        (N, H, W, C) images are flattened). A :class:`~idscope.data.Dataset` supplies its
        own labels.
    y : array (N,)
        Labels: integers, strings or booleans (classes) or floats (real-valued).
    label_kind : {"binary", "multiclass", "real"}, optional
        Default: "real" for floats that are not all integers, else "binary" with two
        distinct labels and "multiclass" with more.
    sample : int, optional
        The paper's protocol: K̂_F on a seeded random sample of ``sample`` points (M = 1 000
        in the paper); all points when ``sample >= N``.
    seed : int
        Seed of the sample (``numpy.random.default_rng``).
    per_class_pair : bool
        Also compute the (C, C) matrix of K̂_F for every pair of classes (class labels).
    conflicts : {"report", "drop"}
        Identical samples with different labels (distance 0) make K̂_F infinite.
        ``"report"``: ``value`` is ``inf``, the witness is such a pair and
        ``n_conflicting_duplicates`` counts them. ``"drop"``: every sample of an identical
        group that carries more than one label is removed first (``n_dropped``), so the
        value is finite and describes the rest of the data.
    device : str or torch.device, optional
        ``"cpu"`` (default for numpy input) or ``"cuda"``.
    memory_budget : int, optional
        Working memory of the searches in bytes.
    progress : bool
        Progress bar (real-valued labels).

    Returns
    -------
    SharpnessResult

    Notes
    -----
    Class labels: with C classes, class c is searched against the classes after it (C − 1
    query/reference searches, each differently labelled pair once; with
    ``per_class_pair`` one search per pair), about N²/2·(1 − Σ p_c²) distance evaluations
    (N²/4 for two balanced classes), against N² for the full Gram matrix. Rows of a class
    that are contiguous in ``X`` (e.g. an image folder, stored class by class) are passed
    as views, so a memory-mapped ``X`` keeps streaming from disk; other selections are
    copied into memory.
    """
    caller = "label_sharpness"
    if isinstance(X, Dataset):
        if y is None:
            if X.y is None:
                raise InputError(f"{caller}: dataset {X.name!r} has no labels")
            y = X.y
        X = X.flat()
    if y is None:
        raise InputError(f"{caller}: labels y are required")
    X = check_array(_flatten(X), caller=caller, min_samples=2)
    n = int(X.shape[0])
    if hasattr(y, "detach"):
        y = y.detach().cpu().numpy()
    y = check_labels(y, n, caller=caller)
    if label_kind is not None:
        check_choice(label_kind, "label_kind", LABEL_KINDS, caller=caller)
    check_choice(conflicts, "conflicts", CONFLICT_POLICIES, caller=caller)
    seed = check_int(seed, "seed", caller=caller, low=0)
    kind = _infer_kind(y, label_kind, caller)
    if per_class_pair and kind == "real":
        raise InputError(f"{caller}: per_class_pair needs class labels, not real-valued ones")

    index = np.arange(n)
    sampled = False
    if sample is not None:
        m = check_int(sample, "sample", caller=caller, low=2)
        if m < n:
            index = np.sort(np.random.default_rng(seed).choice(n, m, replace=False))
            sampled = True
    Xs = _rows(X, index) if sampled else X
    ys = y[index]
    if kind == "real":
        ys = ys.astype(np.float64)
    classes, codes = np.unique(ys, return_inverse=True)
    codes = codes.reshape(-1)
    where = f" in the sample of {index.size}" if sampled else ""
    if classes.size < 2:
        what = "class" if kind != "real" else "value"
        raise InputError(f"{caller}: labels take a single {what} ({_py(classes[0])!r}) for all "
                         f"{index.size} points{where}; K_F needs at least two different labels")

    def evaluate(Xe: Any, ye: np.ndarray, ce: np.ndarray) -> _Eval:
        if kind == "real":
            # the kNN engine's power-of-two frame: far from 1 the float32 Gram and its bounds
            # overflow or underflow; |Δy|/‖Δx‖ scales back exactly (copies X only then)
            e = frame_exponent(max_abs(Xe, caller))
            ev = _eval_real(ldexp(Xe, -e) if e else Xe, ye, device, memory_budget, progress)
            if e:
                with np.errstate(over="ignore"):
                    ev.value, ev.distance = (float(np.ldexp(ev.value, -e)),
                                             float(np.ldexp(ev.distance, e)))
            return ev
        return _eval_classes(Xe, ce, classes.size, per_class_pair, device, memory_budget)

    ev = evaluate(Xs, ys, codes)
    n_conflict, n_dropped = 0, 0
    if ev.zero_conflict:
        dev = resolve_device(device, X)
        n_conflict, bad = _conflicts(_identical_groups(Xs, dev), codes)
        if conflicts == "drop":
            keep = np.flatnonzero(~bad)
            n_dropped = int(bad.sum())
            index, Xs, ys, codes = index[keep], _rows(Xs, keep), ys[keep], codes[keep]
            if np.unique(codes).size < 2 or index.size < 2:
                raise InputError(f"{caller}: after dropping the {n_dropped} points of "
                                 f"conflicting duplicate groups fewer than two labels remain")
            if kind != "real" and np.unique(codes).size < classes.size:
                raise InputError(f"{caller}: dropping the {n_dropped} points of conflicting "
                                 f"duplicate groups removes a whole class")
            ev = evaluate(Xs, ys, codes)

    i, j = int(index[ev.pair[0]]), int(index[ev.pair[1]])
    pw = None
    if ev.pair_witness is not None:
        pw = np.where(ev.pair_witness >= 0, index[np.maximum(ev.pair_witness, 0)], -1)
    return SharpnessResult(
        value=float(ev.value), label_kind=kind, witness=(i, j),
        witness_labels=(_py(y[i]), _py(y[j])), witness_distance=float(ev.distance),
        n_conflicting_duplicates=n_conflict, n_points=int(index.size), sampled=sampled,
        classes=None if kind == "real" else tuple(_py(c) for c in classes),
        pair_matrix=ev.matrix, pair_witness=pw, n_dropped=n_dropped,
        params={"sample": sample, "seed": seed, "conflicts": conflicts})
