"""Is the predicted sigma a calibrated uncertainty of the returned keypoint?

The predictive distribution of a keypoint is the one its prediction states:
an axis-aligned Gaussian with per-axis std ``keypoint_sigmas`` by default,
or, where the prediction carries ``keypoint_sigma_dof`` (a calibrated
model's tail parameter), the 2-D Student t with that many degrees of
freedom and per-axis scale ``keypoint_sigmas``. Its region of probability
``p`` is the ellipse of Mahalanobis radius ``radius(p)`` (see
:func:`coverage_radius`). Errors and sigmas are divided by the person's
scale (head size, else box size), so people of every size count alike.
"""
import math
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpose.registry import METRICS
from scipy.stats import spearmanr

from ..functional.sigma_distribution import coverage_radius, log_density

#: Coverage levels reported as ``sigma_coverage_<level>``.
COVERAGE_LEVELS = (50, 80, 90, 95, 99)
#: Levels (%) reported per joint group.
GROUP_LEVELS = (50, 80, 90, 95)
#: Levels of the expected calibration error (5, 10, ..., 95).
ECE_LEVELS = tuple(range(5, 100, 5))
#: Joint groups of ``sigma_coverage_<p>_<group>``, by name fragment.
JOINT_GROUPS = (('head', ('head', 'neck', 'nose', 'eye', 'ear')),
                ('shoulder', ('shoulder', )), ('elbow', ('elbow', )),
                ('wrist', ('wrist', )), ('hip', ('hip', )), ('knee',
                                                             ('knee', )),
                ('ankle', ('ankle', )), ('torso', ('pelvis', 'thorax')))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D arrays (NaN if undefined)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float('nan')
    return float(spearmanr(a, b)[0])


def sparsification_curves(uncertainty: np.ndarray,
                          error: np.ndarray,
                          steps: int = 20):
    """Mean error of the joints kept as the most uncertain are removed.

    Args:
        uncertainty (np.ndarray): (M,) predicted uncertainty.
        error (np.ndarray): (M,) actual error.
        steps (int): Removed fractions 0, 1/steps, ..., (steps - 1)/steps.

    Returns:
        tuple: ``fractions`` (S,), the sparsification curve (S,) (the most
        uncertain removed first) and the oracle's (S,) (the largest errors
        removed first).
    """
    n = len(error)
    by_unc = error[np.argsort(-uncertainty, kind='stable')]
    by_err = np.sort(error)[::-1]
    fr, unc, ora = [], [], []
    for i in range(steps):
        start = int(round(n * i / steps))
        if start >= n:
            break
        fr.append(i / steps)
        unc.append(by_unc[start:].mean())
        ora.append(by_err[start:].mean())
    return np.array(fr), np.array(unc), np.array(ora)


def sparsification_ause(uncertainty: np.ndarray,
                        error: np.ndarray,
                        steps: int = 20) -> float:
    """Area between the sparsification curve and the oracle's.

    Removing the ``f`` most uncertain joints (``f`` = 0, 1/steps, ...,
    (steps - 1)/steps), the mean error of the rest traces the
    sparsification curve; the oracle removes the largest errors. The area
    between the two, in the units of ``error``, is 0 when the uncertainty
    ranks the errors perfectly.
    """
    if len(error) == 0:
        return float('nan')
    _, unc, ora = sparsification_curves(uncertainty, error, steps)
    return float(np.mean(unc - ora))


def coverage_curve(maha: np.ndarray, levels, dof=None) -> np.ndarray:
    """Observed coverage (percent) at each nominal level (percent).

    Args:
        maha (np.ndarray): (M,) Mahalanobis radii of the errors.
        levels (Sequence[float]): Nominal levels in percent.
        dof (np.ndarray, optional): (M,) degrees of freedom; None: Gaussian.

    Returns:
        np.ndarray: (len(levels),) percentages.
    """
    return np.array([
        100. * float((maha <= coverage_radius(p / 100., dof)).mean())
        for p in levels
    ])


def joint_groups(names: Sequence[str]) -> Dict[str, list]:
    """``{group: [joint indices]}`` of the groups some joint belongs to."""
    out = {}
    for group, frags in JOINT_GROUPS:
        idx = [
            k for k, n in enumerate(names)
            if any(f in n.lower() for f in frags)
        ]
        if idx:
            out[group] = idx
    return out


def sigma_calibration(pred: np.ndarray,
                      gt: np.ndarray,
                      sigmas: np.ndarray,
                      visible: np.ndarray,
                      scale: Optional[np.ndarray] = None,
                      dof: Optional[np.ndarray] = None,
                      joint_names: Optional[Sequence[str]] = None
                      ) -> Dict[str, float]:
    """Calibration statistics of per-joint sigmas against the actual errors.

    Note:
        - number of persons: N
        - number of keypoints: K

    Args:
        pred (np.ndarray): Predicted keypoints (N, K, 2).
        gt (np.ndarray): Ground truth (N, K, 2), same units.
        sigmas (np.ndarray): Predicted std (or t scale) per axis (N, K, 2),
            same units.
        visible (np.ndarray): Scored joints (N, K), bool.
        scale (np.ndarray, optional): Each person's scale (N,), same units
            (head size or box size). Defaults to 1 (no normalisation).
        dof (np.ndarray, optional): Degrees of freedom of a 2-D Student t,
            (N, K) or (K,); None (or inf) for the Gaussian.
        joint_names (Sequence[str], optional): K names for the per-joint and
            per-group keys. Defaults to ``joint0`` ...

    Returns:
        dict: ``sigma_coverage_<p>`` for p in 50, 80, 90, 95, 99 (percent
        of scored joints inside the predictive region of probability p),
        ``sigma_ece`` (mean |coverage - p| over p = 5, ..., 95, points),
        ``sigma_nll`` (mean negative log density of the scale-free error),
        ``sigma_sharpness`` (median scale-free 90 % radius, the geometric
        mean of the ellipse's semi-axes), ``sigma_spearman`` (mean over
        joints of the rank correlation of scale-free sigma and error),
        ``sigma_ause`` (sparsification area, scale-free error units),
        ``sigma_coverage_<p>_<group>`` per joint group for p in 50, 80,
        90, 95, ``sigma_group_worst`` (the largest |coverage - p| of those,
        points), ``sigma_num``.
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    sigmas = np.asarray(sigmas, np.float64)
    visible = np.asarray(visible, bool)
    if not (pred.shape == gt.shape == sigmas.shape and pred.ndim == 3
            and pred.shape[-1] == 2 and visible.shape == pred.shape[:2]):
        raise ValueError(
            'sigma_calibration: expected pred, gt, sigmas of one shape '
            f'(N, K, 2) and visible (N, K), got {pred.shape}, {gt.shape}, '
            f'{sigmas.shape}, {visible.shape}')
    N, K = pred.shape[:2]
    scale = (
        np.ones(N)
        if scale is None else np.asarray(scale, np.float64).reshape(N))
    if dof is not None:
        dof = np.broadcast_to(np.asarray(dof, np.float64), (N, K))
    names = list(joint_names) if joint_names is not None else [
        f'joint{k}' for k in range(K)
    ]
    err = (pred - gt) / scale[:, None, None]
    sig = np.maximum(sigmas / scale[:, None, None], 1e-12)
    maha2 = ((err / sig)**2).sum(-1)
    maha = np.sqrt(maha2)
    dist = np.linalg.norm(err, axis=-1)
    m = visible
    d = dof[m] if dof is not None else None
    out = {}
    if not m.any():
        return dict(sigma_num=0.)
    levels = sorted(set(COVERAGE_LEVELS) | set(ECE_LEVELS))
    cov = dict(zip(levels, coverage_curve(maha[m], levels, d)))
    for p in COVERAGE_LEVELS:
        out[f'sigma_coverage_{p}'] = cov[p]
    out['sigma_ece'] = float(np.mean([abs(cov[p] - p) for p in ECE_LEVELS]))
    out['sigma_nll'] = float(-log_density(maha2[m], sig[m], d).mean())
    r90 = coverage_radius(0.9, d) * np.sqrt(sig[m].prod(-1))
    out['sigma_sharpness'] = float(np.median(r90))
    rhos = []
    for k in range(K):
        rho = spearman(sig[m[:, k], k].mean(-1), dist[m[:, k], k])
        if not math.isnan(rho):
            rhos.append(rho)
    out['sigma_spearman'] = float(np.mean(rhos)) if rhos else float('nan')
    out['sigma_ause'] = sparsification_ause(sig[m].mean(-1), dist[m])
    worst = 0.
    for group, idx in joint_groups(names).items():
        mg = np.zeros_like(m)
        mg[:, idx] = m[:, idx]
        if mg.any():
            dg = dof[mg] if dof is not None else None
            for p in GROUP_LEVELS:
                c = 100. * float(
                    (maha[mg] <= coverage_radius(p / 100., dg)).mean())
                out[f'sigma_coverage_{p}_{group}'] = c
                worst = max(worst, abs(c - p))
    out['sigma_group_worst'] = worst
    out['sigma_num'] = float(m.sum())
    return out


def person_scale(gt_instances: dict) -> float:
    """The person's scale: ``head_size`` where the sample has one, else the
    longer side of its box."""
    if 'head_size' in gt_instances:
        return float(np.asarray(gt_instances['head_size']).reshape(-1)[0])
    box = np.asarray(gt_instances['bboxes']).reshape(-1, 4)[0]
    return float(max(box[2] - box[0], box[3] - box[1]))


@METRICS.register_module()
class SigmaCalibration(BaseMetric):
    """Calibration of the predicted ``keypoint_sigmas`` on a test split.

    Reads ``pred_instances.keypoints``, ``keypoint_sigmas`` (image pixels)
    and, where a calibrated model gives it, ``keypoint_sigma_dof``; the
    ground truth ``gt_instances.keypoints`` / ``keypoints_visible`` and the
    person's scale (``head_size``, else the box) of each sample; and reports
    :func:`sigma_calibration`. Samples without ``keypoint_sigmas`` (a model
    without a DLM head) raise an error naming the field.

    Args:
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None.
    """

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_instances']
            if 'keypoint_sigmas' not in pred:
                raise KeyError(
                    'SigmaCalibration: pred_instances has no keypoint_sigmas '
                    '(only models with a DLMHead predict them); remove this '
                    'metric from the evaluator for other models')
            gt = sample['gt_instances']
            vis = np.asarray(gt['keypoints_visible'])
            if vis.ndim == 3:
                vis = vis[..., 0]
            dof = pred.get('keypoint_sigma_dof')
            self.results.append(
                dict(
                    pred=np.asarray(pred['keypoints'])[0, :, :2],
                    sigmas=np.asarray(pred['keypoint_sigmas'])[0],
                    dof=None if dof is None else np.asarray(dof)[0],
                    gt=np.asarray(gt['keypoints'])[0, :, :2],
                    scale=person_scale(gt),
                    visible=vis.reshape(-1) > 0))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        names = None
        meta = self.dataset_meta or {}
        if 'keypoint_id2name' in meta:
            id2name = meta['keypoint_id2name']
            names = [id2name[k] for k in sorted(id2name)]
        dofs = [r['dof'] for r in results]
        dof = None if any(d is None for d in dofs) else np.stack(dofs)
        return sigma_calibration(
            np.stack([r['pred'] for r in results]),
            np.stack([r['gt'] for r in results]),
            np.stack([r['sigmas'] for r in results]),
            np.stack([r['visible'] for r in results]),
            scale=np.array([r['scale'] for r in results]),
            dof=dof,
            joint_names=names)


def calibration_curves(pred: np.ndarray,
                       gt: np.ndarray,
                       sigmas: np.ndarray,
                       visible: np.ndarray,
                       scale: np.ndarray,
                       dof: Optional[np.ndarray] = None) -> dict:
    """The curves behind the reliability diagram and the sparsification
    plot (arguments as :func:`sigma_calibration`).

    Returns:
        dict: ``levels`` (1, 2, ..., 99) and ``coverage`` (percent) for the
        reliability diagram; ``fractions``, ``sparsification`` and
        ``oracle`` (mean scale-free error of the joints kept).
    """
    scale = np.asarray(scale, np.float64)[:, None, None]
    err = (np.asarray(pred, np.float64) - gt) / scale
    sig = np.maximum(np.asarray(sigmas, np.float64) / scale, 1e-12)
    m = np.asarray(visible, bool)
    maha = np.sqrt(((err / sig)**2).sum(-1))[m]
    d = None if dof is None else np.broadcast_to(
        np.asarray(dof, np.float64), m.shape)[m]
    levels = np.arange(1, 100)
    fr, unc, ora = sparsification_curves(sig[m].mean(-1),
                                         np.linalg.norm(err, axis=-1)[m])
    return dict(
        levels=levels,
        coverage=coverage_curve(maha, levels, d),
        fractions=fr,
        sparsification=unc,
        oracle=ora)
