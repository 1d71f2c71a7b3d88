"""MPII dataset with explicit checks of its input files and records."""
import os.path as osp
from typing import List, Tuple

import numpy as np
from mmpose.datasets import MpiiDataset
from mmpose.registry import DATASETS

from .validation import (SkippedRecords, check_joint_count,
                         load_json_annotations, nonfinite_labelled,
                         require_file)


def joints_to_zero_based(instance_list: List[dict]) -> None:
    """MPII's 1-based (MATLAB) joint coordinates to 0-based pixels, in place.

    MMPose 1.3.2's ``MpiiDataset`` converts the box centre (``center - 1``)
    but keeps the joints 1-based, so its labels sit 1 px right of and below
    the joints in the image. Inside the pipelines, the model and the outputs
    this project uses 0-based pixels with pixel centres at integers (the
    frame of OpenCV's and MMPose's affine transforms); the MPII datasets
    convert the joints once, here.
    """
    for inst in instance_list:
        kpt = np.asarray(inst['keypoints'], dtype=np.float32)
        labelled = np.asarray(inst['keypoints_visible']).reshape(
            kpt.shape[:-1]) > 0
        # unlabelled joints keep their placeholder (no position to convert)
        inst['keypoints'] = np.where(labelled[..., None], kpt - 1., kpt)


def _mpii_metainfo() -> dict:
    """MPII metainfo by absolute path (no 'file does not exist' warning when
    MMPose is installed as a package)."""
    import mmpose
    path = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_', 'datasets',
        'mpii.py')
    return dict(
        from_file=path) if osp.isfile(path) else dict(MpiiDataset.METAINFO)


@DATASETS.register_module()
class SafeMpiiDataset(MpiiDataset):
    """:class:`mmpose.datasets.MpiiDataset` that checks its input first.

    Same arguments and output as ``MpiiDataset``. Before MMPose parses the
    file it checks, and reports with the file name and the record index:

    * a missing annotation or head-box file, a corrupt JSON, a record without
      ``joints``/``joints_vis``/``center``/``scale``, a record whose image
      name is not a number (MMPose takes ``img_id`` from it), a record whose
      joint
      count differs from the metainfo's (16 for MPII), a head-box file whose
      ``headboxes_src`` does not hold one box per record, and an empty split
      raise an error;
    * NaN/inf coordinates of a labelled joint, a non-positive or non-finite
      ``scale`` (zero-size box), no labelled joint, or (with a head-box file)
      a zero-size head box skip the record with one counted
      :class:`~sadinet_mmpose.datasets.validation.BadAnnotationWarning`.
      Skipped record indices are kept in ``self.skipped_records``.

    NaN coordinates of *unlabelled* joints are set to 0. Joints are
    converted from MPII's 1-based frame to 0-based pixels
    (:func:`joints_to_zero_based`; the box centre is converted by MMPose).
    """

    METAINFO: dict = _mpii_metainfo()

    @classmethod
    def _load_metainfo(cls, metainfo: dict = None) -> dict:
        """MMPose's metainfo plus ``keypoint_frame='0-based'`` and this
        class's name, which the MPII metrics check."""
        from ..evaluation.metrics.frame_guard import mark_zero_based
        return mark_zero_based(super()._load_metainfo(metainfo), cls.__name__)

    def _check_records(self) -> Tuple[SkippedRecords, int]:
        anns = load_json_annotations(self.ann_file,
                                     f'{type(self).__name__} annotation file')
        if not isinstance(anns, list):
            raise ValueError(f'{self.ann_file}: expected a JSON list of MPII '
                             'records')
        if not anns:
            raise ValueError(f'{self.ann_file}: no record (empty split)')
        num_keypoints = self.metainfo['num_keypoints']
        skipped = SkippedRecords(self.ann_file)
        for idx, ann in enumerate(anns):
            missing = [
                k for k in ('image', 'joints', 'joints_vis', 'center', 'scale')
                if k not in ann
            ]
            if missing:
                raise ValueError(f'{self.ann_file}: record {idx} lacks the '
                                 f'key(s) {missing}')
            try:  # MpiiDataset: img_id = int(name before the first '.')
                int(str(ann['image']).split('.')[0])
            except ValueError:
                raise ValueError(
                    f'{self.ann_file}: record {idx} has image '
                    f'{ann["image"]!r}, but MpiiDataset takes the image id '
                    'from the file name, which must be a number (as '
                    "'015601864.jpg')") from None
            joints = np.asarray(ann['joints'], dtype=np.float64)
            check_joint_count(joints, num_keypoints, self.ann_file, idx,
                              ann['image'])
            vis = np.asarray(ann['joints_vis']).reshape(-1)
            if vis.shape[0] != num_keypoints:
                raise ValueError(
                    f'{self.ann_file}: record {idx} (image {ann["image"]!r}) '
                    f'has {vis.shape[0]} visibility flags, expected '
                    f'{num_keypoints}')
            scale = np.asarray(ann['scale'], dtype=np.float64)
            center = np.asarray(ann['center'], dtype=np.float64)
            if nonfinite_labelled(joints, vis):
                skipped.add(idx, 'NaN/inf coordinates of a labelled joint')
            elif not np.any(vis > 0):
                skipped.add(idx, 'no labelled joint')
            elif not (np.all(np.isfinite(scale)) and np.all(scale > 0)
                      and np.all(np.isfinite(center))):
                skipped.add(idx, 'zero-size or non-finite box (scale/center)')
        if self.headbox_file:
            from scipy.io import loadmat
            require_file(self.headbox_file, 'head-box file (headbox_file)')
            try:
                boxes = loadmat(self.headbox_file)['headboxes_src']
            except Exception as e:
                raise ValueError(f'{self.headbox_file}: cannot read '
                                 f"'headboxes_src' ({e})") from e
            if boxes.ndim != 3 or boxes.shape[:2] != (2, 2) or \
                    boxes.shape[2] != len(anns):
                raise ValueError(
                    f'{self.headbox_file}: headboxes_src has shape '
                    f'{boxes.shape}, expected (2, 2, {len(anns)}) (one head '
                    f'box per record of {self.ann_file})')
            sizes = np.linalg.norm(boxes[1] - boxes[0], axis=0)
            for idx in np.flatnonzero(~(np.isfinite(sizes) & (sizes > 0))):
                if idx not in skipped.indices:
                    skipped.add(idx, 'zero-size or non-finite head box')
        return skipped, len(anns)

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        """Check the input, let MMPose parse it, then drop the bad records.

        Returns:
            tuple: ``instance_list`` and ``image_list`` as in MMPose.
        """
        skipped, num = self._check_records()
        instance_list, image_list = super()._load_annotations()
        bad = set(skipped.indices)
        # MpiiDataset makes one instance per record, in order: id == index
        kept = [inst for inst in instance_list if inst['id'] not in bad]
        joints_to_zero_based(kept)
        for inst in kept:
            kpt = inst['keypoints']
            kpt[~np.isfinite(kpt).all(-1)] = 0.
        skipped.warn()
        self.skipped_records = skipped.as_dict()
        # the evaluators see the count (dataset_meta) and report it with the
        # metrics, where the warning above is easy to miss among the logs
        self._metainfo['skipped_records'] = int(skipped.count)
        if not kept:
            raise ValueError(f'{self.ann_file}: no usable record ({num} in '
                             f'the file, {skipped.count} skipped)')
        used = {inst['img_id'] for inst in kept}
        image_list = [img for img in image_list if img['img_id'] in used]
        return kept, image_list
