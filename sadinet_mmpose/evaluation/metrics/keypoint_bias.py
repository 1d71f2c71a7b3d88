"""Mean signed keypoint error: a bias of the coordinate chain shows here."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpose.registry import METRICS


@METRICS.register_module()
class KeypointBias(BaseMetric):
    """Mean signed error ``prediction - ground truth`` of visible joints.

    PCK hides a constant offset as long as it stays inside the threshold; a
    coordinate convention that is off (1-based labels, a flip that is not
    pixel-centre aligned) shows as a non-zero mean here. Both are taken in
    the frame the dataset gives (image pixels).

    Reports ``bias_x`` and ``bias_y`` (image pixels, mean over visible
    joints of every person), and ``bias_x_std`` / ``bias_y_std``.

    Args:
        collect_device (str): As mmengine's metrics. Defaults to 'cpu'.
        prefix (str, optional): Key prefix. Defaults to None.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """Collect the signed errors of the visible joints of a batch."""
        for ds in data_samples:
            pred = np.asarray(
                ds['pred_instances']['keypoints'], dtype=np.float64)
            gt = ds['gt_instances']
            kpt = np.asarray(gt['keypoints'], dtype=np.float64)
            vis = np.asarray(gt['keypoints_visible'], dtype=np.float64)
            vis = vis.reshape(kpt.shape[:2]) > 0
            self.results.append((pred[..., :2] - kpt[..., :2])[vis])

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Mean and spread of the collected errors (x, y)."""
        err = np.concatenate(results) if results else np.zeros((0, 2))
        if len(err) == 0:
            return dict(bias_x=float('nan'), bias_y=float('nan'))
        mean, std = err.mean(0), err.std(0)
        return dict(
            bias_x=float(mean[0]),
            bias_y=float(mean[1]),
            bias_x_std=float(std[0]),
            bias_y_std=float(std[1]))
