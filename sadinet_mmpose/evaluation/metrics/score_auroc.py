"""How well does a keypoint's score tell a correct joint from a wrong one?"""
from typing import Dict, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpose.registry import METRICS

from .sigma_calibration import person_scale


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the binary ``labels``
    (the Mann-Whitney statistic, ties counted half); NaN without both
    classes."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float('nan')
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, start, counts = np.unique(sorted_scores, return_index=True,
                                 return_counts=True)
    avg = start + (counts - 1) / 2. + 1.
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2.) / (pos * neg))


@METRICS.register_module()
class KeypointScoreAUROC(BaseMetric):
    """AUROC of ``keypoint_scores`` for "the joint is correct at PCKh@tau".

    A joint is correct when its error is below ``tau`` times the person's
    scale (the head size where the sample has one, else the box's longer
    side); every visible joint of every person counts once.

    Args:
        thresholds (Sequence[float]): The taus. Defaults to (0.5, 0.1).
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None.

    Returns (``compute_metrics``):
        dict: ``score_auroc@<tau>`` per tau and ``score_correct@<tau>`` (the
        share of correct joints, percent).
    """

    def __init__(self, thresholds: Sequence[float] = (0.5, 0.1), **kwargs):
        super().__init__(**kwargs)
        self.thresholds = tuple(float(t) for t in thresholds)

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            pred, gt = sample['pred_instances'], sample['gt_instances']
            vis = np.asarray(gt['keypoints_visible'])
            vis = vis[..., 0] if vis.ndim == 3 else vis
            err = np.linalg.norm(
                np.asarray(pred['keypoints'])[0, :, :2] -
                np.asarray(gt['keypoints'])[0, :, :2], axis=-1)
            self.results.append(dict(
                score=np.asarray(pred['keypoint_scores']).reshape(-1),
                err=err / person_scale(gt), visible=vis.reshape(-1) > 0))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        vis = np.concatenate([r['visible'] for r in results])
        err = np.concatenate([r['err'] for r in results])[vis]
        score = np.concatenate([r['score'] for r in results])[vis]
        out = {}
        for tau in self.thresholds:
            correct = err < tau
            out[f'score_auroc@{tau:g}'] = auroc(score, correct)
            out[f'score_correct@{tau:g}'] = 100. * float(correct.mean())
        return out
