"""Write MPII test predictions as the ``pred`` struct the MPII benchmark's
evaluation reads."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

#: MPII's joint ids 0..15 (``annopoints.point.id`` of the MPII release),
#: named as in MMPose's ``configs/_base_/datasets/mpii.py``.
MPII_JOINT_ORDER = ('right_ankle', 'right_knee', 'right_hip', 'left_hip',
                    'left_knee', 'left_ankle', 'pelvis', 'thorax',
                    'upper_neck', 'head_top', 'right_wrist', 'right_elbow',
                    'right_shoulder', 'left_shoulder', 'left_elbow',
                    'left_wrist')
#: The data-sample keys the dump needs (``PackPoseInputs``' ``meta_keys``).
INDEX_KEYS = ('annolist_index', 'rect_index')
#: The dataset metainfo key listing the test images.
TEST_IMAGES_KEY = 'mpii_test_images'


def _struct(shape, names):
    """An empty MATLAB struct array (numpy record array, object fields)."""
    return np.empty(shape, dtype=[(n, object) for n in names])


def build_pred_struct(images: List[dict], predictions: Dict[tuple,
                                                            np.ndarray]):
    """The ``pred`` struct array over the test images.

    Args:
        images (list): Every test image in annolist order: ``image``,
            ``num_rects`` (and ``annolist_index``).
        predictions (dict): ``(test image position, rect_index)`` (0-based
            position, 1-based rectangle) to (16, 2) x, y in MPII's 1-based
            frame.

    Returns:
        np.ndarray: (1, T) struct array with fields ``image`` (struct with
        ``name``) and ``annorect`` ((1, R) struct array with field
        ``annopoints``: a struct with ``point``, a (1, 16) struct array of
        ``x``, ``y``, ``id``, for the predicted rectangles; ``[]`` for the
        others).
    """
    pred = _struct((1, len(images)), ('image', 'annorect'))
    for t, im in enumerate(images):
        image = _struct((1, 1), ('name', ))
        image[0, 0]['name'] = str(im['image'])
        rects = _struct((1, int(im['num_rects'])), ('annopoints', ))
        for r in range(int(im['num_rects'])):
            joints = predictions.get((t, r + 1))
            if joints is None:
                rects[0, r]['annopoints'] = np.zeros((0, 0))
                continue
            point = _struct((1, len(joints)), ('x', 'y', 'id'))
            for j, (x, y) in enumerate(joints):
                point[0, j]['x'] = float(x)
                point[0, j]['y'] = float(y)
                point[0, j]['id'] = float(j)
            ap = _struct((1, 1), ('point', ))
            ap[0, 0]['point'] = point
            rects[0, r]['annopoints'] = ap
        pred[0, t]['image'] = image
        pred[0, t]['annorect'] = rects
    return pred


@METRICS.register_module()
class MpiiPredictionDump(BaseMetric):
    """Save the predicted joints of the MPII test split for the benchmark.

    Writes the MATLAB file the MPII evaluation (``evaluatePCKh.m``) loads as
    ``pred_keypoints_mpii.mat``: one variable, ``pred``, a struct array with
    one entry per test image of the release's annolist
    (``RELEASE.img_train == 0``, annolist order), whose
    ``annorect(r).annopoints.point`` holds, for every single-person
    rectangle ``r`` of the test annotations, 16 points with ``x``, ``y`` in
    MPII's 1-based pixel frame (MMPose's 0-based prediction plus
    ``index_offset``) and ``id`` 0..15 (:data:`MPII_JOINT_ORDER`). The other
    rectangles are kept (the evaluation flattens ``pred`` by rectangle) with
    empty ``annopoints``.

    It needs what ``tools/convert_mpii_test.py`` writes from the official
    release: the records' ``annolist_index`` and ``rect_index`` in the data
    samples (:class:`~sadinet_mmpose.datasets.MpiiTestDataset` gives them;
    list them in ``PackPoseInputs``' ``meta_keys``) and the test images
    (``MpiiTestDataset(images_file=...)``, given to the metric as the
    dataset metainfo ``mpii_test_images``). No score is computed;
    ``compute_metrics`` returns ``num_predictions``.

    Checks (one-line errors naming the config key): an MPII dataset with 16
    joints in MPII's order and a test-images list (when the evaluator is
    built, before any image); the index keys in the samples (first batch);
    exactly one prediction per record (N = the dataset's ``num_records``),
    each on a rectangle of a listed test image.

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
        self._images = None

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
        if not meta.get(TEST_IMAGES_KEY):
            raise ValueError(
                'test_evaluator (MpiiPredictionDump) writes pred over every '
                'MPII test image, but test_dataloader.dataset gives no '
                f'{TEST_IMAGES_KEY}: use MpiiTestDataset with images_file='
                "'annotations/mpii_test_images.json' "
                '(tools/convert_mpii_test.py writes it)')
        self._num_records = meta.get('num_records')
        self._images = meta[TEST_IMAGES_KEY]
        self._dataset_meta = meta

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """Keep the indices and the (1, 16, 2) prediction of each sample.

        Args:
            data_batch (Sequence[dict]): The batch (unused).
            data_samples (Sequence[dict]): Outputs of the model as dicts,
                with ``annolist_index``, ``rect_index`` and
                ``pred_instances.keypoints`` in image pixels.
        """
        for sample in data_samples:
            missing = [k for k in INDEX_KEYS if k not in sample]
            if missing:
                raise KeyError(
                    'test_evaluator (MpiiPredictionDump) places each '
                    f'prediction by {list(INDEX_KEYS)}, which the data '
                    f'samples lack ({missing}): annotations from '
                    "tools/convert_mpii_test.py, and the keys in "
                    "PackPoseInputs' meta_keys "
                    '(test_dataloader.dataset.pipeline)')
            kpts = np.asarray(
                sample['pred_instances']['keypoints'], dtype=np.float64)
            if kpts.ndim != 3 or kpts.shape[0] != 1 or kpts.shape[1:] != (
                    len(MPII_JOINT_ORDER), 2):
                raise ValueError(
                    'MpiiPredictionDump: expected one person with (1, 16, 2) '
                    f'keypoints per data sample, got {kpts.shape} for '
                    f'annolist_index {sample["annolist_index"]}')
            self.results.append(
                dict(
                    annolist_index=int(sample['annolist_index']),
                    rect_index=int(sample['rect_index']),
                    keypoints=kpts[0]))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Check the predictions against the test images; write the file.

        Args:
            results (list): ``dict(annolist_index, rect_index, keypoints)``
                per sample.

        Returns:
            dict: ``num_predictions`` (N).
        """
        position = {
            int(im['annolist_index']): t
            for t, im in enumerate(self._images)
        }
        predictions, problems = {}, []
        for r in results:
            key = (r['annolist_index'], r['rect_index'])
            t = position.get(key[0])
            if t is None:
                problems.append(f'annolist_index {key[0]} is not a listed '
                                'test image')
            elif not 1 <= key[1] <= int(self._images[t]['num_rects']):
                problems.append(f'annolist_index {key[0]} has no rectangle '
                                f'{key[1]}')
            elif (t, key[1]) in predictions:
                problems.append(f'{key} predicted twice')
            else:
                predictions[(t, key[1])] = r['keypoints'] + self.index_offset
        n = self._num_records
        if n is not None and len(predictions) != n:
            problems.append(f'{len(predictions)} predictions for {n} '
                            'records')
        if problems or not predictions:
            raise ValueError(
                'MpiiPredictionDump: the predictions file needs exactly one '
                'prediction per record of the test annotations, each on a '
                f'rectangle of a test image; {"; ".join(problems[:5])}'
                f'{" ..." if len(problems) > 5 else ""} (a dataset that '
                'skips records, or a sampler that repeats them, misaligns '
                'the file)')
        from scipy.io import savemat
        os.makedirs(osp.dirname(osp.abspath(self.out_file)), exist_ok=True)
        savemat(self.out_file,
                dict(pred=build_pred_struct(self._images, predictions)))
        MMLogger.get_current_instance().info(
            f'MPII predictions of {len(predictions)} persons on '
            f'{len(self._images)} test images written to {self.out_file} '
            '(pred, 1-based x, y)')
        return dict(num_predictions=float(len(predictions)))
