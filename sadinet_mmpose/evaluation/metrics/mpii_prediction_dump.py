"""Write MPII predictions in the layout the MPII evaluation code reads."""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

#: MPII's joint ids 0..15 (``annopoints.point.id`` of the MPII release and
#: the ``j - 1`` of the evaluation's ``prepareTestResults.m``), named as in
#: MMPose's ``configs/_base_/datasets/mpii.py``.
MPII_JOINT_ORDER = ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
                    'left_knee', 'left_ankle', 'pelvis', 'thorax',
                    'upper_neck', 'head_top', 'right_wrist', 'right_elbow',
                    'right_shoulder', 'left_shoulder', 'left_elbow',
                    'left_wrist')


@METRICS.register_module()
class MpiiPredictionDump(BaseMetric):
    """Save the predicted joints of an MPII split to a ``.mat`` file.

    For the MPII test split, whose annotations carry no joints: the file is
    what the MPII benchmark's evaluation scripts take (``preds``, see
    ``docs/data.md`` for the source). It holds one variable, ``preds``, of
    shape (N, 16, 2), float64:

    - row ``n`` is record ``n`` of the annotation file (the data sample's
      ``id``; MMPose's ``MpiiDataset`` numbers the records in file order),
      so the file follows the order of the test annotations;
    - column ``j`` is MPII joint id ``j`` (:data:`MPII_JOINT_ORDER`);
    - ``[..., 0]`` is x, ``[..., 1]`` is y, in MPII's 1-based (MATLAB) pixel
      coordinates: MMPose's prediction plus ``index_offset``.

    ``index_offset=1.0`` (default) is what MMPose's ``MpiiPCKAccuracy`` adds
    before comparing with the ground truth, so PCKh computed from this file
    on the validation split equals MMPose's validation PCKh.

    No score is computed; ``compute_metrics`` returns ``num_predictions``.
    Checks (one-line errors naming the config key): the dataset must be
    MPII with 16 joints in MPII's order (when the evaluator is built, before
    any image is processed), every data sample must carry ``id`` (the first
    batch), and the ids must be exactly 0..N-1 (N = the dataset's
    ``num_records`` when it gives one, as
    :class:`~sadinet_mmpose.datasets.MpiiTestDataset` does): a missing or
    repeated record would misalign the whole file.

    Note:
        - N: number of records (persons) in the split

    Args:
        out_file (str): Path of the ``.mat`` file (folders are created).
        index_offset (float): Added to MMPose's 0-based predictions.
            Defaults to 1.0.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None
            ('MPII').
    """

    default_prefix: Optional[str] = 'MPII'

    def __init__(self,
                 out_file: str,
                 index_offset: float = 1.0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not isinstance(out_file, str) or not out_file.endswith('.mat'):
            raise ValueError(
                'test_evaluator.out_file (MpiiPredictionDump) must be a path '
                f'ending in .mat, got {out_file!r}')
        self.out_file = out_file
        self.index_offset = float(index_offset)
        self._num_records = None

    @property
    def dataset_meta(self) -> Optional[dict]:
        """dict: The dataset's metainfo; checked when set."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict) -> None:
        meta = meta or {}
        id2name = meta.get('keypoint_id2name') or {}
        names = [id2name[k] for k in sorted(id2name)]
        if (meta.get('num_keypoints') != len(MPII_JOINT_ORDER)
                or tuple(names) != MPII_JOINT_ORDER):
            raise ValueError(
                'test_evaluator (MpiiPredictionDump) writes MPII\'s 16 '
                'joints, but test_dataloader.dataset gives '
                f"{meta.get('dataset_name', '?')!r} with "
                f"{meta.get('num_keypoints', '?')} keypoints {names[:3]}...; "
                'use an MPII dataset (MpiiTestDataset for the test split)')
        self._num_records = meta.get('num_records')
        self._dataset_meta = meta

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """Keep the record id and the (1, 16, 2) prediction of each sample.

        Args:
            data_batch (Sequence[dict]): The batch (unused).
            data_samples (Sequence[dict]): Outputs of the model as dicts,
                with ``id`` and ``pred_instances.keypoints`` in image pixels.
        """
        for sample in data_samples:
            if 'id' not in sample:
                raise KeyError(
                    'test_evaluator (MpiiPredictionDump) orders the '
                    "predictions by the record index 'id', which the data "
                    "samples lack: keep 'id' in PackPoseInputs' meta_keys "
                    '(test_dataloader.dataset.pipeline)')
            kpts = np.asarray(sample['pred_instances']['keypoints'],
                              dtype=np.float64)
            if kpts.ndim != 3 or kpts.shape[0] != 1 or kpts.shape[1:] != (
                    len(MPII_JOINT_ORDER), 2):
                raise ValueError(
                    'MpiiPredictionDump: expected one person with (1, 16, 2) '
                    f'keypoints per data sample, got {kpts.shape} for '
                    f"record {sample['id']}")
            self.results.append(dict(id=int(sample['id']), keypoints=kpts[0]))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Write the file.

        Args:
            results (list): ``dict(id, keypoints (16, 2))`` per sample.

        Returns:
            dict: ``num_predictions`` (N).
        """
        ids = np.array([r['id'] for r in results], dtype=np.int64)
        order = np.argsort(ids, kind='stable')
        ids = ids[order]
        n = self._num_records if self._num_records is not None else (
            int(ids[-1]) + 1 if len(ids) else 0)
        repeated = np.unique(ids[1:][ids[1:] == ids[:-1]])
        missing = np.setdiff1d(np.arange(n), ids)
        extra = ids[(ids < 0) | (ids >= n)]
        if len(repeated) or len(missing) or len(extra) or n == 0:
            raise ValueError(
                f'MpiiPredictionDump: the predictions file needs exactly one '
                f'prediction per record 0..{n - 1}; got {len(ids)} with '
                f'missing ids {missing[:5].tolist()}, repeated ids '
                f'{repeated[:5].tolist()}, ids out of range '
                f'{extra[:5].tolist()} (a dataset that skips records, or a '
                'sampler that repeats them, misaligns the file)')
        preds = np.stack([results[i]['keypoints'] for i in order])
        preds = preds + self.index_offset
        from scipy.io import savemat
        folder = osp.dirname(osp.abspath(self.out_file))
        os.makedirs(folder, exist_ok=True)
        savemat(self.out_file, dict(preds=preds))
        MMLogger.get_current_instance().info(
            f'MPII predictions of {len(preds)} records written to '
            f'{self.out_file} (preds: {preds.shape}, 1-based x, y)')
        return dict(num_predictions=float(len(preds)))
