"""Leeds Sports Pose (LSP / LSPET) dataset for MMPose."""
import os.path as osp
from typing import List, Tuple

import numpy as np
from mmpose.datasets.datasets.base import BaseCocoStyleDataset
from mmpose.registry import DATASETS

from .lsp_convert import JSON_FORMAT, ONE_BASED_FORMATS
from .validation import (SkippedRecords, check_joint_count,
                         load_json_annotations, nonfinite_labelled)

LSP_METAINFO_FILE = osp.join(
    osp.dirname(osp.abspath(__file__)), 'metainfo', 'lsp.py')


@DATASETS.register_module()
class LSPDataset(BaseCocoStyleDataset):
    """LSP and LSPET (14 joints) in the JSON made by ``tools/convert_lsp.py``.

    LSP keypoints::

        0: 'right_ankle', 1: 'right_knee', 2: 'right_hip', 3: 'left_hip',
        4: 'left_knee', 5: 'left_ankle', 6: 'right_wrist', 7: 'right_elbow',
        8: 'right_shoulder', 9: 'left_shoulder', 10: 'left_elbow',
        11: 'left_wrist', 12: 'neck', 13: 'head_top'

    Each record gives ``image``, ``joints`` (14, 2), ``joints_vis`` (14,) and
    the person box ``bbox`` ``[x1, y1, x2, y2]`` (from the joints, see
    ``docs/data.md``). Records with NaN/inf coordinates of a labelled joint,
    a zero-size box or no labelled joint are skipped with one
    :class:`~sadinet_mmpose.datasets.validation.BadAnnotationWarning`; a record
    with another number of joints, a missing file or an empty split raises.
    Skipped records are listed in ``self.skipped_records``.

    Args:
        ann_file (str): Annotation JSON, relative to ``data_root`` unless
            absolute. Defaults to ''.
        **kwargs: Everything else of
            :class:`mmpose.datasets.BaseCocoStyleDataset` (``data_root``,
            ``data_prefix=dict(img=...)``, ``pipeline``, ``test_mode``,
            ``bbox_file``, ``indices``, ...).
    """

    METAINFO: dict = dict(from_file=LSP_METAINFO_FILE)

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        """Read and check the records of ``self.ann_file``.

        Returns:
            tuple: ``instance_list`` and ``image_list`` as in MMPose.
        """
        doc = load_json_annotations(self.ann_file,
                                    f'{type(self).__name__} annotation file')
        fmt = (doc.get('info') or {}).get('format') if isinstance(
            doc, dict) else None
        if fmt in ONE_BASED_FORMATS:
            raise ValueError(
                f'{self.ann_file}: info.format is {fmt!r}, written before '
                'LSP coordinates were converted to 0-based pixels; convert '
                f'the release again (python tools/convert_lsp.py) to get '
                f'{JSON_FORMAT!r}')
        records = doc.get('annotations') if isinstance(doc, dict) else doc
        if not isinstance(records, list):
            raise ValueError(f'{self.ann_file}: expected a list of records or '
                             f'a {JSON_FORMAT} document')
        num_keypoints = self.metainfo['num_keypoints']
        skipped = SkippedRecords(self.ann_file)
        instance_list, image_list, img_ids = [], [], {}
        for idx, rec in enumerate(records):
            missing = [
                k for k in ('image', 'joints', 'joints_vis', 'bbox')
                if k not in rec
            ]
            if missing:
                raise ValueError(f'{self.ann_file}: record {idx} lacks the '
                                 f'key(s) {missing}')
            joints = np.asarray(rec['joints'], dtype=np.float32)
            check_joint_count(joints, num_keypoints, self.ann_file, idx,
                              rec['image'])
            vis = np.asarray(rec['joints_vis'], dtype=np.float32).reshape(-1)
            if vis.shape[0] != num_keypoints:
                raise ValueError(
                    f'{self.ann_file}: record {idx} (image {rec["image"]!r}) '
                    f'has {vis.shape[0]} visibility flags, expected '
                    f'{num_keypoints}')
            if nonfinite_labelled(joints, vis):
                skipped.add(idx, 'NaN/inf coordinates of a labelled joint')
                continue
            joints[~np.isfinite(joints).all(-1)] = 0.
            if not np.any(vis > 0):
                skipped.add(idx, 'no labelled joint')
                continue
            bbox = np.asarray(rec['bbox'], dtype=np.float32).reshape(1, 4)
            w, h = bbox[0, 2] - bbox[0, 0], bbox[0, 3] - bbox[0, 1]
            if not (np.isfinite(bbox).all() and w > 0 and h > 0):
                skipped.add(idx, 'zero-size or non-finite box')
                continue
            img_path = osp.join(self.data_prefix['img'], rec['image'])
            img_id = img_ids.setdefault(img_path, len(img_ids))
            if img_id == len(image_list):
                image_list.append(dict(img_id=img_id, img_path=img_path))
            instance_list.append(
                dict(
                    id=idx,
                    img_id=img_id,
                    img_path=img_path,
                    bbox=bbox,
                    bbox_score=np.ones(1, dtype=np.float32),
                    keypoints=joints.reshape(1, -1, 2),
                    keypoints_visible=vis.reshape(1, -1),
                    num_keypoints=int(np.count_nonzero(vis)),
                    area=np.array([w * h * 0.53], dtype=np.float32),
                    category_id=1,
                    source=rec.get('source', 'lsp'),
                ))
        skipped.warn()
        self.skipped_records = skipped.as_dict()
        if not instance_list:
            raise ValueError(
                f'{self.ann_file}: no usable record ({len(records)} in the '
                f'file, {skipped.count} skipped): empty split?')
        return instance_list, image_list
