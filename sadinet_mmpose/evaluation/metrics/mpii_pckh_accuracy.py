"""MPII PCKh that compares predictions and ground truth in one frame."""
from typing import Dict

from mmpose.evaluation.metrics import MpiiPCKAccuracy
from mmpose.registry import METRICS


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

    Args:
        norm_item (str | Sequence[str]): As ``MpiiPCKAccuracy``. Defaults
            to ``'head'``.
        **kwargs: The arguments of ``MpiiPCKAccuracy``.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """PCKh of ``results`` in the frame they are in.

        Args:
            results (list): What :meth:`process` collected.

        Returns:
            dict: ``MpiiPCKAccuracy``'s keys.
        """
        # MpiiPCKAccuracy.compute_metrics adds 1 to the predictions: take it
        # off first, so that predictions and ground truth meet unshifted
        same_frame = [dict(r, pred_coords=r['pred_coords'] - 1.0)
                      for r in results]
        return super().compute_metrics(same_frame)
