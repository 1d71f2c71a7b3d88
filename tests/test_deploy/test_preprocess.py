"""The runtime's numpy pre- and post-processing against MMPose's pipeline,
data preprocessor and top-down crop."""
import cv2
import numpy as np
import pytest
import torch
from mmpose.structures.bbox import get_warp_matrix

from sadinet_mmpose.deploy.preprocess import (box_center_scale, crop,
                                              crop_to_image, normalize,
                                              warp_matrix)

import sadinet_mmpose  # noqa: F401  isort: skip


@pytest.mark.parametrize('box,size', [([10.5, 20., 140., 300.], (192, 256)),
                                      ([0., 0., 400., 90.], (64, 64)),
                                      ([-30., 50., 20., 80.], (256, 256))])
def test_crop_equals_mmpose_test_pipeline(mmpose_scope, mpii_sample_dir, box,
                                          size):
    from mmcv.transforms import Compose
    image = cv2.imread(f'{mpii_sample_dir}/images/004645041.jpg')
    pipeline = Compose([
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=size)
    ])
    res = pipeline(
        dict(
            img=image.copy(),
            bbox=np.array([box], dtype=np.float32),
            bbox_score=np.ones(1, np.float32)))
    center, scale = box_center_scale(np.array([box], np.float32), size)
    assert np.allclose(center[0], res['input_center']) and \
        np.allclose(scale[0], res['input_scale']), box
    assert np.array_equal(
        warp_matrix(center[0], scale[0], size),
        get_warp_matrix(
            res['input_center'], res['input_scale'], 0.,
            output_size=size)), box
    assert np.array_equal(crop(image, center[0], scale[0], size), res['img'])
    # and back: the crop's centre pixel is the window's centre
    back = crop_to_image(
        np.array([[[size[0] / 2, size[1] / 2]]]), center, scale, size)
    assert np.allclose(back[0, 0], center[0], atol=1e-3)


def test_normalize_equals_pose_data_preprocessor():
    from mmpose.models.data_preprocessors import PoseDataPreprocessor
    pre = PoseDataPreprocessor(
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True)
    crops = np.random.RandomState(0).randint(
        0, 256, (2, 32, 24, 3), dtype=np.uint8)
    from mmpose.structures import PoseDataSample
    ref = pre(
        dict(
            inputs=[
                torch.from_numpy(c.transpose(2, 0, 1).copy()) for c in crops
            ],
            data_samples=[PoseDataSample() for _ in crops]),
        False)['inputs'].numpy()
    got = normalize(crops,
                    pre.mean.flatten().tolist(),
                    pre.std.flatten().tolist(), True)
    assert got.dtype == np.float32 and np.allclose(got, ref, atol=1e-6)
