"""Statistics of the study: PCKh from per-image errors, the paired
bootstrap over seeds and test images, and the flatness of a curve."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

#: MPII joints that MMPose's PCKh mean leaves out (pelvis, thorax).
EXCLUDED_JOINTS = (6, 7)


def correct_counts(errors,
                   thr: float,
                   mask=None) -> Tuple[np.ndarray, np.ndarray]:
    """Per image: joints within ``thr`` head sizes, and joints scored.

    Args:
        errors (array-like): (N, K) normalised errors, ``-1`` where a joint
            is not labelled (as :class:`StudyPCKhErrors` writes them).
        thr (float): PCKh threshold (0.5 or 0.1).
        mask (array-like, optional): (N, K) bool, the joints to count (a
            difficulty tag's). Defaults to None (all).

    Returns:
        tuple: ``correct`` (N,) and ``scored`` (N,) joint counts, over the
        joints that MMPose's mean PCKh counts.
    """
    e = np.asarray(errors, dtype=np.float64)
    scored = _scored(e >= 0, mask)
    return ((e < thr) & scored).sum(1), scored.sum(1)


def class_counts(classes,
                 cls: int,
                 mask=None) -> Tuple[np.ndarray, np.ndarray]:
    """Per image: joints of taxonomy class ``cls``, and joints classified.

    Args:
        classes (array-like): (N, K) classes of the error taxonomy (0 good,
            1 jitter, 2 inversion, 3 swap, 4 miss; -1 not labelled).
        cls (int): The class counted.
        mask (array-like, optional): As :func:`correct_counts`.

    Returns:
        tuple: ``counts`` (N,) and ``scored`` (N,), over the joints that
        MMPose's mean PCKh counts.
    """
    c = np.asarray(classes)
    scored = _scored(c >= 0, mask)
    return ((c == cls) & scored).sum(1), scored.sum(1)


def _scored(labelled: np.ndarray, mask) -> np.ndarray:
    keep = np.ones(labelled.shape[1], bool)
    keep[list(EXCLUDED_JOINTS)] = False
    out = labelled & keep[None]
    return out if mask is None else out & np.asarray(mask, bool)


def pckh(errors, thr: float) -> float:
    """MMPose's mean ``PCK`` (or ``PCK@0.1``) of one run, in percent."""
    c, n = correct_counts(errors, thr)
    return 100. * c.sum() / max(n.sum(), 1)


def paired_bootstrap(errors_a: Sequence,
                     errors_b: Sequence,
                     thr: float,
                     n_boot: int = 2000,
                     seed: int = 0,
                     level: float = 0.95,
                     mask=None) -> Dict[str, float]:
    """Mean PCKh difference A - B with a bootstrap interval.

    Each replicate draws the test images with replacement (the same draw
    for both models: the comparison is paired on images) and, independently
    for each model, its seeds with replacement, and takes the difference of
    the seed means. The interval thus holds image-level and seed-level
    variation together.

    Args:
        errors_a (Sequence): One (N, K) error array per seed of model A.
        errors_b (Sequence): The same for model B, on the same N images.
        thr (float): PCKh threshold.
        n_boot (int): Replicates. Defaults to 2000.
        seed (int): Seed of the resampling. Defaults to 0.
        level (float): Interval coverage. Defaults to 0.95.
        mask (array-like, optional): (N, K) joints to count (a difficulty
            tag's). Defaults to None (all).

    Returns:
        dict: ``diff`` (the difference of the seed means on all images),
        ``lo``, ``hi`` (percentile interval) and ``p_le_0`` (share of
        replicates at or below 0).
    """
    return paired_bootstrap_counts(
        [correct_counts(e, thr, mask) for e in errors_a],
        [correct_counts(e, thr, mask) for e in errors_b], n_boot, seed, level)


def paired_bootstrap_counts(counts_a: Sequence,
                            counts_b: Sequence,
                            n_boot: int = 2000,
                            seed: int = 0,
                            level: float = 0.95) -> Dict[str, float]:
    """The bootstrap of :func:`paired_bootstrap` on any per-image rate.

    Args:
        counts_a (Sequence): One ``(counts, scored)`` pair of (N,) arrays
            per seed of model A (as :func:`correct_counts` and
            :func:`class_counts` give them).
        counts_b (Sequence): The same for model B.

    Returns:
        dict: As :func:`paired_bootstrap`, in percentage points of the
        rate ``counts / scored`` over all images.
    """
    rng = np.random.default_rng(seed)
    scored = counts_a[0][1]
    for _, sc in list(counts_a) + list(counts_b):
        if not np.array_equal(sc, scored):
            raise ValueError('the runs were not scored on the same test '
                             'images and joints')
    ca = np.stack([c for c, _ in counts_a])
    cb = np.stack([c for c, _ in counts_b])
    n = len(scored)
    diff = (100. * ca.sum(1) / scored.sum()).mean() - \
        (100. * cb.sum(1) / scored.sum()).mean()
    reps = np.empty(n_boot)
    for r in range(n_boot):
        img = rng.integers(0, n, n)
        sa = rng.integers(0, len(ca), len(ca))
        sb = rng.integers(0, len(cb), len(cb))
        tot = scored[img].sum()
        reps[r] = (100. * ca[sa][:, img].sum(1) / tot).mean() - \
            (100. * cb[sb][:, img].sum(1) / tot).mean()
    alpha = (1 - level) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    return dict(
        diff=float(diff),
        lo=float(lo),
        hi=float(hi),
        p_le_0=float((reps <= 0).mean()))


def verdict(interval: Dict[str, float], claim_sign: int = 1) -> str:
    """``supported`` / ``reversed`` / ``not supported`` for a claim that
    A - B has sign ``claim_sign``, from the 95 % interval."""
    lo, hi = interval['lo'] * claim_sign, interval['hi'] * claim_sign
    if lo > 0:
        return 'supported'
    if hi < 0:
        return 'reversed'
    return 'not supported'


def late_gain(curve: Sequence[Tuple[float, float]],
              share: float = 0.2) -> Optional[float]:
    """Gain of a validation curve over the last ``share`` of its training.

    Args:
        curve (Sequence): ``(iteration, value)`` points, the last one at
            the end of training.
        share (float): Final share of the iterations. Defaults to 0.2.

    Returns:
        float | None: ``value(end) - value(end * (1 - share))``, the
        earlier value linearly interpolated; None with fewer than two
        points.
    """
    pts = sorted((float(i), float(v)) for i, v in curve)
    if len(pts) < 2:
        return None
    it = np.array([p[0] for p in pts])
    val = np.array([p[1] for p in pts])
    start = it[-1] * (1 - share)
    return float(val[-1] - np.interp(start, it, val))


def gap_curve(curve_a: Sequence[Tuple[float, float]],
              curve_b: Sequence[Tuple[float, float]]):
    """A - B at the iterations both curves were scored at.

    Its :func:`late_gain` is how far the gap between two models still
    moves over the last part of training: a gap that holds while both
    curves climb ranks the models although their levels are not final.
    """
    b = dict(curve_b)
    return [(i, float(v - b[i])) for i, v in sorted(curve_a) if i in b]


def mean_curve(curves: List[Sequence[Tuple[float, float]]]):
    """Point-wise mean of curves over their common iterations."""
    common = set.intersection(*[{c[0] for c in cv} for cv in curves]) \
        if curves else set()
    out = []
    for i in sorted(common):
        vals = [v for cv in curves for j, v in cv if j == i]
        out.append((i, float(np.mean(vals))))
    return out
