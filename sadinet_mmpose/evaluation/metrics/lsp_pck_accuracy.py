"""PCK on LSP, normalised by the torso size (the paper's Table II)."""
import warnings
from typing import Dict, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

#: LSP joint indices of each reported part (Table II's columns).
LSP_PARTS = {
    'Head': (12, 13),  # neck, head top
    'Shoulder': (8, 9),
    'Elbow': (7, 10),
    'Wrist': (6, 11),
    'Hip': (2, 3),
    'Knee': (1, 4),
    'Ankle': (0, 5),
}


class ZeroTorsoWarning(UserWarning):
    """Warning category for persons excluded for lack of a torso size."""


@METRICS.register_module()
class LSPPCKAccuracy(BaseMetric):
    """PCK@thr on the 14 LSP joints, normalised by the torso size.

    Torso size: the Euclidean distance between the ground-truth *left
    shoulder* (LSP index 9) and *right hip* (index 2), as in the official LSP
    evaluation (``evalLSP``; ``norm(gt(lsho) - gt(rhip))`` in the CPM
    benchmark code). A joint is correct when ``||pred - gt|| / torso <=
    thr``: the distance is normalised first and an exact tie counts as
    correct, as in the standard evaluation code (``computePCK.m`` of the
    MPII/LSP toolkit, ``eval_pck.m`` of the LSP benchmarks:
    ``mean(dist <= range(k))`` on torso-normalised distances). MMPose's
    ``keypoint_pck_accuracy`` uses ``<`` instead, so it is not used here.
    (MMPose's ``PCKAccuracy(norm_item='torso')`` also uses joints 4 and 5,
    JHMDB's order: wrong for LSP.)

    Joints with ``keypoints_visible == 0`` are not scored (the LSP test
    split made by ``tools/convert_lsp.py`` labels all 14 joints, so all are
    scored, as in the standard protocol). A person whose torso cannot be
    measured -- torso length below ``min_torso_size`` pixels (e.g. zero), a
    non-finite torso joint or one of the two torso joints unlabelled -- is
    excluded from every score and counted in a :class:`ZeroTorsoWarning`.

    Reported (in percent, as the paper): ``Head PCK`` (neck and head top),
    ``Shoulder PCK``, ``Elbow PCK``, ``Wrist PCK``, ``Hip PCK``, ``Knee PCK``,
    ``Ankle PCK`` (each: correct / scored joints of the part, both sides
    pooled), ``PCK`` (the Mean column: correct / scored over all 14 joints)
    and ``excluded`` (number of persons without a torso size).

    Args:
        thr (float): Threshold as a fraction of the torso size. Defaults to
            0.2.
        torso_joints (tuple[int, int]): Joint indices whose distance is the
            torso size. Defaults to ``(9, 2)`` (left shoulder, right hip).
        min_torso_size (float): Smallest usable torso size in pixels.
            Defaults to 1.0.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None.
    """

    default_prefix = 'LSP'

    def __init__(self,
                 thr: float = 0.2,
                 torso_joints: Sequence[int] = (9, 2),
                 min_torso_size: float = 1.0,
                 collect_device: str = 'cpu',
                 prefix: str = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thr = float(thr)
        self.torso_joints = tuple(int(i) for i in torso_joints)
        self.min_torso_size = float(min_torso_size)

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """Store keypoints, mask and torso size of each sample.

        Args:
            data_batch (Sequence[dict]): The batch from the dataloader
                (unused).
            data_samples (Sequence[dict]): Model outputs with
                ``pred_instances.keypoints`` (1, K, 2) and ``gt_instances``
                (``keypoints`` (1, K, 2), ``keypoints_visible`` (1, K)).
        """
        a, b = self.torso_joints
        for ds in data_samples:
            pred = np.asarray(ds['pred_instances']['keypoints'])[..., :2]
            gt = ds['gt_instances']
            gt_kpt = np.asarray(gt['keypoints'])[..., :2]
            mask = np.asarray(gt['keypoints_visible']).astype(bool)
            mask = mask.reshape(gt_kpt.shape[0], -1)
            torso = np.linalg.norm(gt_kpt[:, a] - gt_kpt[:, b], axis=-1)
            usable = np.isfinite(torso) & (torso >= self.min_torso_size) & \
                mask[:, a] & mask[:, b]
            self.results.append(
                dict(
                    pred=pred,
                    gt=gt_kpt,
                    mask=mask,
                    torso=torso,
                    usable=usable))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the part PCKs and the mean.

        Args:
            results (list[dict]): The stored per-sample results.

        Returns:
            dict[str, float]: ``Head PCK`` ... ``Ankle PCK``, ``PCK`` (mean)
            in percent, and ``excluded`` (count).
        """
        logger = MMLogger.get_current_instance()
        pred = np.concatenate([r['pred'] for r in results])
        gt = np.concatenate([r['gt'] for r in results])
        mask = np.concatenate([r['mask'] for r in results])
        torso = np.concatenate([r['torso'] for r in results])
        usable = np.concatenate([r['usable'] for r in results])
        excluded = int((~usable).sum())
        if excluded:
            msg = (f'LSPPCKAccuracy: {excluded} of {len(usable)} person(s) '
                   'excluded: torso size (left shoulder - right hip) below '
                   f'{self.min_torso_size} px, non-finite or unlabelled')
            warnings.warn(msg, ZeroTorsoWarning)
            logger.warning(msg)
        mask = mask & usable[:, None]
        norm = np.where(usable, torso, 1.0).astype(np.float64)
        dist = np.linalg.norm(pred.astype(np.float64) - gt, axis=-1) / \
            norm[:, None]
        count = mask.sum(0)
        hits = ((dist <= self.thr) & mask).sum(0)
        metrics = {}
        for part, idx in LSP_PARTS.items():
            n = count[list(idx)].sum()
            metrics[f'{part} PCK'] = float(100. * hits[list(idx)].sum() /
                                           n) if n else float('nan')
        metrics['PCK'] = float(100. * hits.sum() /
                               count.sum()) if count.sum() else float('nan')
        metrics['excluded'] = excluded
        logger.info(
            'LSP PCK@%.2f (torso): %s', self.thr,
            ', '.join(f'{k} {v:.2f}' for k, v in metrics.items()
                      if k != 'excluded'))
        return metrics
