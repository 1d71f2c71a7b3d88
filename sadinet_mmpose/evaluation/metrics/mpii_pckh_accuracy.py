"""MPII PCKh that compares predictions and ground truth in one frame."""
from typing import Dict

import numpy as np
from mmpose.evaluation.functional import keypoint_pck_accuracy
from mmpose.evaluation.metrics import MpiiPCKAccuracy
from mmpose.registry import METRICS

from .frame_guard import ZERO_BASED, guarded_dataset_meta

#: The thresholds (head sizes) whose mean PCKh is ``PCKh-AUC``.
AUC_THRESHOLDS = tuple(np.round(np.arange(1, 11) * 0.05, 2))


@METRICS.register_module()
class MpiiPCKhAccuracy(MpiiPCKAccuracy):
    """MMPose's ``MpiiPCKAccuracy`` for ground truth in 0-based pixels.

    MMPose 1.3.2's ``MpiiPCKAccuracy`` adds 1 to every prediction (to MPII's
    1-based frame) and compares it with ``gt_instances.keypoints`` as its
    ``MpiiDataset`` loads them, 1-based. The project's MPII datasets convert
    the joints to 0-based pixels on load, the frame the predictions are in,
    so this metric compares the two as they are: the same PCKh per joint
    group, ``PCK`` and ``PCK@0.1`` keys, with head-size normalisation, and
    no offset. Use it with every dataset of this project
    (``SafeMpiiDataset``, ``SyntheticMpiiDataset``).

    With the project's datasets it reports ``skipped records``, the number
    of annotation records the dataset dropped (each named in its warning).
    A dataset in MPII's 1-based frame (MMPose's ``MpiiDataset``) is refused
    when the runner hands its metainfo over, before the first iteration
    (see :mod:`.frame_guard`).

    It also reports ``PCKh-AUC``, the mean PCKh (percent) over the
    thresholds 0.05, 0.10, ..., 0.50 head sizes: a checkpoint key that keeps
    ranking models when PCKh@0.5 saturates at 100.

    Args:
        norm_item (str | Sequence[str]): As ``MpiiPCKAccuracy``. Defaults
            to ``'head'``.
        **kwargs: The arguments of ``MpiiPCKAccuracy``.
    """

    dataset_meta = guarded_dataset_meta(ZERO_BASED)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """PCKh of ``results`` in the frame they are in.

        Args:
            results (list): What :meth:`process` collected.

        Returns:
            dict: ``MpiiPCKAccuracy``'s keys.
        """
        # MpiiPCKAccuracy.compute_metrics adds 1 to the predictions: take it
        # off first, so that predictions and ground truth meet unshifted
        same_frame = [
            dict(r, pred_coords=r['pred_coords'] - 1.0) for r in results
        ]
        metrics = super().compute_metrics(same_frame)
        skipped = (self.dataset_meta or {}).get('skipped_records')
        if skipped is not None:  # the project's datasets count them
            metrics['skipped records'] = int(skipped)
        if results and 'head_size' in results[0]:
            pred = np.concatenate([r['pred_coords'] for r in results])
            gt = np.concatenate([r['gt_coords'] for r in results])
            mask = np.concatenate([r['mask'] for r in results])
            head = np.concatenate([r['head_size'] for r in results])
            metrics['PCKh-AUC'] = float(
                np.mean([
                    keypoint_pck_accuracy(pred, gt, mask, thr, head)[1]
                    for thr in AUC_THRESHOLDS
                ])) * 100.
        return metrics
