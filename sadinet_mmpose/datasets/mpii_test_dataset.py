"""The MPII test split: person boxes without joints, every record kept."""
import json
import os.path as osp
import tempfile
from typing import List, Tuple

import numpy as np
from mmpose.datasets import MpiiDataset
from mmpose.registry import DATASETS

from .safe_mpii_dataset import SafeMpiiDataset, joints_to_zero_based
from .validation import load_json_annotations

#: Metainfo key giving the number of records of the annotation file, which
#: :class:`~sadinet_mmpose.evaluation.MpiiPredictionDump` checks.
NUM_RECORDS_KEY = 'num_records'


@DATASETS.register_module()
class MpiiTestDataset(SafeMpiiDataset):
    """MPII records that carry a person box but (possibly) no joints.

    The MPII test annotations (``mpii_test.json`` of MMPose's MPII layout,
    ``test.json`` of HRNet) list ``image``, ``center`` and ``scale`` per
    person and no ``joints``: the results are scored by the MPII benchmark
    from a predictions file (see
    :class:`~sadinet_mmpose.evaluation.MpiiPredictionDump`). This dataset
    reads such a file with exactly :class:`mmpose.datasets.MpiiDataset`'s
    box convention (so the test crops equal those of the validation split)
    and gives every person all-zero ``keypoints`` with
    ``keypoints_visible = 0`` when the record has no joints.

    Unlike :class:`SafeMpiiDataset` it never skips a record: the predictions
    file must hold one row per record in file order, so a record that cannot
    be used (a missing key, a non-numeric image name, a zero-size or
    non-finite box) is an error naming the file and the record. The number
    of records is added to the metainfo as ``num_records``.

    Args:
        **kwargs: The arguments of :class:`mmpose.datasets.MpiiDataset`
            (``ann_file``, ``data_root``, ``data_prefix``, ``pipeline``,
            ``test_mode``, ...). ``headbox_file`` must be None: the test
            split has no head boxes.
    """

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        """Check every record, then let MMPose parse the file.

        Returns:
            tuple: ``instance_list`` and ``image_list`` as in MMPose, one
            instance per record with ``id`` = record index.
        """
        if self.headbox_file:
            raise ValueError(
                f'{type(self).__name__}: headbox_file must be None (the MPII '
                f'test split has no head boxes), got {self.headbox_file!r}')
        anns = load_json_annotations(
            self.ann_file, f'{type(self).__name__} annotation file')
        if not isinstance(anns, list) or not anns:
            raise ValueError(f'{self.ann_file}: expected a non-empty JSON '
                             'list of MPII records')
        K = self.metainfo['num_keypoints']
        filled = []
        for idx, ann in enumerate(anns):
            missing = [k for k in ('image', 'center', 'scale')
                       if k not in ann]
            if missing:
                raise ValueError(f'{self.ann_file}: record {idx} lacks the '
                                 f'key(s) {missing}')
            try:
                int(str(ann['image']).split('.')[0])
            except ValueError:
                raise ValueError(
                    f'{self.ann_file}: record {idx} has image '
                    f'{ann["image"]!r}, but MpiiDataset takes the image id '
                    'from the file name, which must be a number') from None
            scale = np.asarray(ann['scale'], dtype=np.float64)
            center = np.asarray(ann['center'], dtype=np.float64)
            if not (np.all(np.isfinite(scale)) and np.all(scale > 0)
                    and center.shape == (2, )
                    and np.all(np.isfinite(center))):
                raise ValueError(
                    f'{self.ann_file}: record {idx} (image {ann["image"]!r}) '
                    'has a zero-size or non-finite box (scale/center); a '
                    'test split keeps every record, so it cannot be skipped')
            rec = dict(ann)
            rec.setdefault('joints', [[0., 0.]] * K)
            rec.setdefault('joints_vis', [0] * K)
            filled.append(rec)
        # MpiiDataset reads the file itself: hand it the completed records
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, osp.basename(self.ann_file))
            with open(path, 'w') as f:
                json.dump(filled, f)
            ann_file, self.ann_file = self.ann_file, path
            try:
                instance_list, image_list = MpiiDataset._load_annotations(
                    self)
            finally:
                self.ann_file = ann_file
        joints_to_zero_based(instance_list)
        self.skipped_records = {}
        self._metainfo[NUM_RECORDS_KEY] = len(anns)
        return instance_list, image_list

    def _get_topdown_data_infos(self, instance_list: List[dict]) -> List[dict]:
        """Every instance, in record order.

        MMPose's filter drops instances whose keypoints are all <= 0, which
        is every record of a split without joints; the boxes were checked in
        :meth:`_load_annotations`.
        """
        return list(instance_list)
