"""The MPII test split: person boxes without joints, every record kept."""
import json
import os.path as osp
import tempfile
from typing import List, Optional, Tuple

import numpy as np
from mmpose.datasets import MpiiDataset
from mmpose.registry import DATASETS

from .mpii_convert import load_test_images
from .safe_mpii_dataset import SafeMpiiDataset, joints_to_zero_based
from .validation import load_json_annotations

#: Metainfo key giving the number of records of the annotation file, which
#: :class:`~sadinet_mmpose.evaluation.MpiiPredictionDump` checks.
NUM_RECORDS_KEY = 'num_records'
#: Metainfo key of the test images (annolist index, name, rectangles) that
#: :class:`~sadinet_mmpose.evaluation.MpiiPredictionDump` writes ``pred``
#: over.
TEST_IMAGES_KEY = 'mpii_test_images'
#: Record keys passed to the data samples (add them to ``PackPoseInputs``'
#: ``meta_keys``): MATLAB's 1-based indices into ``RELEASE.annolist`` and
#: its ``annorect``.
INDEX_KEYS = ('annolist_index', 'rect_index')


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
    file needs a prediction for every record, so a record that cannot be
    used (a missing key, a non-numeric image name, a zero-size or
    non-finite box) is an error naming the file and the record. The number
    of records is added to the metainfo as ``num_records``.

    Annotations written by ``tools/convert_mpii_test.py`` from the official
    release also carry each record's ``annolist_index`` and ``rect_index``
    (1-based); the dataset gives them to every instance, so that the data
    samples carry them when ``PackPoseInputs``' ``meta_keys`` list them.
    ``images_file`` (the converter's ``mpii_test_images.json``) lists all
    test images of the release; its list goes to the metainfo as
    ``mpii_test_images`` for the predictions file.

    Args:
        images_file (str, optional): ``mpii_test_images.json``, relative
            to ``data_root`` unless absolute. Defaults to None.
        **kwargs: The arguments of :class:`mmpose.datasets.MpiiDataset`
            (``ann_file``, ``data_root``, ``data_prefix``, ``pipeline``,
            ``test_mode``, ...). ``headbox_file`` must be None: the test
            split has no head boxes.
    """

    def __init__(self, images_file: Optional[str] = None, **kwargs) -> None:
        self.images_file = images_file
        super().__init__(**kwargs)

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
        anns = load_json_annotations(self.ann_file,
                                     f'{type(self).__name__} annotation file')
        if not isinstance(anns, list) or not anns:
            raise ValueError(f'{self.ann_file}: expected a non-empty JSON '
                             'list of MPII records')
        K = self.metainfo['num_keypoints']
        filled = []
        for idx, ann in enumerate(anns):
            missing = [k for k in ('image', 'center', 'scale') if k not in ann]
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
                    and center.shape == (2, ) and np.all(np.isfinite(center))):
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
                instance_list, image_list = MpiiDataset._load_annotations(self)
            finally:
                self.ann_file = ann_file
        joints_to_zero_based(instance_list)
        self._add_indices(anns, instance_list)
        self.skipped_records = {}
        self._metainfo[NUM_RECORDS_KEY] = len(anns)
        if self.images_file:
            path = self.images_file
            if self.data_root and not osp.isabs(path):
                path = osp.join(self.data_root, path)
            self._metainfo[TEST_IMAGES_KEY] = load_test_images(path)
        return instance_list, image_list

    def _add_indices(self, anns: List[dict],
                     instance_list: List[dict]) -> None:
        """Copy ``annolist_index`` / ``rect_index`` onto the instances."""
        have = [all(k in a for k in INDEX_KEYS) for a in anns]
        if not any(have):
            return
        if not all(have):
            bad = have.index(False)
            raise ValueError(
                f'{self.ann_file}: record {bad} lacks {list(INDEX_KEYS)}, '
                'which other records have (write the file with '
                'tools/convert_mpii_test.py)')
        for inst in instance_list:
            ann = anns[inst['id']]
            for k in INDEX_KEYS:
                inst[k] = int(ann[k])

    def _get_topdown_data_infos(self, instance_list: List[dict]) -> List[dict]:
        """Every instance, in record order.

        MMPose's filter drops instances whose keypoints are all <= 0, which
        is every record of a split without joints; the boxes were checked in
        :meth:`_load_annotations`.
        """
        return list(instance_list)
