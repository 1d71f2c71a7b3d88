"""Is the predicted sigma a calibrated uncertainty? (no anchor reports it)"""
import math
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpose.registry import METRICS
from scipy.stats import spearmanr

#: Share of a 2-D standard Gaussian within Mahalanobis radius k = 1, 2, 3.
GAUSSIAN_2D_WITHIN = {k: 100. * (1. - math.exp(-k * k / 2.)) for k in (1, 2, 3)}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D arrays (NaN if undefined)."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float('nan')
    return float(spearmanr(a, b)[0])


def sigma_calibration(pred: np.ndarray,
                      gt: np.ndarray,
                      sigmas: np.ndarray,
                      visible: np.ndarray,
                      joint_names: Optional[Sequence[str]] = None
                      ) -> Dict[str, float]:
    """Calibration statistics of per-joint sigmas against the actual errors.

    Note:
        - number of persons: N
        - number of keypoints: K

    Args:
        pred (np.ndarray): Predicted keypoints (N, K, 2).
        gt (np.ndarray): Ground truth (N, K, 2), same units.
        sigmas (np.ndarray): Predicted std per axis (N, K, 2), same units.
        visible (np.ndarray): Scored joints (N, K), bool.
        joint_names (Sequence[str], optional): K names for the per-joint
            keys. Defaults to ``joint0`` ...

    Returns:
        dict: ``sigma_spearman`` (mean over joints of the Spearman
        correlation between mean sigma and error distance; > 0 means larger
        sigmas go with larger errors), ``sigma_spearman_<joint>`` per joint,
        ``sigma_within_1``, ``sigma_within_2``, ``sigma_within_3`` (percent
        of joints whose error lies within Mahalanobis radius 1, 2, 3 of the
        predicted axis-aligned Gaussian; a calibrated one gives 39.3, 86.5
        and 98.9) and ``sigma_num`` (joints scored).
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
    K = pred.shape[1]
    names = list(joint_names) if joint_names is not None else [
        f'joint{k}' for k in range(K)
    ]
    err = pred - gt
    dist = np.linalg.norm(err, axis=-1)
    maha = np.sqrt(((err / np.maximum(sigmas, 1e-12))**2).sum(-1))
    out = {}
    rhos = []
    for k in range(K):
        m = visible[:, k]
        rho = spearman(sigmas[m, k].mean(-1), dist[m, k])
        out[f'sigma_spearman_{names[k]}'] = rho
        if not math.isnan(rho):
            rhos.append(rho)
    out['sigma_spearman'] = float(np.mean(rhos)) if rhos else float('nan')
    scored = maha[visible]
    for k in (1, 2, 3):
        out[f'sigma_within_{k}'] = (
            float(100. * (scored <= k).mean()) if scored.size else float('nan'))
    out['sigma_num'] = float(scored.size)
    return out


@METRICS.register_module()
class SigmaCalibration(BaseMetric):
    """Calibration of the predicted ``keypoint_sigmas`` on a test split.

    Reads ``pred_instances.keypoints`` and ``keypoint_sigmas`` (image pixels,
    as :class:`MSTopdownPoseEstimator` maps them) and the ground truth
    ``gt_instances.keypoints`` / ``keypoints_visible`` of each sample, and
    reports :func:`sigma_calibration`. Samples without ``keypoint_sigmas``
    (a model without a DLM head) raise an error naming the field.

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
            self.results.append(
                dict(
                    pred=np.asarray(pred['keypoints'])[0, :, :2],
                    sigmas=np.asarray(pred['keypoint_sigmas'])[0],
                    gt=np.asarray(gt['keypoints'])[0, :, :2],
                    visible=vis.reshape(-1) > 0))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        names = None
        meta = self.dataset_meta or {}
        if 'keypoint_id2name' in meta:
            id2name = meta['keypoint_id2name']
            names = [id2name[k] for k in sorted(id2name)]
        return sigma_calibration(
            np.stack([r['pred'] for r in results]),
            np.stack([r['gt'] for r in results]),
            np.stack([r['sigmas'] for r in results]),
            np.stack([r['visible'] for r in results]),
            names)
