"""PCKh that also keeps each test image's normalised joint errors.

The study's paired bootstrap resamples test images, so it needs, per run,
the error of every joint of every image in the unit PCKh thresholds:
the distance between prediction and ground truth over the head size, as
MMPose's ``keypoint_pck_accuracy`` computes it (``-1`` where the joint is
not labelled). Imported by the study's evaluation process only.
"""
import json
from typing import Dict

import numpy as np
from mmpose.evaluation.functional.keypoint_eval import _calc_distances
from mmpose.registry import METRICS

from sadinet_mmpose.evaluation import MpiiPCKhAccuracy


@METRICS.register_module(force=True)
class StudyPCKhErrors(MpiiPCKhAccuracy):
    """``MpiiPCKhAccuracy`` that writes the normalised errors to a file.

    Args:
        out_file (str): JSON file for ``{"errors": (N, K) list}``, rows in
            dataset order, values rounded to 1e-4 of a head size.
        **kwargs: The arguments of ``MpiiPCKhAccuracy``.
    """

    def __init__(self, out_file: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.out_file = out_file

    def compute_metrics(self, results: list) -> Dict[str, float]:
        pred = np.concatenate([r['pred_coords'] for r in results])
        gt = np.concatenate([r['gt_coords'] for r in results])
        mask = np.concatenate([r['mask'] for r in results])
        head = np.concatenate([r['head_size'] for r in results])
        errors = _calc_distances(pred, gt, mask, head.copy()).T
        with open(self.out_file, 'w') as f:
            json.dump(dict(errors=np.round(errors, 4).tolist()), f)
        return super().compute_metrics(results)
